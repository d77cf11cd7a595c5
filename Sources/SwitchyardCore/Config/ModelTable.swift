import Foundation

/// Every deployment of a config, resolved against an environment, grouped by alias.
public struct ModelTable: Sendable {
    /// All deployments in file order, enabled and disabled.
    public let deployments: [Deployment]
    /// Proxy-wide settings.
    public let settings: ProxySettings
    /// The master key, when one is configured and set.
    public let masterKey: Resolved<Secret>?
    /// Resolution findings: disabled models (warnings) and settings problems.
    public let diagnostics: [ConfigDiagnostic]
    /// Where keys, spend and the request log live, and which setting chose it.
    public let database: Resolved<DatabaseLocation>
    /// The operator's model catalog file (`model_catalog`), resolved, for `--watch`.
    public let catalogFile: String?
    private let byAlias: [String: [Int]]
    /// The file's config, before the run-time entries are laid over it.
    public let base: ProxyConfig
    /// The run-time configuration laid over `base`.
    public let runtime: RuntimeConfig
    /// The environment it was resolved against (without the config's `environment_variables`).
    public let environment: EnvironmentSnapshot
    /// The providers it was resolved with.
    let registry: ProviderRegistry
    /// The aliases `restricted(to:)` kept; empty: all.
    public let restriction: [String]
    /// Feature endpoints by slug (run-time configuration), each with its active prompt.
    public let features: [String: FeatureRoute]
    /// The capability flags (`enable_streaming`, `enable_tool_use`, `enable_vision`) that are set; empty: none.
    public let capabilityFlags: [FlagCapability: FeatureFlag]

    /// Aliases in first-appearance order.
    public let aliases: [String]

    /// Resolves `config`, with `runtime`'s entries laid over it, against `environment` using `registry`. Problems of
    /// the run-time entries themselves are reported with the others.
    public init(
        config base: ProxyConfig, environment original: EnvironmentSnapshot, registry: ProviderRegistry = .standard,
        runtime: RuntimeConfig = .empty
    ) {
        self.base = base
        self.runtime = runtime
        self.environment = original
        self.registry = registry
        self.restriction = []
        self.features = runtime.features.mapValues(FeatureRoute.init)
        var flags: [FlagCapability: FeatureFlag] = [:]
        for capability in FlagCapability.allCases { flags[capability] = runtime.flags[capability.rawValue] }
        self.capabilityFlags = flags
        let config = base.overlaid(with: runtime)
        var environment = original
        for (name, value) in config.environmentVariables { environment.values[name] = value }
        var resolver = DeploymentResolver(
            environment: environment, registry: registry, settings: config.settings, catalog: config.catalog)
        var deployments: [Deployment] = []
        var seenIDs: [String: Int] = [:]
        var countByAlias: [String: Int] = [:]
        for entry in config.deployments {
            countByAlias[entry.alias, default: 0] += 1
            let fallbackID = "\(entry.alias)#\(countByAlias[entry.alias, default: 1])"
            var deployment = resolver.resolve(entry, fallbackID: fallbackID)
            if let first = seenIDs[deployment.id] {
                deployment = deployment.disabled(
                    reason: "duplicate deployment id '\(deployment.id)' (already used by model_list entry \(first + 1))",
                    fix: "give each entry a unique model_info.id")
            } else {
                seenIDs[deployment.id] = entry.index
            }
            deployments.append(deployment)
        }
        var diagnostics = runtime.diagnostics + resolver.diagnostics
        let known = Set(config.deployments.map(\.alias))
        let named =
            [
                config.settings.fallbacks, config.settings.contextWindowFallbacks, config.settings.rateLimitFallbacks,
                config.settings.budgetFallbacks,
            ].flatMap { table in table.flatMap { [$0.key] + $0.value } }
            + config.settings.defaultFallbacks
        for feature in runtime.features.values.sorted(by: { $0.slug < $1.slug }) where !known.contains(feature.model) {
            diagnostics.append(
                ConfigDiagnostic(
                    .warning, "feature \(feature.slug) uses '\(feature.model)', which is not a model alias",
                    fix: "point it at a model_name (feature/update)"))
        }
        for alias in Set(named).sorted() where !known.contains(alias) {
            diagnostics.append(
                ConfigDiagnostic(
                    .warning, "fallbacks name '\(alias)', which is not a model alias",
                    fix: "use a model_name from model_list (\(known.sorted().prefix(5).joined(separator: ", ")))"))
        }
        for deployment in deployments {
            if let served = deployment.retirementSummary {
                diagnostics.append(
                    ConfigDiagnostic(
                        .warning,
                        "model \(deployment.alias): \(deployment.qualifiedModel) is retired; the upstream serves it as \(served)",
                        fix: "point litellm_params.model at a current model (switchyard models catalog lists them)",
                        at: deployment.location))
            }
            if case .disabled(let reason, let fix) = deployment.status {
                diagnostics.append(
                    ConfigDiagnostic(.warning, "model \(deployment.alias) disabled: \(reason)", fix: fix, at: deployment.location)
                )
            }
        }
        self.deployments = deployments
        self.settings = config.settings
        self.catalogFile = config.modelCatalogFile
        self.masterKey = resolver.resolveMasterKey(&diagnostics)
        self.database = Self.resolveDatabase(config: config, environment: environment, diagnostics: &diagnostics)
        self.diagnostics = diagnostics
        (self.byAlias, self.aliases, self.enabledAliases) = Self.index(deployments)
    }

