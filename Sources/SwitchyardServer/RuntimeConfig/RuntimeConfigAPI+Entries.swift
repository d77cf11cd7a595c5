import Foundation
import SwitchyardCore
import SwitchyardStorage

/// Feature endpoints, prompt versions, feature flags, fallback chains and rate-limit configurations: each checked
/// against the configuration it joins, written with its audit row, and applied at once.
extension RuntimeConfigAPI {
    /// Writes `changes` in one transaction and applies them; answers the new revision.
    func commit(_ changes: [ConfigChange], reason: String) async throws(ProxyError) -> Int {
        let revision = try await call { try await $0.change(config: changes) }
        try await apply(reason)
        return revision
    }

    func change(_ kind: RuntimeConfig.Kind, _ name: String, _ body: JSONObject?, action: String, now: Date) -> ConfigChange {
        ConfigChange(
            kind: kind.rawValue, name: name, body: body.map { JSONValue.object($0).encodedString() }, action: action,
            actor: actor, time: now.timeIntervalSince1970)
    }

    static func refused(_ what: String, _ problems: [String]) -> ProxyError {
        ProxyError(
            status: 400, type: "invalid_request_error", code: "invalid_config_entry",
            message: "The \(what) was refused; nothing was changed: " + problems.joined(separator: "; ") + ".")
    }

    static func missing(_ what: String, _ name: String) -> ProxyError {
        ProxyError(
            status: 404, type: "invalid_request_error", code: "not_found", message: "No \(what) is named '\(name)'.")
    }

    // MARK: Feature endpoints

    /// `POST /feature/new` (`update: false`, refused when the slug exists) and `/feature/update` (merged into the
    /// existing one).
    public func setFeature(_ body: JSONObject, update: Bool, now: Date = Date()) async throws(ProxyError) -> JSONValue {
        guard let slug = body["slug"]?.stringValue, !slug.isEmpty else {
            throw .invalidRequest("'slug' is required: the name clients send as 'model'.", param: "slug")
        }
        let (runtime, table) = try await current()
        let existing = runtime.features[slug]
        if update, existing == nil { throw Self.missing("feature endpoint", slug) }
        if !update, existing != nil {
            throw ProxyError(
                status: 409, type: "invalid_request_error", code: "feature_exists",
                message: "The feature endpoint '\(slug)' exists; change it with /feature/update.", param: "slug")
        }
        let object = existing.map { $0.json.merging(body) } ?? body
        let feature: FeatureEndpoint
        switch FeatureEndpoint.read(object) {
        case .success(let read): feature = read
        case .failure(let error): throw Self.refused("feature endpoint", error.problems)
        }
        var problems: [String] = []
        if table.deployments(for: feature.model)?.contains(where: \.status.isEnabled) != true {
            problems.append("'model' names '\(feature.model)', which is no alias that serves")
        }
        if table.deployments(for: slug) != nil { problems.append("'\(slug)' is a model alias already; a slug must differ") }
        if let version = feature.promptVersion, runtime.prompts[slug]?[version] == nil {
            problems.append("prompt version \(version) of '\(slug)' does not exist")
        }
        guard problems.isEmpty else { throw Self.refused("feature endpoint", problems) }
        let revision = try await commit(
            [change(.feature, slug, feature.json, action: update ? "update" : "create", now: now)],
            reason: "feature \(slug) \(update ? "updated" : "created")")
        var answer = feature.json
        answer["revision"] = .int(revision)
        return .object(answer)
    }

    /// `GET /feature/list`: every feature endpoint with its prompt versions.
    public func listFeatures() async throws(ProxyError) -> JSONValue {
        let runtime = try await current().runtime
        return .object([
            "data": .array(
                runtime.features.values.sorted { $0.slug < $1.slug }.map { feature in
                    var object = feature.json
                    object["prompt_versions"] = .array(
                        (runtime.prompts[feature.slug] ?? [:]).keys.sorted().map { .int($0) })
                    return .object(object)
                })
        ])
    }

    // MARK: Prompts

