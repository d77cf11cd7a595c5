import Foundation

/// The outcome of reading a config: a config when there is no error, and every finding either way.
public struct ConfigLoadResult: Sendable {
    /// The parsed config; nil when any diagnostic is an error.
    public let config: ProxyConfig?
    /// Every error and warning, in file order.
    public let diagnostics: [ConfigDiagnostic]

    /// Whether start-up must stop.
    public var hasErrors: Bool { diagnostics.contains { $0.severity == .error } }
}

/// Reads LiteLLM-compatible `config.yaml` text into a ``ProxyConfig`` with located diagnostics.
public enum ConfigLoader {
    /// Reads and parses a file; an unreadable file is one error diagnostic.
    public static func load(path: String, strict: Bool = false) -> ConfigLoadResult {
        guard let data = FileManager.default.contents(atPath: path) else {
            let exists = FileManager.default.fileExists(atPath: path)
            let message = exists ? "cannot read config file \(path)" : "config file \(path) does not exist"
            return ConfigLoadResult(
                config: nil,
                diagnostics: [
                    ConfigDiagnostic(
                        .error, message, fix: "pass --config PATH or set SWITCHYARD_CONFIG to a readable YAML file")
                ])
        }
        guard let text = String(data: data, encoding: .utf8) else {
            return ConfigLoadResult(
                config: nil,
                diagnostics: [ConfigDiagnostic(.error, "\(path) is not UTF-8 text", fix: "save the file as UTF-8")])
        }
        return parse(text, path: path, strict: strict)
    }

    /// Parses YAML text; `path` is used in locations only.
    public static func parse(_ text: String, path: String, strict: Bool = false) -> ConfigLoadResult {
        var walker = ConfigWalker(file: path, strict: strict)
        let root: YAMLNode?
        do {
            root = try YAMLReader.read(text)
        } catch {
            walker.report(yamlError: error)
            return ConfigLoadResult(config: nil, diagnostics: walker.diagnostics)
        }
        var config = ProxyConfig(path: path)
        walker.read(root: root, into: &config)
        let hasErrors = walker.diagnostics.contains { $0.severity == .error }
        return ConfigLoadResult(config: hasErrors ? nil : config, diagnostics: walker.diagnostics)
    }
}

/// One model entry read on its own: the entry when there is no error, and every finding either way.
public struct ModelEntryResult: Sendable {
    /// The entry; nil when any diagnostic is an error.
    public let entry: DeploymentEntry?
    /// Every error and warning.
    public let diagnostics: [ConfigDiagnostic]

    /// Whether it must be refused.
    public var hasErrors: Bool { diagnostics.contains { $0.severity == .error } }
}

extension ConfigLoader {
    /// Reads one `model_list` entry written as JSON or YAML: a run-time `/model/new` body, or one the database
    /// keeps. The checks are the file's, stricter in two ways: an unknown key is an error, and a key (`api_key`, or
    /// a credential header) must be an `os.environ/NAME` reference, never a literal.
    public static func parseModelEntry(_ text: String, path: String) -> ModelEntryResult {
        var walker = ConfigWalker(file: path, strict: true)
        let root: YAMLNode?
        do {
            root = try YAMLReader.read(text)
        } catch {
            walker.report(yamlError: error)
            return ModelEntryResult(entry: nil, diagnostics: walker.diagnostics)
        }
        guard let root, !walker.isNull(root) else {
            walker.error("the model entry is empty", fix: "send model_name and litellm_params", at: nil)
            return ModelEntryResult(entry: nil, diagnostics: walker.diagnostics)
        }
        let entry = walker.readModelEntry(root, index: 0, label: "the model entry")
        if let entry { walker.refuseLiteralSecrets(root, alias: entry.alias) }
        let hasErrors = walker.diagnostics.contains { $0.severity == .error }
        return ModelEntryResult(entry: hasErrors ? nil : entry, diagnostics: walker.diagnostics)
    }
}