    /// Deployment positions by alias, aliases in first-appearance order, and the aliases that can serve.
    private static func index(_ deployments: [Deployment]) -> ([String: [Int]], [String], [String]) {
        var byAlias: [String: [Int]] = [:]
        var aliases: [String] = []
        var serving: Set<String> = []
        for (index, deployment) in deployments.enumerated() {
            if byAlias[deployment.alias] == nil { aliases.append(deployment.alias) }
            byAlias[deployment.alias, default: []].append(index)
            if deployment.status.isEnabled { serving.insert(deployment.alias) }
        }
        return (byAlias, aliases, aliases.filter { serving.contains($0) })
    }

    /// Every deployment of an alias, enabled or not; nil for an unknown alias.
    public func deployments(for alias: String) -> [Deployment]? {
        byAlias[alias].map { $0.map { deployments[$0] } }
    }

    /// Aliases with at least one enabled deployment, in first-appearance order.
    public let enabledAliases: [String]

    /// Aliases with no enabled deployment.
    public var disabledAliases: [String] {
        let serving = Set(enabledAliases)
        return aliases.filter { !serving.contains($0) }
    }

    /// Keeps only the named aliases; unknown names are returned separately.
    public func restricted(to names: [String]) -> (table: ModelTable, unknown: [String]) {
        guard !names.isEmpty else { return (self, []) }
        let unknown = names.filter { byAlias[$0] == nil }
        let wanted = Set(names)
        return (ModelTable(copying: self, restriction: names, keeping: { wanted.contains($0.alias) }), unknown)
    }

    /// The same file and environment with another run-time configuration laid over it (and the same restriction).
    public func with(runtime: RuntimeConfig) -> ModelTable {
        ModelTable(config: base, environment: environment, registry: registry, runtime: runtime)
            .restricted(to: restriction).table
    }

    private init(copying table: ModelTable, restriction: [String], keeping keep: (Deployment) -> Bool) {
        let kept = table.deployments.filter(keep)
        self.base = table.base
        self.runtime = table.runtime
        self.environment = table.environment
        self.registry = table.registry
        self.restriction = restriction
        self.features = table.features
        self.capabilityFlags = table.capabilityFlags
        self.deployments = kept
        self.settings = table.settings
        self.masterKey = table.masterKey
        self.database = table.database
        self.catalogFile = table.catalogFile
        self.diagnostics = table.diagnostics
        (self.byAlias, self.aliases, self.enabledAliases) = Self.index(kept)
    }

