import Foundation

/// The outcome of reading a catalog file: a catalog when there is no error, and every finding either way.
public struct CatalogLoadResult: Sendable {
    /// The catalog read; nil when any diagnostic is an error.
    public let catalog: ModelCatalog?
    /// Errors and warnings, located in the file.
    public let diagnostics: [ConfigDiagnostic]
}

/// Reads a model catalog (YAML, or JSON, which YAML reads too) with located diagnostics.
public enum CatalogLoader {
    /// Reads and parses a file; an unreadable file is one error.
    public static func load(path: String) -> CatalogLoadResult {
        guard let data = FileManager.default.contents(atPath: path), let text = String(data: data, encoding: .utf8) else {
            let exists = FileManager.default.fileExists(atPath: path)
            return CatalogLoadResult(
                catalog: nil,
                diagnostics: [
                    ConfigDiagnostic(
                        .error, exists ? "cannot read the model catalog \(path)" : "the model catalog \(path) does not exist",
                        fix: "point model_catalog at a readable YAML or JSON file (a path relative to proxy.yaml works)")
                ])
        }
        return parse(text, path: path)
    }

    /// Parses catalog text; `path` is used in locations only.
    public static func parse(_ text: String, path: String) -> CatalogLoadResult {
        var walker = CatalogWalker(walker: ConfigWalker(file: path, strict: false))
        let root: YAMLNode?
        do {
            root = try YAMLReader.read(text)
        } catch {
            walker.walker.report(yamlError: error)
            return CatalogLoadResult(catalog: nil, diagnostics: walker.walker.diagnostics)
        }
        let catalog = walker.read(root)
        let diagnostics = walker.walker.diagnostics
        return CatalogLoadResult(
            catalog: diagnostics.contains { $0.severity == .error } ? nil : catalog, diagnostics: diagnostics)
    }
}

extension ModelCatalog {
    /// The catalog compiled into the binary (`Sources/SwitchyardCore/Catalog/model-catalog.yaml`).
    public static let shipped: ModelCatalog = {
        let text = String(decoding: PackageResources.model_catalog_yaml, as: UTF8.self)
        return CatalogLoader.parse(text, path: "model-catalog.yaml (built in)").catalog ?? ModelCatalog()
    }()

    /// The built-in catalog's problems: none, unless the shipped file was broken at build time (a test checks).
    public static var shippedDiagnostics: [ConfigDiagnostic] {
        CatalogLoader.parse(String(decoding: PackageResources.model_catalog_yaml, as: UTF8.self), path: "model-catalog.yaml")
            .diagnostics
    }
}

/// Walks a catalog's YAML nodes with the config walker's typed accessors and diagnostics.
struct CatalogWalker {
    var walker: ConfigWalker

    static let topKeys: Set<String> = ["version", "providers"]
    static let providerKeys: Set<String> = ["params", "reasoning_params", "reasoning_timeouts", "models"]
    static let modelKeys: Set<String> = [
        "reasoning", "reasoning_effort", "default_effort", "context_window", "max_output_tokens", "price", "long_prompt",
        "retired", "served_by", "served_effort", "params", "source",
    ]
    static let priceKeys: Set<String> = ["input", "cached_input", "output"]
    static let ruleKeys: Set<String> = ["action", "note", "to", "max"]
    static let timeoutKeys: Set<String> = ["connect", "first_byte", "idle", "total"]
    static let actions = ["reject", "drop", "rename", "clamp", "only_when_streaming", "pass"]

    mutating func read(_ root: YAMLNode?) -> ModelCatalog {
        guard let root, !walker.isNull(root) else {
            walker.error("the model catalog is empty", fix: "write providers: {xai: {models: {...}}}", at: nil)
            return ModelCatalog()
        }
        guard let top = walker.mapping(root, "the catalog's top level") else { return ModelCatalog() }
        walker.checkKeys(top, section: "the catalog", known: Self.topKeys, ignored: [])
        if let version = walker.value(top, "version"), let number = walker.integer(version, "version"), number != 1 {
            walker.error("this catalog's version is not 1", fix: "write version: 1", at: version)
        }
        var catalog = ModelCatalog()
        guard let providers = walker.value(top, "providers"), let sections = walker.mapping(providers, "providers") else {
            return catalog
        }
        for pair in sections {
            guard let name = walker.string(pair.key, "a provider name"), let section = readProvider(pair.value, name: name)
            else { continue }
            catalog.providers[name.lowercased()] = section
        }
        return catalog
    }

