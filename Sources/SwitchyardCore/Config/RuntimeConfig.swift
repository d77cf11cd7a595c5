/// One run-time configuration entry as the database keeps it: a kind (`model`, ...), a name unique within it, and
/// its JSON body.
public struct ConfigRecord: Sendable, Equatable {
    /// What it configures: `model` (a deployment, by id).
    public var kind: String
    /// Its name within the kind: a deployment's id.
    public var name: String
    /// The entry as JSON text.
    public var body: String
    /// When it was last changed (Unix seconds).
    public var changedAt: Double
    /// Who changed it: `master_key`, or `cli:USER`.
    public var changedBy: String

    /// A record.
    public init(kind: String, name: String, body: String, changedAt: Double, changedBy: String) {
        self.kind = kind
        self.name = name
        self.body = body
        self.changedAt = changedAt
        self.changedBy = changedBy
    }
}

/// One change to the run-time configuration, written with its audit row in one transaction.
public struct ConfigChange: Sendable, Equatable {
    /// The record's kind.
    public var kind: String
    /// The record's name.
    public var name: String
    /// The new body; nil removes the record.
    public var body: String?
    /// What happened, for the audit: `create`, `update`, `delete`, `import`.
    public var action: String
    /// Who: `master_key`, or `cli:USER`.
    public var actor: String
    /// When (Unix seconds).
    public var time: Double

    /// A change.
    public init(kind: String, name: String, body: String?, action: String, actor: String, time: Double) {
        self.kind = kind
        self.name = name
        self.body = body
        self.action = action
        self.actor = actor
        self.time = time
    }
}

/// One audit row: a change to the run-time configuration, numbered by revision, with the body before and after.
public struct ConfigAuditRow: Sendable, Equatable {
    /// The change's revision: audit rows are numbered from 1 across the whole configuration.
    public var revision: Int
    /// When (Unix seconds).
    public var time: Double
    /// Who.
    public var actor: String
    /// The record's kind.
    public var kind: String
    /// The record's name.
    public var name: String
    /// `create`, `update`, `delete`, `import`.
    public var action: String
    /// The body before the change; nil when there was none.
    public var before: String?
    /// The body after the change; nil when removed.
    public var after: String?

    /// An audit row.
    public init(
        revision: Int, time: Double, actor: String, kind: String, name: String, action: String, before: String?,
        after: String?
    ) {
        self.revision = revision
        self.time = time
        self.actor = actor
        self.kind = kind
        self.name = name
        self.action = action
        self.before = before
        self.after = after
    }
}

/// Where a deployment's entry came from.
public enum DeploymentOrigin: Sendable, Equatable {
    /// The config file's `model_list`.
    case file
    /// The database (`/model/new` or `/model/update`), changed at a time by someone; `overridesFile` when it replaces
    /// an entry of the file with the same id.
    case database(changedAt: Double, changedBy: String, overridesFile: Bool)

    /// `file` or `database`.
    public var name: String {
        switch self {
        case .file: "file"
        case .database: "database"
        }
    }
}

/// A deployment the database adds, replaces or hides.
public struct RuntimeModel: Sendable, Equatable {
    /// The deployment's id (`model_info.id`).
    public var id: String
    /// The entry; nil when the record hides the file's deployment of this id (`/model/delete` of a file model).
    public var entry: DeploymentEntry?
    /// The body as stored.
    public var body: String
    /// When it was changed.
    public var changedAt: Double
    /// Who changed it.
    public var changedBy: String

    /// A model.
    public init(id: String, entry: DeploymentEntry?, body: String, changedAt: Double, changedBy: String) {
        self.id = id
        self.entry = entry
        self.body = body
        self.changedAt = changedAt
        self.changedBy = changedBy
    }
}

/// What operators changed at run time, read from the database. It is laid over the file's config: its entries win.
public struct RuntimeConfig: Sendable, Equatable {
    /// The newest change's revision: 0 when nothing was ever changed.
    public var revision: Int
    /// Deployments by id, in id order.
    public var models: [RuntimeModel]
    /// Feature endpoints by slug, each with its active prompt filled in.
    public var features: [String: FeatureEndpoint] = [:]
    /// Every prompt version, by slug and version.
    public var prompts: [String: [Int: PromptVersion]] = [:]
    /// Feature flags by name.
    public var flags: [String: FeatureFlag] = [:]
    /// Fallback chains by record name (`model:trigger`).
    public var fallbacks: [String: FallbackChain] = [:]
    /// Rate-limit configurations by alias or deployment id.
    public var rateLimits: [String: RateLimitConfig] = [:]
    /// Records left out because they no longer read (warnings: everything else serves).
    public var diagnostics: [ConfigDiagnostic]