/// Walks the YAML node tree, collecting typed values and located diagnostics.
struct ConfigWalker {
    let file: String
    let strict: Bool
    var diagnostics: [ConfigDiagnostic] = []

    init(file: String, strict: Bool) {
        self.file = file
        self.strict = strict
    }

    func location(of node: YAMLNode) -> SourceLocation? {
        SourceLocation(file: file, line: node.mark.line, column: node.mark.column)
    }

    mutating func error(_ message: String, fix: String?, at node: YAMLNode?) {
        diagnostics.append(ConfigDiagnostic(.error, message, fix: fix, at: node.flatMap(location(of:))))
    }

    mutating func warning(_ message: String, fix: String? = nil, at node: YAMLNode?) {
        diagnostics.append(ConfigDiagnostic(.warning, message, fix: fix, at: node.flatMap(location(of:))))
    }

    mutating func report(yamlError: YAMLSyntaxError) {
        let fix = "check the indentation and quoting on that line (YAML needs spaces, not tabs, and quotes around ': ')"
        diagnostics.append(
            ConfigDiagnostic(
                .error, "YAML syntax error: \(yamlError.problem)", fix: fix,
                at: yamlError.mark.map { SourceLocation(file: file, line: $0.line, column: $0.column) }))
    }

    // MARK: Typed accessors

    /// A scalar that is YAML null (`key:`, `key: null`, `key: ~`). Scalars are typed here, as PyYAML types them.
    func isNull(_ node: YAMLNode) -> Bool {
        guard case .scalar(let text, true, _) = node else { return false }
        return ["", "~", "null", "Null", "NULL"].contains(text)
    }

    /// A plain scalar's boolean value, with YAML 1.1's words as PyYAML (and so LiteLLM) reads them.
    func boolValue(_ node: YAMLNode) -> Bool? {
        guard case .scalar(let text, true, _) = node else { return nil }
        switch text {
        case "true", "True", "TRUE", "yes", "Yes", "YES", "on", "On", "ON": return true
        case "false", "False", "FALSE", "no", "No", "NO", "off", "Off", "OFF": return false
        default: return nil
        }
    }

    /// The value for a plain key, compared as text (the last one wins, as in PyYAML).
    func value(_ mapping: [YAMLPair], _ key: String) -> YAMLNode? {
        var found: YAMLNode?
        for pair in mapping where pair.key.scalarText == key { found = pair.value }
        return found
    }

    mutating func mapping(_ node: YAMLNode, _ what: @autoclosure () -> String) -> [YAMLPair]? {
        if case .mapping(let pairs, _) = node { return pairs }
        error("\(what()) must be a mapping (key: value lines)", fix: "indent its keys under \(what())", at: node)
        return nil
    }

    mutating func string(_ node: YAMLNode, _ what: @autoclosure () -> String) -> String? {
        if case .scalar(let text, _, _) = node, !isNull(node) { return text }
        error("\(what()) must be a string", fix: "write \(what()) as a single value, e.g. \(what()): text", at: node)
        return nil
    }

    mutating func bool(_ node: YAMLNode, _ what: @autoclosure () -> String) -> Bool? {
        if let value = boolValue(node) { return value }
        error("\(what()) must be true or false", fix: "write \(what()): true or \(what()): false", at: node)
        return nil
    }

    mutating func number(_ node: YAMLNode, _ what: @autoclosure () -> String) -> Double? {
        if case .scalar(let text, _, _) = node, let value = Double(text.replacingOccurrences(of: "_", with: "")),
            value.isFinite, value >= 0
        {
            return value
        }
        error("\(what()) must be a non-negative number", fix: "write \(what()): 30 (a plain number)", at: node)
        return nil
    }

    mutating func integer(_ node: YAMLNode, _ what: @autoclosure () -> String) -> Int? {
        guard let value = number(node, what()) else { return nil }
        guard let integer = Int(exactly: value.rounded()), value == value.rounded() else {
            error("\(what()) must be a whole number", fix: "write \(what()) without a fraction", at: node)
            return nil
        }
        return integer
    }