    /// `general_settings.database_url`, else `SWITCHYARD_DATABASE_URL`, else `DATABASE_URL`, else `switchyard.db`
    /// beside the config. An unusable URL is an error: storage stays off rather than guessing.
    static func resolveDatabase(
        config: ProxyConfig, environment: EnvironmentSnapshot, diagnostics: inout [ConfigDiagnostic]
    ) -> Resolved<DatabaseLocation> {
        let directory = DatabaseLocation.directory(of: config.path)
        var candidates: [(String, ValueSource)] = []
        switch config.settings.databaseURL {
        case .literal(let text)?: candidates.append((text, .settings))
        case .environment(let name)?:
            if let text = environment[name], !text.isEmpty { candidates.append((text, .settingsEnvironment(name))) }
        case nil: break
        }
        for name in ["SWITCHYARD_DATABASE_URL", "DATABASE_URL"] {
            if let text = environment[name], !text.isEmpty { candidates.append((text, .environment(name))) }
        }
        guard let (text, source) = candidates.first else {
            return Resolved(DatabaseLocation.defaultLocation(configPath: config.path), from: .providerDefault)
        }
        switch DatabaseLocation.parse(text, relativeTo: directory) {
        case .success(let location): return Resolved(location, from: source)
        case .failure(let problem):
            diagnostics.append(
                ConfigDiagnostic(
                    .error, "database URL from \(source) is not usable: \(problem.message)",
                    fix: "write general_settings.database_url: sqlite:switchyard.db, postgres://USER:PASSWORD@HOST/DB or none"))
            return Resolved(.none, from: source)
        }
    }

    /// Every secret in the table (keys, master key, secret-looking header values), for the redactor.
    public var secrets: [String] {
        var values = deployments.compactMap { $0.apiKey?.value.revealed }
        if let masterKey { values.append(masterKey.value.revealed) }
        if case .postgres(let url) = database.value {
            values.append(url.revealed)
            if let password = URLComponents(string: url.revealed)?.password, password.count >= 4 { values.append(password) }
        }
        for deployment in deployments {
            for header in deployment.extraHeaders where HeaderPolicy.isSensitive(header.name) {
                values.append(header.value)
            }
        }
        return values
    }
}

extension Deployment {
    /// A copy marked disabled.
    func disabled(reason: String, fix: String) -> Deployment {
        Deployment(
            id: id, alias: alias, providerName: providerName, provider: provider, upstreamModel: upstreamModel,
            baseURL: baseURL, apiKey: apiKey, status: .disabled(reason: reason, fix: fix), dropParams: dropParams,
            additionalDropParams: additionalDropParams, extraHeaders: extraHeaders, timeouts: timeouts, prices: prices,
            location: location, weight: weight, numRetries: numRetries, limits: limits, facts: facts,
            supportedEndpoints: supportedEndpoints, origin: origin, retryStrategy: retryStrategy)
    }
}

/// Resolves one entry at a time: provider, key and base URL precedence, validation.
struct DeploymentResolver {
    let environment: EnvironmentSnapshot
    let registry: ProviderRegistry
    let settings: ProxySettings
    let catalog: ModelCatalog
    var diagnostics: [ConfigDiagnostic] = []

    init(environment: EnvironmentSnapshot, registry: ProviderRegistry, settings: ProxySettings, catalog: ModelCatalog) {
        self.environment = environment
        self.registry = registry
        self.settings = settings
        self.catalog = catalog
    }

    /// Splits `provider/model`, inferring the provider for bare Grok and OpenAI model names as LiteLLM does.
    func splitModel(_ entry: DeploymentEntry) -> (provider: String, model: String) {
        if let custom = entry.customProvider {
            let prefix = custom + "/"
            return (
                custom.lowercased(), entry.model.hasPrefix(prefix) ? String(entry.model.dropFirst(prefix.count)) : entry.model
            )
        }
        if let slash = entry.model.firstIndex(of: "/") {
            return (entry.model[..<slash].lowercased(), String(entry.model[entry.model.index(after: slash)...]))
        }
        let lowered = entry.model.lowercased()
        if lowered.hasPrefix("grok") { return ("xai", entry.model) }
        if ["gpt-", "o1", "o3", "o4", "text-embedding-", "chatgpt-"].contains(where: { lowered.hasPrefix($0) }) {
            return ("openai", entry.model)
        }
        return ("", entry.model)
    }

    /// The value of a config string, or the variable it names when that is unset.
    func value(of text: ConfigString) -> Result<(String, ValueSource), UnsetVariable> {
        switch text {
        case .literal(let value): return .success((value, .modelEntry))
        case .environment(let name):
            guard let value = environment[name] else { return .failure(UnsetVariable(name: name)) }
            return .success((value, .modelEntryEnvironment(name)))
        }
    }

    struct UnsetVariable: Error {
        let name: String
    }