    mutating func readProvider(_ node: YAMLNode, name: String) -> ProviderCatalog? {
        let section = "providers.\(name)"
        guard let mapping = walker.mapping(node, section) else { return nil }
        walker.checkKeys(mapping, section: section, known: Self.providerKeys, ignored: [])
        var provider = ProviderCatalog()
        if let rules = walker.value(mapping, "params") { provider.params = readRules(rules, "\(section).params") }
        if let rules = walker.value(mapping, "reasoning_params") {
            provider.reasoningParams = readRules(rules, "\(section).reasoning_params")
        }
        if let node = walker.value(mapping, "reasoning_timeouts"),
            let timeouts = walker.mapping(node, "\(section).reasoning_timeouts")
        {
            walker.checkKeys(timeouts, section: "\(section).reasoning_timeouts", known: Self.timeoutKeys, ignored: [])
            let what = "\(section).reasoning_timeouts"
            if let value = walker.value(timeouts, "connect") {
                provider.reasoningTimeouts.connect = walker.number(value, "\(what).connect")
            }
            if let value = walker.value(timeouts, "first_byte") {
                provider.reasoningTimeouts.firstByte = walker.number(value, "\(what).first_byte")
            }
            if let value = walker.value(timeouts, "idle") {
                provider.reasoningTimeouts.idle = walker.number(value, "\(what).idle")
            }
            if let value = walker.value(timeouts, "total") {
                provider.reasoningTimeouts.total = walker.number(value, "\(what).total")
            }
        }
        if let models = walker.value(mapping, "models"), let rows = walker.mapping(models, "\(section).models") {
            for pair in rows {
                guard let model = walker.string(pair.key, "a model name in \(section).models"),
                    let row = readModel(pair.value, name: model, section: "\(section).models.\(model)")
                else { continue }
                if provider.models.contains(where: { $0.name.lowercased() == model.lowercased() }) {
                    walker.warning("\(section).models lists \(model) twice; the last one is used", at: pair.key)
                    provider.models.removeAll { $0.name.lowercased() == model.lowercased() }
                }
                provider.models.append(row)
            }
        }
        return provider
    }

    mutating func readModel(_ node: YAMLNode, name: String, section: String) -> CatalogModel? {
        guard let mapping = walker.mapping(node, section) else { return nil }
        walker.checkKeys(mapping, section: section, known: Self.modelKeys, ignored: [])
        var row = CatalogModel(name: name)
        for pair in mapping where !walker.isNull(pair.value) {
            guard let key = pair.key.scalarText else { continue }
            let value = pair.value
            let what = "\(section).\(key)"
            switch key {
            case "reasoning": row.reasoning = walker.bool(value, what)
            case "reasoning_effort":
                guard let efforts = walker.stringList(value, what) else { continue }
                if let unknown = efforts.first(where: { !ReasoningEffortScale.levels.contains($0) }) {
                    walker.error(
                        "\(what) names '\(unknown)', which is not a reasoning effort",
                        fix: "use values from \(ReasoningEffortScale.levels.joined(separator: ", "))", at: value)
                    continue
                }
                row.reasoningEfforts = efforts
            case "default_effort": row.defaultEffort = walker.string(value, what)
            case "context_window": row.contextWindow = walker.integer(value, what)
            case "max_output_tokens": row.maxOutputTokens = walker.integer(value, what)
            case "price": row.price = readPrices(value, what)
            case "long_prompt":
                guard let tier = walker.mapping(value, what) else { continue }
                walker.checkKeys(tier, section: what, known: Self.priceKeys.union(["threshold"]), ignored: [])
                guard let thresholdNode = walker.value(tier, "threshold") else {
                    walker.error("\(what) has no threshold", fix: "write threshold: 200000 (prompt tokens)", at: value)
                    continue
                }
                if let threshold = walker.integer(thresholdNode, "\(what).threshold"), let prices = readPrices(value, what) {
                    row.longPrompt = LongPromptTier(threshold: threshold, prices: prices)
                }
            case "retired": row.retired = walker.string(value, what)
            case "served_by": row.servedBy = walker.string(value, what)
            case "served_effort": row.servedEffort = walker.string(value, what)
            case "params": row.params = readRules(value, what)
            case "source": row.source = walker.string(value, what)
            default: break
            }
        }
        if let effort = row.defaultEffort, let efforts = row.reasoningEfforts, !efforts.contains(effort) {
            walker.error(
                "\(section).default_effort '\(effort)' is not in its reasoning_effort list",
                fix: "use one of \(efforts.joined(separator: ", "))", at: walker.value(mapping, "default_effort"))
        }
        if row.servedBy != nil, row.retired == nil {
            walker.error(
                "\(section) names served_by without retired", fix: "add retired: YYYY-MM-DD (the day the name was retired)",
                at: walker.value(mapping, "served_by"))
        }
        return row
    }