    mutating func stringList(_ node: YAMLNode, _ what: @autoclosure () -> String) -> [String]? {
        if case .sequence(let sequence, _) = node {
            var values: [String] = []
            for item in sequence {
                guard let value = string(item, "each item of \(what())") else { return nil }
                values.append(value)
            }
            return values
        }
        error("\(what()) must be a list", fix: "write \(what()): [a, b] or one '- item' per line", at: node)
        return nil
    }

    mutating func stringPairs(_ node: YAMLNode, _ what: @autoclosure () -> String) -> [(
        key: String, value: String, node: YAMLNode
    )]? {
        guard let mapping = mapping(node, what()) else { return nil }
        var pairs: [(key: String, value: String, node: YAMLNode)] = []
        for pair in mapping {
            let (keyNode, valueNode) = (pair.key, pair.value)
            guard let key = string(keyNode, "a key of \(what())") else { return nil }
            guard let value = string(valueNode, "\(what()).\(key)") else { return nil }
            pairs.append((key, value, valueNode))
        }
        return pairs
    }

    /// Warns about keys that are not in `known`; keys in `ignored` get a softer note.
    mutating func checkKeys(
        _ mapping: [YAMLPair],
        section: String,
        known: Set<String>,
        ignored: Set<String>,
        ignoredPrefixes: [String] = []
    ) {
        for keyNode in mapping.map(\.key) {
            guard let key = keyNode.scalarText else { continue }
            if known.contains(key) { continue }
            if ignored.contains(key) || ignoredPrefixes.contains(where: { key.hasPrefix($0) }) {
                warning("\(section).\(key) is a LiteLLM setting Switchyard does not use yet; it is ignored", at: keyNode)
                continue
            }
            let suggestion = Spelling.suggestion(for: key, among: known.union(ignored))
            let fix =
                suggestion.map { "did you mean '\($0)'?" } ?? "remove it; known keys: \(known.sorted().joined(separator: ", "))"
            diagnostics.append(
                ConfigDiagnostic(
                    strict ? .error : .warning, "unknown key '\(key)' in \(section)", fix: fix,
                    at: location(of: keyNode), isUnknownKey: true))
        }
    }

    // MARK: Sections

    mutating func read(root: YAMLNode?, into config: inout ProxyConfig) {
        guard let root, !isNull(root) else {
            error("the config file is empty", fix: "add a model_list with at least one model", at: nil)
            return
        }
        guard let mapping = mapping(root, "the top level") else { return }
        checkKeys(mapping, section: "the top level", known: ConfigKeys.topLevel, ignored: ConfigKeys.topLevelIgnored)
        if let list = value(mapping, "model_list"), !isNull(list) {
            readModelList(list, into: &config)
        } else {
            warning("model_list is missing or empty: no model will serve", fix: "add model_list entries", at: root)
        }
        for name in ["litellm_settings", "settings"] {
            if let section = value(mapping, name), !isNull(section) {
                readLiteLLMSettings(section, name: name, into: &config.settings)
            }
        }
        if let section = value(mapping, "router_settings"), !isNull(section) {
            readRouterSettings(section, into: &config.settings)
        }
        if let section = value(mapping, "general_settings"), !isNull(section) {
            readGeneralSettings(section, into: &config.settings)
        }
        if let node = value(mapping, "model_catalog"), !isNull(node), let path = string(node, "model_catalog") {
            readCatalog(path, at: node, into: &config)
        }
        if let section = value(mapping, "runtime"), !isNull(section) {
            warning(
                "runtime: is read by 'switchyard config import', not by serve: run-time configuration lives in the database",
                fix: "run 'switchyard config import' with this file, or remove the section", at: section)
        }
        if let section = value(mapping, "environment_variables"), !isNull(section),
            let pairs = stringPairs(section, "environment_variables")
        {
            for pair in pairs { config.environmentVariables[pair.key] = pair.value }
        }
    }