    mutating func resolve(_ entry: DeploymentEntry, fallbackID: String) -> Deployment {
        let (providerName, upstreamModel) = splitModel(entry)
        let provider = registry.profile(named: providerName)
        let facts = catalog.facts(provider: providerName, model: upstreamModel)
        // A reasoning model's inherited timeouts are raised to the catalog's floors; the entry's own always win.
        let timeouts = entry.timeouts.inheriting(from: settings.timeouts.raised(to: facts.minimumTimeouts))
        var problems: [(reason: String, fix: String)] = []

        if providerName.isEmpty {
            problems.append(
                (
                    "model '\(entry.model)' names no provider",
                    "write it as provider/model, e.g. xai/\(entry.model) (providers: \(registry.names.joined(separator: ", ")))"
                ))
        } else if provider == nil {
            let suggestion = Spelling.suggestion(for: providerName, among: registry.names)
            problems.append(
                (
                    "unknown provider '\(providerName)' in '\(entry.model)'",
                    suggestion.map { "did you mean \($0)/\(upstreamModel)?" }
                        ?? "use one of: \(registry.names.joined(separator: ", ")), e.g. xai/grok-code-fast-1"
                ))
        }
        if upstreamModel.isEmpty {
            problems.append(("model '\(entry.model)' has no model name after the provider", "write provider/model"))
        }

        // Base URL: model entry, then provider environment, then provider default.
        var baseURL: Resolved<String>?
        if let apiBase = entry.apiBase {
            switch value(of: apiBase) {
            case .success(let (text, source)): baseURL = Resolved(text, from: source)
            case .failure(let unset):
                problems.append(("api_base names os.environ/\(unset.name), which is not set", "set \(unset.name)"))
            }
        } else if let provider {
            if let name = provider.baseURLVariables.first(where: { environment[$0] != nil }), let text = environment[name] {
                baseURL = Resolved(text, from: .environment(name))
            } else if let text = provider.defaultBaseURL {
                baseURL = Resolved(text, from: .providerDefault)
            }
        }
        if let url = baseURL {
            let trimmed = url.value.hasSuffix("/") ? String(url.value.dropLast()) : url.value
            baseURL = Resolved(trimmed, from: url.source)
            if let problem = Self.urlProblem(trimmed) {
                problems.append(
                    ("base URL from \(url.source) \(problem)", "use an http(s) URL such as https://api.x.ai/v1"))
            }
        }

        // Key: model entry, then provider environment. Keys have no default.
        var apiKey: Resolved<Secret>?
        if let key = entry.apiKey {
            switch value(of: key) {
            case .success(let (text, source)):
                if text.isEmpty {
                    problems.append(("api_key is empty", "set api_key or remove it to use the provider's environment variable"))
                } else {
                    apiKey = Resolved(Secret(text), from: source)
                }
            case .failure(let unset):
                problems.append(("api_key names os.environ/\(unset.name), which is not set", "set \(unset.name)"))
            }
        } else if let provider, let name = provider.keyVariables.first(where: { environment[$0] != nil }),
            let text = environment[name]
        {
            apiKey = Resolved(Secret(text), from: .environment(name))
        }
        // A key pasted with its line break would break the request head: the model is disabled instead.
        if let key = apiKey, key.value.revealed.utf8.contains(where: { $0 == 0x0A || $0 == 0x0D || $0 == 0 }) {
            problems.append(
                (
                    "the API key from \(key.source) holds a line break or NUL",
                    "remove the line break (or stray character) from the key"
                ))
        }
        if entry.apiKey == nil, apiKey == nil, let provider {
            let needsKey: Bool
            switch provider.keyRequirement {
            case .always: needsKey = true
            case .never: needsKey = false
            case .whenDefaultBaseURL: needsKey = baseURL?.source == .providerDefault
            }
            if needsKey {
                let variables = provider.keyVariables
                let names =
                    variables.count > 1
                    ? "\(variables[0]) (or \(variables.dropFirst().joined(separator: ", ")))" : (variables.first ?? "a key")
                problems.append(
                    (
                        "no API key for provider \(provider.name)",
                        "set \(names), or api_key in the model entry"
                    ))
            }
        }

        // Extra headers may reference the environment too.
        var headers: [(name: String, value: String)] = []
        for header in entry.extraHeaders {
            switch value(of: header.value) {
            case .success(let (text, _)):
                if let problem = HeaderPolicy.problem(name: header.name, value: text) {
                    problems.append(("extra_headers.\(header.name) \(problem)", "remove or rename that header"))
                } else {
                    headers.append((header.name, text))
                }
            case .failure(let unset):
                problems.append(
                    ("extra_headers.\(header.name) names os.environ/\(unset.name), which is not set", "set \(unset.name)"))
            }
        }

        // `model_info.supported_endpoints`: the upstream endpoints this proxy sends to, written with or without
        // `/v1`; other APIs LiteLLM lists there (its messages, images, audio...) say nothing to this proxy.
        var supportedEndpoints: Set<UpstreamEndpoint>?
        if let written = entry.supportedEndpoints {
            var endpoints = Set<UpstreamEndpoint>()
            for text in written {
                var path = Substring(text.trimmingCharacters(in: .whitespaces))
                if path.hasPrefix("/") { path = path.dropFirst() }
                if path.hasPrefix("v1/") { path = path.dropFirst(3) }
                if let endpoint = UpstreamEndpoint(rawValue: String(path)) {
                    endpoints.insert(endpoint)
                } else if !Self.otherAPIs.contains(where: { path.hasPrefix($0) }) {
                    problems.append(
                        (
                            "model_info.supported_endpoints names '\(text)', which is no API this proxy knows",
                            "use /v1/chat/completions, /v1/completions, /v1/embeddings or /v1/responses"
                        ))
                }
            }
            supportedEndpoints = endpoints
        }

        let status: DeploymentStatus
        if let first = problems.first {
            let reason = problems.map(\.reason).joined(separator: "; ")
            let fix = problems.count > 1 ? problems.map(\.fix).joined(separator: "; ") : first.fix
            status = .disabled(reason: reason, fix: fix)
        } else {
            status = .enabled
        }
        return Deployment(
            id: entry.id ?? fallbackID,
            alias: entry.alias,
            providerName: providerName,
            provider: provider,
            upstreamModel: upstreamModel,
            baseURL: baseURL,
            apiKey: apiKey,
            status: status,
            dropParams: entry.dropParams ?? settings.dropParams,
            additionalDropParams: entry.additionalDropParams,
            extraHeaders: headers,
            timeouts: timeouts,
            prices: entry.prices,
            location: entry.location,
            weight: entry.weight ?? entry.rpm ?? 1,
            numRetries: entry.numRetries,
            limits: DeploymentLimits(
                requestsPerMinute: entry.rpm.map { Int($0) }, tokensPerMinute: entry.tpm,
                maxParallelRequests: entry.maxParallelRequests, maxInputTokens: entry.maxInputTokens,
                requestsPerDay: entry.rpd),
            facts: facts, supportedEndpoints: supportedEndpoints, origin: entry.origin, retryStrategy: entry.retryStrategy)
    }