    /// Nothing changed at run time.
    public static let empty = RuntimeConfig(revision: 0, models: [])

    /// A configuration.
    public init(revision: Int, models: [RuntimeModel], diagnostics: [ConfigDiagnostic] = []) {
        self.revision = revision
        self.models = models
        self.diagnostics = diagnostics
    }

    /// The record kinds, as the database names them.
    public enum Kind: String, Sendable, CaseIterable {
        case model, feature, prompt, flag, fallback
        case rateLimit = "rate_limit"
    }

    /// The record name of a prompt version.
    public static func promptName(slug: String, version: Int) -> String { "\(slug)#\(version)" }

    /// The features with their active prompts filled in (a version that does not exist leaves the feature without
    /// one, with a warning).
    public mutating func linkPrompts() {
        for (slug, var feature) in features {
            feature.prompt = feature.promptVersion.flatMap { prompts[slug]?[$0] }
            if let version = feature.promptVersion, feature.prompt == nil {
                diagnostics.append(
                    ConfigDiagnostic(
                        .warning, "feature \(slug): prompt version \(version) does not exist; it serves without a prompt",
                        fix: "activate an existing version"))
            }
            features[slug] = feature
        }
    }

    /// The model of an id, when the database has one.
    public func model(id: String) -> RuntimeModel? { models.first { $0.id == id } }

    /// This configuration with one model's record replaced (nil: removed), as a change would leave it.
    public func replacing(model id: String, with model: RuntimeModel?) -> RuntimeConfig {
        var result = self
        result.models.removeAll { $0.id == id }
        if let model { result.models.append(model) }
        result.models.sort { $0.id < $1.id }
        return result
    }

    /// The record kind of a deployment.
    public static let modelKind = "model"
    /// The body of a record that hides the file's deployment.
    public static let hiddenBody = #"{"deleted":true}"#

    /// Reads the database's records. A record that no longer reads (written by a newer build, or edited by hand) is
    /// left out with a warning: the others still apply.
    public static func read(revision: Int, records: [ConfigRecord]) -> RuntimeConfig {
        var models: [RuntimeModel] = []
        var diagnostics: [ConfigDiagnostic] = []
        var config = RuntimeConfig(revision: revision, models: [])
        for record in records.sorted(by: { ($0.kind, $0.name) < ($1.kind, $1.name) }) {
            guard let kind = Kind(rawValue: record.kind) else {
                diagnostics.append(
                    ConfigDiagnostic(
                        .warning, "the database holds a run-time '\(record.kind)' entry this build does not know; it is ignored",
                        fix: "upgrade Switchyard, or delete the entry"))
                continue
            }
            guard kind == .model else {
                if let problem = config.readEntry(kind: kind, record: record) {
                    diagnostics.append(
                        ConfigDiagnostic(
                            .warning, "run-time \(record.kind) \(record.name) left out: \(problem)",
                            fix: "change it through the admin API, or delete it"))
                }
                continue
            }
            var model = RuntimeModel(
                id: record.name, entry: nil, body: record.body, changedAt: record.changedAt, changedBy: record.changedBy)
            if record.body != hiddenBody {
                let parsed = ConfigLoader.parseModelEntry(record.body, path: "database model \(record.name)")
                guard var entry = parsed.entry, !parsed.hasErrors else {
                    // A warning: the file's models and the other entries still serve.
                    for problem in parsed.diagnostics where problem.severity == .error {
                        diagnostics.append(
                            ConfigDiagnostic(
                                .warning, "run-time model \(record.name) left out: \(problem.message)", fix: problem.fix,
                                at: problem.location))
                    }
                    continue
                }
                entry.id = record.name
                model.entry = entry
            }
            models.append(model)
        }
        config.models = models
        config.diagnostics = diagnostics
        config.linkPrompts()
        return config
    }