    /// Reads the operator's catalog file (relative to the config's folder) and merges it over the shipped one; its
    /// problems are the config's, located in the catalog file.
    mutating func readCatalog(_ path: String, at node: YAMLNode, into config: inout ProxyConfig) {
        config.modelCatalogPath = path
        let result = CatalogLoader.load(path: config.modelCatalogFile ?? path)
        diagnostics.append(contentsOf: result.diagnostics)
        if let catalog = result.catalog {
            config.catalog = ModelCatalog.shipped.overlaid(with: catalog)
            for (provider, section) in config.catalog.providers.sorted(by: { $0.key < $1.key }) {
                for row in section.models {
                    guard let successor = row.servedBy, section.row(for: successor) == nil else { continue }
                    warning(
                        "model_catalog: \(provider) model \(row.name) is served by \(successor), which the catalog does not list",
                        fix: "add a row for \(successor) (its prices and window apply to \(row.name))", at: node)
                }
            }
        } else if result.diagnostics.isEmpty {
            error("model_catalog \(path) could not be read", fix: "check the file", at: node)
        }
    }

    mutating func readModelList(_ node: YAMLNode, into config: inout ProxyConfig) {
        guard case .sequence(let sequence, _) = node else {
            error("model_list must be a list", fix: "start each model with '- model_name: ...'", at: node)
            return
        }
        for (index, item) in sequence.enumerated() {
            if let entry = readModelEntry(item, index: index) { config.deployments.append(entry) }
        }
    }

    mutating func readModelEntry(_ node: YAMLNode, index: Int, label: String? = nil) -> DeploymentEntry? {
        let label = label ?? "model_list entry \(index + 1)"
        guard let mapping = mapping(node, label) else { return nil }
        checkKeys(mapping, section: label, known: ConfigKeys.modelEntry, ignored: [])
        guard let aliasNode = value(mapping, "model_name"), !isNull(aliasNode) else {
            error("\(label) has no model_name", fix: "add model_name: <public alias> to the entry", at: node)
            return nil
        }
        guard let alias = string(aliasNode, "model_name") else { return nil }
        let paramsNode = value(mapping, "litellm_params") ?? value(mapping, "params")
        guard let paramsNode, !isNull(paramsNode), let params = self.mapping(paramsNode, "litellm_params of \(alias)")
        else {
            error(
                "model \(alias) has no litellm_params", fix: "add litellm_params: { model: provider/model } to the entry",
                at: node)
            return nil
        }
        let section = "litellm_params of \(alias)"
        checkKeys(params, section: section, known: ConfigKeys.params, ignored: ConfigKeys.paramsIgnored)
        guard let modelNode = value(params, "model"), !isNull(modelNode), let model = string(modelNode, "\(section).model")
        else {
            error(
                "model \(alias) has no litellm_params.model", fix: "add model: xai/grok-code-fast-1 (provider/model)",
                at: paramsNode)
            return nil
        }
        var entry = DeploymentEntry(alias: alias, model: model, index: index, location: location(of: node))
        readParams(params, section: section, into: &entry)
        if let infoNode = value(mapping, "model_info"), !isNull(infoNode),
            let info = self.mapping(infoNode, "model_info of \(alias)")
        {
            readModelInfo(info, section: "model_info of \(alias)", into: &entry)
        }
        return entry
    }

    /// A run-time entry's key and credential headers must name environment variables: the database and its audit
    /// rows never hold a secret.
    mutating func refuseLiteralSecrets(_ node: YAMLNode, alias: String) {
        guard case .mapping(let pairs, _) = node, let paramsNode = value(pairs, "litellm_params") ?? value(pairs, "params"),
            case .mapping(let params, _) = paramsNode
        else { return }
        let fix = "set the secret in the proxy's environment and write os.environ/NAME in its place"
        if let key = value(params, "api_key"), case .scalar(let text, _, _) = key, !isNull(key),
            !text.hasPrefix(ConfigString.environmentPrefix)
        {
            error(
                "litellm_params.api_key of \(alias) is a literal key; a run-time model names it as os.environ/NAME", fix: fix,
                at: key)
        }
        for name in ["extra_headers", "headers"] {
            guard let headers = value(params, name), case .mapping(let fields, _) = headers else { continue }
            for field in fields {
                guard let header = field.key.scalarText, HeaderPolicy.isSensitive(header),
                    case .scalar(let text, _, _) = field.value, !text.hasPrefix(ConfigString.environmentPrefix)
                else { continue }
                error(
                    "litellm_params.\(name).\(header) of \(alias) is a literal credential; a run-time model names it as os.environ/NAME",
                    fix: fix, at: field.value)
            }
        }
    }