    /// APIs LiteLLM's `supported_endpoints` may list that this proxy does not send upstream (ignored there).
    static let otherAPIs = [
        "messages", "images/", "audio/", "rerank", "moderations", "batches", "files", "realtime", "vector_stores",
        "ocr", "search", "videos", "containers", "a2a", "mcp",
    ]

    /// Why `text` is not a usable base URL, or nil.
    static func urlProblem(_ text: String) -> String? {
        guard let components = URLComponents(string: text), let scheme = components.scheme?.lowercased() else {
            return "is not a valid URL"
        }
        guard scheme == "http" || scheme == "https" else { return "uses scheme '\(scheme)', not http or https" }
        guard let host = components.host, !host.isEmpty else { return "has no host" }
        return nil
    }

    mutating func resolveMasterKey(_ diagnostics: inout [ConfigDiagnostic]) -> Resolved<Secret>? {
        switch settings.masterKey {
        case nil: return nil
        case .literal(let text):
            if text.isEmpty { return nil }
            if !text.hasPrefix("sk-") {
                diagnostics.append(
                    ConfigDiagnostic(
                        .warning, "general_settings.master_key does not start with 'sk-'",
                        fix: "LiteLLM requires master keys to start with sk-; Switchyard accepts it as is"))
            }
            return Resolved(Secret(text), from: .settings)
        case .environment(let name):
            guard let text = environment[name] else {
                diagnostics.append(
                    ConfigDiagnostic(
                        .warning, "general_settings.master_key names os.environ/\(name), which is not set: clients need no key",
                        fix: "set \(name) to require a key from clients"))
                return nil
            }
            return Resolved(Secret(text), from: .settingsEnvironment(name))
        }
    }
}