    /// `POST /prompt/new`: the next version of a feature's prompt; made active unless `activate` is false.
    public func newPrompt(_ body: JSONObject, now: Date = Date()) async throws(ProxyError) -> JSONValue {
        guard let slug = body["slug"]?.stringValue, !slug.isEmpty else {
            throw .invalidRequest("'slug' is required: the feature endpoint the prompt belongs to.", param: "slug")
        }
        let runtime = try await current().runtime
        guard var feature = runtime.features[slug] else { throw Self.missing("feature endpoint", slug) }
        let version = (runtime.prompts[slug]?.keys.max() ?? 0) + 1
        let prompt: PromptVersion
        switch PromptVersion.read(slug: slug, version: version, body) {
        case .success(let read): prompt = read
        case .failure(let error): throw Self.refused("prompt", error.problems)
        }
        var changes = [
            change(.prompt, RuntimeConfig.promptName(slug: slug, version: version), prompt.json, action: "create", now: now)
        ]
        let activate = body["activate"]?.boolValue ?? true
        if activate {
            feature.promptVersion = version
            changes.append(change(.feature, slug, feature.json, action: "activate", now: now))
        }
        let revision = try await commit(changes, reason: "prompt \(slug) v\(version)")
        var answer = prompt.json
        answer["active"] = .bool(activate)
        answer["revision"] = .int(revision)
        return .object(answer)
    }

    /// `POST /prompt/activate` with `slug` and `version`: makes that version the active one (a rollback is the
    /// activation of an older one).
    public func activatePrompt(_ body: JSONObject, now: Date = Date()) async throws(ProxyError) -> JSONValue {
        guard let slug = body["slug"]?.stringValue, let version = body["version"]?.intValue else {
            throw .invalidRequest("'slug' and 'version' are required.", param: "version")
        }
        let runtime = try await current().runtime
        guard var feature = runtime.features[slug] else { throw Self.missing("feature endpoint", slug) }
        guard runtime.prompts[slug]?[version] != nil else { throw Self.missing("prompt version", "\(slug) v\(version)") }
        let previous = feature.promptVersion
        feature.promptVersion = version
        let revision = try await commit(
            [change(.feature, slug, feature.json, action: "activate", now: now)], reason: "prompt \(slug) v\(version) activated")
        return .object([
            "slug": .string(slug), "active_version": .int(version),
            "previous_version": previous.map { .int($0) } ?? .null, "revision": .int(revision),
        ])
    }

    /// `GET /prompt/list?slug=`: a feature's prompt versions, which one is active.
    public func listPrompts(slug: String) async throws(ProxyError) -> JSONValue {
        let runtime = try await current().runtime
        guard let feature = runtime.features[slug] else { throw Self.missing("feature endpoint", slug) }
        let versions = (runtime.prompts[slug] ?? [:]).values.sorted { $0.version < $1.version }
        return .object([
            "slug": .string(slug), "active_version": feature.promptVersion.map { .int($0) } ?? .null,
            "data": .array(versions.map { .object($0.json) }),
        ])
    }

    // MARK: Flags, fallback chains, rate limits