    mutating func readParams(_ params: [YAMLPair], section: String, into entry: inout DeploymentEntry) {
        for pair in params where !isNull(pair.value) {
            let (keyNode, value) = (pair.key, pair.value)
            guard let key = keyNode.scalarText else { continue }
            let what = "\(section).\(key)"
            switch key {
            case "custom_llm_provider": entry.customProvider = string(value, what)
            case "api_base", "base_url": entry.apiBase = string(value, what).map(ConfigString.init(raw:))
            case "api_key": entry.apiKey = string(value, what).map(ConfigString.init(raw:))
            case "drop_params": entry.dropParams = bool(value, what)
            case "additional_drop_params": entry.additionalDropParams = stringList(value, what) ?? []
            case "extra_headers", "headers":
                for pair in stringPairs(value, what) ?? [] {
                    entry.extraHeaders.append(HeaderEntry(name: pair.key, value: ConfigString(raw: pair.value)))
                }
            case "timeout": entry.timeouts.total = number(value, what)
            case "stream_timeout", "idle_timeout": entry.timeouts.idle = number(value, what)
            case "connect_timeout": entry.timeouts.connect = number(value, what)
            case "first_byte_timeout": entry.timeouts.firstByte = number(value, what)
            case "input_cost_per_token": entry.prices.inputPerToken = number(value, what)
            case "output_cost_per_token": entry.prices.outputPerToken = number(value, what)
            case "weight": entry.weight = number(value, what)
            case "rpm": entry.rpm = number(value, what)
            case "tpm": entry.tpm = integer(value, what)
            case "max_parallel_requests": entry.maxParallelRequests = integer(value, what)
            case "num_retries": entry.numRetries = integer(value, what)
            default: break
            }
        }
    }

    /// `fallbacks`, `default_fallbacks` and `max_fallbacks`, in either settings section.
    mutating func readFallbacks(_ mapping: [YAMLPair], section: String, into settings: inout ProxySettings) {
        if let table = fallbackTable(mapping, key: "fallbacks", section: section) {
            settings.fallbacks.merge(table) { $1 }
        }
        if let table = fallbackTable(mapping, key: "context_window_fallbacks", section: section) {
            settings.contextWindowFallbacks.merge(table) { $1 }
        }
        if let node = value(mapping, "default_fallbacks"), !isNull(node),
            let targets = stringList(node, "\(section).default_fallbacks")
        {
            settings.defaultFallbacks = targets
        }
        if let node = value(mapping, "max_fallbacks"), !isNull(node), let count = integer(node, "\(section).max_fallbacks") {
            settings.maxFallbacks = count
        }
    }

    /// A list of `{alias: [fallback, ...]}` mappings under `key`, or nil when absent or malformed (reported).
    mutating func fallbackTable(_ mapping: [YAMLPair], key: String, section: String) -> [String: [String]]? {
        guard let node = value(mapping, key), !isNull(node) else { return nil }
        guard case .sequence(let items, _) = node else {
            error("\(section).\(key) must be a list", fix: "write \(key): [{grok-4: [grok-3-mini]}]", at: node)
            return nil
        }
        var table: [String: [String]] = [:]
        for item in items {
            guard let pairs = self.mapping(item, "each item of \(section).\(key)") else { return nil }
            for pair in pairs {
                guard let alias = string(pair.key, "a fallback alias"),
                    let targets = stringList(pair.value, "\(section).\(key).\(alias)")
                else { return nil }
                table[alias] = targets
            }
        }
        return table
    }