    mutating func readPrices(_ node: YAMLNode, _ what: String) -> CatalogPrices? {
        guard let mapping = walker.mapping(node, what) else { return nil }
        if !what.hasSuffix("long_prompt") { walker.checkKeys(mapping, section: what, known: Self.priceKeys, ignored: []) }
        var prices = CatalogPrices()
        if let value = walker.value(mapping, "input") { prices.input = walker.number(value, "\(what).input") }
        if let value = walker.value(mapping, "cached_input") { prices.cachedInput = walker.number(value, "\(what).cached_input") }
        if let value = walker.value(mapping, "output") { prices.output = walker.number(value, "\(what).output") }
        return prices
    }

    mutating func readRules(_ node: YAMLNode, _ what: String) -> [CatalogParamRule] {
        guard let mapping = walker.mapping(node, what) else { return [] }
        var rules: [CatalogParamRule] = []
        for pair in mapping {
            guard let parameter = walker.string(pair.key, "a parameter name in \(what)") else { continue }
            if let rule = readRule(pair.value, parameter: parameter, what: "\(what).\(parameter)") {
                rules = CatalogParamRule.merge(rules, [rule])
            }
        }
        return rules
    }

    mutating func readRule(_ node: YAMLNode, parameter: String, what: String) -> CatalogParamRule? {
        let actionNode: YAMLNode
        var note = ""
        var fields: [YAMLPair] = []
        if case .mapping(let pairs, _) = node {
            walker.checkKeys(pairs, section: what, known: Self.ruleKeys, ignored: [])
            guard let found = walker.value(pairs, "action") else {
                walker.error(
                    "\(what) has no action", fix: "write action: one of \(Self.actions.joined(separator: ", "))", at: node)
                return nil
            }
            actionNode = found
            fields = pairs
            if let value = walker.value(pairs, "note") { note = walker.string(value, "\(what).note") ?? "" }
        } else {
            actionNode = node
        }
        guard let word = walker.string(actionNode, "\(what).action") else { return nil }
        switch word {
        case "reject": return CatalogParamRule(parameter, .unsupported, note: note)
        case "drop": return CatalogParamRule(parameter, .drop, note: note)
        case "only_when_streaming": return CatalogParamRule(parameter, .onlyWhenStreaming, note: note)
        case "pass": return CatalogParamRule(parameter, nil, note: note)
        case "rename":
            guard let target = walker.value(fields, "to"), let name = walker.string(target, "\(what).to") else {
                walker.error("\(what) renames to nothing", fix: "write to: NEW_NAME", at: node)
                return nil
            }
            return CatalogParamRule(parameter, .rename(to: name), note: note)
        case "clamp":
            guard let limit = walker.value(fields, "max"), let maximum = walker.integer(limit, "\(what).max") else {
                walker.error("\(what) clamps to no maximum", fix: "write max: N", at: node)
                return nil
            }
            return CatalogParamRule(parameter, .clampMaximum(maximum), note: note)
        default:
            walker.error(
                "\(what) has the action '\(word)', which the proxy does not know",
                fix: "use one of \(Self.actions.joined(separator: ", "))", at: actionNode)
            return nil
        }
    }
}