    /// Reads one record of a kind other than `model` into this configuration; the problem when it does not read.
    mutating func readEntry(kind: Kind, record: ConfigRecord) -> String? {
        guard let object = (try? JSONParser.parse(record.body))?.objectValue else { return "its body is not a JSON object" }
        switch kind {
        case .model: return "not an entry of this kind"
        case .feature:
            switch FeatureEndpoint.read(object) {
            case .success(let feature): features[feature.slug] = feature
            case .failure(let error): return error.description
            }
        case .prompt:
            guard let slug = object["slug"]?.stringValue, let version = object["version"]?.intValue else {
                return "it has no slug and version"
            }
            switch PromptVersion.read(slug: slug, version: version, object) {
            case .success(let prompt): prompts[slug, default: [:]][version] = prompt
            case .failure(let error): return error.description
            }
        case .flag:
            switch FeatureFlag.read(object) {
            case .success(let flag): flags[flag.name] = flag
            case .failure(let error): return error.description
            }
        case .fallback:
            switch FallbackChain.read(object) {
            case .success(let chain): fallbacks[chain.name] = chain
            case .failure(let error): return error.description
            }
        case .rateLimit:
            switch RateLimitConfig.read(object) {
            case .success(let limit): rateLimits[limit.model] = limit
            case .failure(let error): return error.description
            }
        }
        return nil
    }
}

extension ProxyConfig {
    /// The id each file entry's deployment gets: `model_info.id`, else `alias#N`.
    public var deploymentIDs: [String] {
        var countByAlias: [String: Int] = [:]
        return deployments.map { entry in
            countByAlias[entry.alias, default: 0] += 1
            return entry.id ?? "\(entry.alias)#\(countByAlias[entry.alias, default: 1])"
        }
    }

    /// This config with the run-time entries laid over it: a database deployment replaces the file's of the same id
    /// (in its place), a hidden one removes it, and the others are added after the file's.
    public func overlaid(with runtime: RuntimeConfig) -> ProxyConfig {
        var result = overlaidModels(runtime)
        for chain in runtime.fallbacks.values {
            switch chain.trigger {
            case .onError: result.settings.fallbacks[chain.model] = chain.chain
            case .onRateLimit: result.settings.rateLimitFallbacks[chain.model] = chain.chain
            case .onContextWindow: result.settings.contextWindowFallbacks[chain.model] = chain.chain
            case .onBudgetExceeded: result.settings.budgetFallbacks[chain.model] = chain.chain
            }
        }
        guard !runtime.rateLimits.isEmpty else { return result }
        for (index, id) in result.deploymentIDs.enumerated() {
            // A deployment's own configuration wins over its alias's.
            guard let limit = runtime.rateLimits[id] ?? runtime.rateLimits[result.deployments[index].alias] else {
                continue
            }
            if let rpm = limit.effective(limit.rpm) { result.deployments[index].rpm = Double(rpm) }
            if let tpm = limit.effective(limit.tpm) { result.deployments[index].tpm = tpm }
            if let rpd = limit.effective(limit.rpd) { result.deployments[index].rpd = rpd }
            if let backoff = limit.backoff { result.deployments[index].retryStrategy = backoff }
        }
        return result
    }

    /// The models of `overlaid(with:)` alone: rate limits and fallback chains not applied.
    public func overlaidModels(_ runtime: RuntimeConfig) -> ProxyConfig {
        guard !runtime.models.isEmpty else { return self }
        var byID: [String: RuntimeModel] = [:]
        for model in runtime.models { byID[model.id] = model }
        var result = self
        result.deployments = []
        var used: Set<String> = []
        for (entry, id) in zip(deployments, deploymentIDs) {
            guard let model = byID[id] else {
                // Its id made explicit: hiding an earlier entry of its alias must not renumber it.
                var entry = entry
                entry.id = id
                result.deployments.append(entry)
                continue
            }
            used.insert(id)
            guard var replacement = model.entry else { continue }
            replacement.index = entry.index
            replacement.origin = .database(changedAt: model.changedAt, changedBy: model.changedBy, overridesFile: true)
            result.deployments.append(replacement)
        }
        for model in runtime.models where !used.contains(model.id) {
            guard var entry = model.entry else { continue }
            entry.index = result.deployments.count
            entry.origin = .database(changedAt: model.changedAt, changedBy: model.changedBy, overridesFile: false)
            result.deployments.append(entry)
        }
        return result
    }
}