    mutating func readRouterSettings(_ node: YAMLNode, into settings: inout ProxySettings) {
        guard let mapping = mapping(node, "router_settings") else { return }
        checkKeys(
            mapping, section: "router_settings", known: ConfigKeys.routerSettings, ignored: ConfigKeys.routerSettingsIgnored)
        readFallbacks(mapping, section: "router_settings", into: &settings)
        // LiteLLM's `model_group_alias`: `name: alias`, or `name: {model: alias, hidden: true}`.
        if let value = value(mapping, "model_group_alias"), !isNull(value),
            let pairs = self.mapping(value, "router_settings.model_group_alias")
        {
            for pair in pairs {
                guard let name = string(pair.key, "a name in router_settings.model_group_alias") else { continue }
                let what = "router_settings.model_group_alias.\(name)"
                let target: YAMLNode
                if case .mapping(let fields, _) = pair.value {
                    guard let model = self.value(fields, "model") else {
                        error("\(what) names no model", fix: "write \(name): ALIAS or \(name): {model: ALIAS}", at: pair.value)
                        continue
                    }
                    target = model
                } else {
                    target = pair.value
                }
                if let alias = string(target, what) {
                    settings.modelGroupAlias.append(AliasRoute(pattern: ModelPattern(name), alias: alias))
                }
            }
        }
        if let value = value(mapping, "allowed_fails"), !isNull(value),
            let count = integer(value, "router_settings.allowed_fails")
        {
            settings.allowedFails = max(1, count)
        }
        if let value = value(mapping, "cooldown_time"), !isNull(value),
            let seconds = number(value, "router_settings.cooldown_time")
        {
            settings.cooldownTime = seconds
        }
        if let value = value(mapping, "disable_cooldowns"), !isNull(value),
            let disabled = bool(value, "router_settings.disable_cooldowns")
        {
            settings.disableCooldowns = disabled
        }
        if let value = value(mapping, "allowed_fails_policy"), !isNull(value),
            let pairs = self.mapping(value, "router_settings.allowed_fails_policy")
        {
            let kinds = Dictionary(uniqueKeysWithValues: FailureKind.allCases.map { ($0.policyKey, $0) })
            checkKeys(pairs, section: "router_settings.allowed_fails_policy", known: Set(kinds.keys), ignored: [])
            for pair in pairs where !isNull(pair.value) {
                guard let name = pair.key.scalarText, let kind = kinds[name],
                    let count = integer(pair.value, "router_settings.allowed_fails_policy.\(name)")
                else { continue }
                settings.allowedFailsPolicy[kind] = count
            }
        }
        if let value = value(mapping, "routing_strategy"), !isNull(value),
            let text = string(value, "router_settings.routing_strategy")
        {
            if let strategy = RoutingStrategy(name: text) {
                settings.routingStrategy = strategy
            } else {
                warning(
                    "routing_strategy '\(text)' is not supported; using simple-shuffle",
                    fix: "use one of: \(RoutingStrategy.allCases.map(\.rawValue).joined(separator: ", "))", at: value)
            }
        }
        if let value = value(mapping, "num_retries"), !isNull(value), let count = integer(value, "router_settings.num_retries") {
            settings.numRetries = count
        }
        if let value = value(mapping, "retry_after"), !isNull(value), let seconds = number(value, "router_settings.retry_after") {
            settings.retryAfter = seconds
        }
        if let value = value(mapping, "retry_strategy"), !isNull(value),
            let text = string(value, "router_settings.retry_strategy")
        {
            guard let strategy = RetryStrategy(rawValue: text) else {
                error(
                    "router_settings.retry_strategy must be exponential_backoff_retry or constant_retry",
                    fix: "write retry_strategy: exponential_backoff_retry", at: value)
                return
            }
            settings.retryStrategy = strategy
        }
    }