    /// `POST /flag/set`, `/fallback/set`, `/rate_limit/set`: creates or replaces one entry.
    public func set(_ kind: RuntimeConfig.Kind, _ body: JSONObject, now: Date = Date()) async throws(ProxyError) -> JSONValue {
        let (runtime, table) = try await current()
        let name: String
        let json: JSONObject
        var notes: [String] = []
        var problems: [String] = []
        func serves(_ alias: String) -> Bool { table.deployments(for: alias)?.contains(where: \.status.isEnabled) == true }
        switch kind {
        case .flag:
            switch FeatureFlag.read(body) {
            case .success(let flag):
                (name, json) = (flag.name, flag.json)
                if FlagCapability(rawValue: flag.name) == nil {
                    notes.append(
                        "'\(flag.name)' is kept for clients to read (GET /flag/list); the proxy itself checks "
                            + FlagCapability.allCases.map(\.rawValue).joined(separator: ", "))
                }
            case .failure(let error): throw Self.refused("flag", error.problems)
            }
        case .fallback:
            switch FallbackChain.read(body) {
            case .success(let chain):
                (name, json) = (chain.name, chain.json)
                if table.deployments(for: chain.model) == nil {
                    problems.append("'model' names '\(chain.model)', which is no alias")
                }
                for alias in chain.chain where !serves(alias) {
                    problems.append("'chain' names '\(alias)', which is no alias that serves")
                }
            case .failure(let error): throw Self.refused("fallback chain", error.problems)
            }
        case .rateLimit:
            switch RateLimitConfig.read(body) {
            case .success(let limit):
                (name, json) = (limit.model, limit.json)
                if table.deployments(for: limit.model) == nil, !table.deployments.contains(where: { $0.id == limit.model }) {
                    problems.append("'model' names '\(limit.model)', which is neither an alias nor a deployment id")
                }
            case .failure(let error): throw Self.refused("rate-limit configuration", error.problems)
            }
        case .model, .feature, .prompt:
            throw .invalidRequest("Use the \(kind.rawValue) routes for a \(kind.rawValue).")
        }
        guard problems.isEmpty else { throw Self.refused(kind.rawValue.replacingOccurrences(of: "_", with: "-"), problems) }
        let exists = Self.names(kind, runtime).contains(name)
        let revision = try await commit(
            [change(kind, name, json, action: exists ? "update" : "create", now: now)], reason: "\(kind.rawValue) \(name) set")
        var answer = json
        answer["revision"] = .int(revision)
        if !notes.isEmpty { answer["warnings"] = .array(notes.map { .string($0) }) }
        return .object(answer)
    }

    /// `POST /feature/delete` (`slug`, with its prompts), `/flag/delete` (`name`), `/fallback/delete` (`model`,
    /// `trigger`), `/rate_limit/delete` (`model`).
    public func remove(_ kind: RuntimeConfig.Kind, _ body: JSONObject, now: Date = Date()) async throws(ProxyError) -> JSONValue {
        let name: String
        switch kind {
        case .feature: name = body["slug"]?.stringValue ?? ""
        case .flag: name = body["name"]?.stringValue ?? ""
        case .fallback:
            name = "\(body["model"]?.stringValue ?? ""):\(body["trigger"]?.stringValue ?? FallbackTrigger.onError.rawValue)"
        case .rateLimit: name = body["model"]?.stringValue ?? ""
        case .model, .prompt: throw .invalidRequest("Use the \(kind.rawValue) routes for a \(kind.rawValue).")
        }
        let runtime = try await current().runtime
        guard Self.names(kind, runtime).contains(name) else { throw Self.missing(kind.rawValue, name) }
        var changes = [change(kind, name, nil, action: "delete", now: now)]
        if kind == .feature {
            for version in (runtime.prompts[name] ?? [:]).keys.sorted() {
                changes.append(
                    change(.prompt, RuntimeConfig.promptName(slug: name, version: version), nil, action: "delete", now: now))
            }
        }
        let revision = try await commit(changes, reason: "\(kind.rawValue) \(name) deleted")
        return .object(["deleted": .string(name), "revision": .int(revision)])
    }

    /// `GET /flag/list`, `/fallback/list`, `/rate_limit/list`.
    public func list(_ kind: RuntimeConfig.Kind) async throws(ProxyError) -> JSONValue {
        let runtime = try await current().runtime
        let items: [JSONObject] =
            switch kind {
            case .flag: runtime.flags.values.sorted { $0.name < $1.name }.map(\.json)
            case .fallback: runtime.fallbacks.values.sorted { $0.name < $1.name }.map(\.json)
            case .rateLimit: runtime.rateLimits.values.sorted { $0.model < $1.model }.map(\.json)
            case .feature, .prompt, .model: []
            }
        return .object(["data": .array(items.map { .object($0) })])
    }

    static func names(_ kind: RuntimeConfig.Kind, _ runtime: RuntimeConfig) -> Set<String> {
        switch kind {
        case .feature: Set(runtime.features.keys)
        case .flag: Set(runtime.flags.keys)
        case .fallback: Set(runtime.fallbacks.keys)
        case .rateLimit: Set(runtime.rateLimits.keys)
        case .model: Set(runtime.models.map(\.id))
        case .prompt: Set(runtime.prompts.flatMap { slug, versions in versions.keys.map { "\(slug)#\($0)" } })
        }
    }
}