    mutating func readModelInfo(_ info: [YAMLPair], section: String, into entry: inout DeploymentEntry) {
        checkKeys(
            info, section: section, known: ConfigKeys.modelInfo, ignored: ConfigKeys.modelInfoIgnored,
            ignoredPrefixes: ConfigKeys.modelInfoIgnoredPrefixes)
        for pair in info where !isNull(pair.value) {
            let (keyNode, value) = (pair.key, pair.value)
            guard let key = keyNode.scalarText else { continue }
            let what = "\(section).\(key)"
            switch key {
            case "id": entry.id = string(value, what)
            case "input_cost_per_token": entry.prices.inputPerToken = number(value, what)
            case "output_cost_per_token": entry.prices.outputPerToken = number(value, what)
            case "cache_read_input_token_cost": entry.prices.cachedInputPerToken = number(value, what)
            case "input_cost_per_million": entry.prices.inputPerToken = number(value, what).map { $0 / 1_000_000 }
            case "output_cost_per_million": entry.prices.outputPerToken = number(value, what).map { $0 / 1_000_000 }
            case "cache_read_input_cost_per_million":
                entry.prices.cachedInputPerToken = number(value, what).map { $0 / 1_000_000 }
            case "max_input_tokens": entry.maxInputTokens = integer(value, what)
            case "supported_endpoints": entry.supportedEndpoints = stringList(value, what)
            default: break
            }
        }
    }

    mutating func readLiteLLMSettings(_ node: YAMLNode, name: String, into settings: inout ProxySettings) {
        guard let mapping = mapping(node, name) else { return }
        checkKeys(mapping, section: name, known: ConfigKeys.litellmSettings, ignored: ConfigKeys.litellmSettingsIgnored)
        if let value = value(mapping, "drop_params"), !isNull(value), let flag = bool(value, "\(name).drop_params") {
            settings.dropParams = flag
        }
        if let value = value(mapping, "request_timeout"), !isNull(value), let seconds = number(value, "\(name).request_timeout") {
            settings.timeouts.total = seconds
        }
        if let value = value(mapping, "num_retries"), !isNull(value), let count = integer(value, "\(name).num_retries") {
            settings.numRetries = count
        }
        readFallbacks(mapping, section: name, into: &settings)
        if let value = value(mapping, "require_auth_for_metrics_endpoint"), !isNull(value),
            let flag = bool(value, "\(name).require_auth_for_metrics_endpoint")
        {
            settings.metricsRequireAuth = flag
        }
        if let value = value(mapping, "ssl_verify"), !isNull(value) {
            if value.scalarText.map({ ["true", "false", "yes", "no", "on", "off"].contains($0.lowercased()) }) == true {
                if let flag = bool(value, "\(name).ssl_verify") {
                    settings.tlsVerification = flag ? .system : .off
                    if !flag {
                        warning(
                            "\(name).ssl_verify is false: upstream certificates are not checked",
                            fix: "use it only for testing; give a CA file path (ssl_verify: /path/ca.pem) instead", at: value)
                    }
                }
            } else if let path = string(value, "\(name).ssl_verify") {
                settings.tlsVerification = .caFile(path)
            }
        }
    }

    mutating func readGeneralSettings(_ node: YAMLNode, into settings: inout ProxySettings) {
        guard let mapping = mapping(node, "general_settings") else { return }
        checkKeys(
            mapping, section: "general_settings", known: ConfigKeys.generalSettings,
            ignored: ConfigKeys.generalSettingsIgnored)
        for pair in mapping where !isNull(pair.value) {
            let (keyNode, value) = (pair.key, pair.value)
            guard let key = keyNode.scalarText else { continue }
            let what = "general_settings.\(key)"
            switch key {
            case "master_key": settings.masterKey = string(value, what).map(ConfigString.init(raw:))
            case "max_request_size_mb":
                if let megabytes = number(value, what) { settings.maxRequestBodyBytes = Int(megabytes * 1024 * 1024) }
            case "max_request_body_bytes":
                if let bytes = integer(value, what) { settings.maxRequestBodyBytes = bytes }
            case "connect_timeout": settings.timeouts.connect = number(value, what) ?? settings.timeouts.connect
            case "first_byte_timeout": settings.timeouts.firstByte = number(value, what) ?? settings.timeouts.firstByte
            case "idle_timeout": settings.timeouts.idle = number(value, what) ?? settings.timeouts.idle
            case "request_timeout": settings.timeouts.total = number(value, what) ?? settings.timeouts.total
            case "client_header_timeout", "client_body_timeout", "keep_alive_timeout":
                guard let seconds = number(value, what) else { continue }
                guard seconds > 0 else {
                    error("\(what) must be more than zero seconds", fix: "write \(key): 60", at: value)
                    continue
                }
                switch key {
                case "client_header_timeout": settings.clientTimeouts.header = seconds
                case "client_body_timeout": settings.clientTimeouts.body = seconds
                default: settings.clientTimeouts.keepAlive = seconds
                }
            case "shutdown_grace_period":
                if let seconds = number(value, what) {
                    guard seconds >= 0 else {
                        error("\(what) must be zero or more seconds", fix: "write shutdown_grace_period: 30", at: value)
                        continue
                    }
                    settings.shutdownGracePeriod = seconds
                }
            case "database_url": settings.databaseURL = string(value, what).map(ConfigString.init(raw:))
            case "store_prompts": settings.storePrompts = bool(value, what) ?? settings.storePrompts
            case "disable_admin_ui": settings.disableAdminUI = bool(value, what) ?? settings.disableAdminUI
            case "disable_spend_logs": settings.disableSpendLogs = bool(value, what) ?? settings.disableSpendLogs
            case "allow_requests_on_db_unavailable":
                settings.allowRequestsOnDBUnavailable = bool(value, what) ?? settings.allowRequestsOnDBUnavailable
            case "retention", "maximum_spend_logs_retention_period":
                guard let text = value.scalarText else { continue }
                guard let seconds = DurationText.seconds(text) else {
                    error("\(what) must be a duration such as 30d or 12h", fix: "write \(key): 30d", at: value)
                    continue
                }
                settings.retention = seconds
            case "user_api_key_cache_ttl", "proxy_batch_write_at":
                guard let seconds = number(value, what) else { continue }
                guard seconds > 0 else {
                    error("\(what) must be more than zero seconds", fix: "write \(key): 5", at: value)
                    continue
                }
                if key == "proxy_batch_write_at" { settings.batchWriteInterval = seconds } else { settings.keyCacheTTL = seconds }
            case "fleet_sync_interval":
                guard let seconds = number(value, what) else { continue }
                guard seconds >= 0 else {
                    error("\(what) must be zero (off) or more seconds", fix: "write fleet_sync_interval: 1", at: value)
                    continue
                }
                settings.fleetSyncInterval = seconds
            case "otel_exporter_endpoint":
                guard let text = string(value, what) else { continue }
                let endpoint = ConfigString(raw: text)
                guard case .literal(let url) = endpoint else {
                    error("\(what) must be a URL", fix: "write otel_exporter_endpoint: http://127.0.0.1:4318", at: value)
                    continue
                }
                guard let components = URLComponents(string: url), ["http", "https"].contains(components.scheme ?? ""),
                    components.host?.isEmpty == false
                else {
                    error(
                        "\(what) must be an http or https URL of an OTLP/HTTP collector",
                        fix: "write otel_exporter_endpoint: http://127.0.0.1:4318", at: value)
                    continue
                }
                settings.otelEndpoint = url
            case "otel_service_name":
                if let name = string(value, what), !name.isEmpty { settings.otelServiceName = name }
            case "log_buffer_size":
                guard let rows = integer(value, what) else { continue }
                guard rows > 0 else {
                    error("\(what) must be at least 1", fix: "write log_buffer_size: 100000", at: value)
                    continue
                }
                settings.logBufferSize = rows
            default: break
            }
        }
    }
}
