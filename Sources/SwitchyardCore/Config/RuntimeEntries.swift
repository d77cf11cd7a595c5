/// Reading helpers shared by the run-time entries: each collects its problems instead of stopping at the first.
struct EntryReader {
    let object: JSONObject
    var problems: [String] = []

    init(_ object: JSONObject, known: Set<String>) {
        self.object = object
        for key in object.keys where !known.contains(key) {
            let suggestion = Spelling.suggestion(for: key, among: known).map { " (did you mean '\($0)'?)" } ?? ""
            problems.append("unknown key '\(key)'\(suggestion)")
        }
    }

    mutating func string(_ key: String, required: Bool = false) -> String? {
        switch object[key] {
        case nil, .null?:
            if required { problems.append("'\(key)' is required") }
            return nil
        case .string(let text)? where !text.isEmpty: return text
        default:
            problems.append("'\(key)' must be a non-empty string")
            return nil
        }
    }

    mutating func bool(_ key: String) -> Bool? {
        switch object[key] {
        case nil, .null?: return nil
        case .bool(let value)?: return value
        default:
            problems.append("'\(key)' must be true or false")
            return nil
        }
    }

    mutating func number(_ key: String, in range: ClosedRange<Double> = 0...Double.greatestFiniteMagnitude) -> Double? {
        switch object[key] {
        case nil, .null?: return nil
        case let value? where value.doubleValue.map(range.contains) == true: return value.doubleValue
        default:
            problems.append("'\(key)' must be a number in \(range.lowerBound)...\(range.upperBound)")
            return nil
        }
    }

    mutating func integer(_ key: String) -> Int? {
        switch object[key] {
        case nil, .null?: return nil
        case let value? where (value.intValue ?? -1) >= 0: return value.intValue
        default:
            problems.append("'\(key)' must be a whole number, 0 or more")
            return nil
        }
    }

    mutating func strings(_ key: String, required: Bool = false) -> [String]? {
        switch object[key] {
        case nil, .null?:
            if required { problems.append("'\(key)' is required") }
            return nil
        case .array(let items)?:
            let texts = items.compactMap(\.stringValue).filter { !$0.isEmpty }
            if texts.count == items.count { return texts }
            fallthrough
        default:
            problems.append("'\(key)' must be a list of non-empty strings")
            return nil
        }
    }

    func result<T>(_ value: T) -> Result<T, RuntimeEntryError> {
        problems.isEmpty ? .success(value) : .failure(RuntimeEntryError(problems))
    }

    /// Whether a name is a usable slug or flag name: letters, digits, `_`, `-`, `.`, at most 64.
    static func isName(_ text: String) -> Bool {
        !text.isEmpty && text.utf8.count <= PromptText.maxNameLength && text.utf8.allSatisfy(PromptText.isNameByte)
    }
}

/// An app feature's endpoint: a slug clients send as `model` (or LiteLLM's `prompt_id`) that stands for an alias,
/// default parameters and a versioned prompt.
public struct FeatureEndpoint: Sendable, Equatable {
    /// The slug (`document_summary`).
    public var slug: String
    /// The alias it uses.
    public var model: String
    /// Parameters added to each request (`temperature`, `max_tokens`, `top_p`, ...).
    public var defaults: JSONObject
    /// Whether a request may stream.
    public var streamAllowed: Bool
    /// Whether it serves at all.
    public var active: Bool
    /// Which of the defaults a request's own value replaces: all (true), none (false), or those listed.
    public var clientOverrides: Set<String>?
    /// The active prompt version; nil: no prompt.
    public var promptVersion: Int?
    /// The active prompt, filled in when the configuration is read.
    public var prompt: PromptVersion?

    /// A feature.
    public init(
        slug: String, model: String, defaults: JSONObject = [:], streamAllowed: Bool = true, active: Bool = true,
        clientOverrides: Set<String>? = nil, promptVersion: Int? = nil
    ) {
        self.slug = slug
        self.model = model
        self.defaults = defaults
        self.streamAllowed = streamAllowed
        self.active = active
        self.clientOverrides = clientOverrides
        self.promptVersion = promptVersion
    }

    /// Whether a request's own value of `parameter` wins over the default.
    public func clientMayOverride(_ parameter: String) -> Bool {
        clientOverrides?.contains(parameter) ?? true
    }

    static let known: Set<String> = [
        "slug", "model", "defaults", "stream_allowed", "active", "client_overrides", "prompt_version",
    ]

    /// Reads a stored or posted body.
    public static func read(_ object: JSONObject) -> Result<FeatureEndpoint, RuntimeEntryError> {
        var reader = EntryReader(object, known: known)
        let slug = reader.string("slug", required: true) ?? ""
        if !slug.isEmpty, !EntryReader.isName(slug) {
            reader.problems.append("'slug' may hold letters, digits, '_', '-' and '.' only (64 at most)")
        }
        let model = reader.string("model", required: true) ?? ""
        var defaults = JSONObject()
        switch object["defaults"] {
        case nil, .null?: break
        case .object(let given)?:
            defaults = given
            for name in ["model", "messages", "stream", "prompt_id", "prompt_variables"] where given[name] != nil {
                reader.problems.append("'defaults' may not set '\(name)'")
            }
            for name in ["temperature", "top_p", "frequency_penalty", "presence_penalty"] {
                if let value = given[name], value != .null, value.doubleValue == nil {
                    reader.problems.append("'defaults.\(name)' must be a number")
                }
            }
            for name in ["max_tokens", "max_completion_tokens", "n", "seed"] {
                if let value = given[name], value != .null, value.intValue == nil {
                    reader.problems.append("'defaults.\(name)' must be a whole number")
                }
            }
        default: reader.problems.append("'defaults' must be an object of request parameters")
        }
        var overrides: Set<String>?
        switch object["client_overrides"] {
        case nil, .null?, .bool(true)?: overrides = nil
        case .bool(false)?: overrides = []
        case .array?: overrides = reader.strings("client_overrides").map(Set.init)
        default: reader.problems.append("'client_overrides' must be true, false or a list of parameter names")
        }
        var feature = FeatureEndpoint(
            slug: slug, model: model, defaults: defaults, streamAllowed: reader.bool("stream_allowed") ?? true,
            active: reader.bool("active") ?? true, clientOverrides: overrides)
        feature.promptVersion = reader.integer("prompt_version")
        return reader.result(feature)
    }

    /// The body it is kept as (without the prompt itself).
    public var json: JSONObject {
        var object: JSONObject = [
            "slug": .string(slug), "model": .string(model), "defaults": .object(defaults),
            "stream_allowed": .bool(streamAllowed), "active": .bool(active),
        ]
        if let clientOverrides { object["client_overrides"] = .array(clientOverrides.sorted().map { .string($0) }) }
        if let promptVersion { object["prompt_version"] = .int(promptVersion) }
        return object
    }
}

/// A feature endpoint as the request path uses it: one reference to look up, its defaults listed with whether a
/// request's own value wins.
public final class FeatureRoute: Sendable {
    /// The feature.
    public let feature: FeatureEndpoint
    /// Its defaults, in order.
    public let defaults: [(name: String, value: JSONValue, clientMayOverride: Bool)]

    /// The route of a feature.
    public init(_ feature: FeatureEndpoint) {
        self.feature = feature
        self.defaults = feature.defaults.map { ($0.key, $0.value, feature.clientMayOverride($0.key)) }
    }
}

/// A capability a flag can turn off.
public enum FlagCapability: String, Sendable, CaseIterable {
    /// `stream: true`.
    case streaming = "enable_streaming"
    /// `tools`, `functions` or `tool_choice`.
    case toolUse = "enable_tool_use"
    /// Image inputs.
    case vision = "enable_vision"
}

/// A feature flag: on or off for everyone, with overrides for a team, a key tier, or one key.
public struct FeatureFlag: Sendable, Equatable {
    /// One override.
    public struct Override: Sendable, Equatable {
        /// What it applies to.
        public enum Scope: String, Sendable, Equatable, CaseIterable {
            /// A key, by alias or hash.
            case key
            /// Keys whose metadata says `tier`.
            case tier
            /// Keys whose metadata says `team` (or `team_id`).
            case team
        }

        /// What it applies to.
        public var scope: Scope
        /// The key alias or hash, tier or team.
        public var value: String
        /// On or off for them.
        public var enabled: Bool
    }

    /// Its name (`enable_streaming`).
    public var name: String
    /// On or off for everyone without an override.
    public var enabled: Bool
    /// The overrides: a key's wins over its tier's, which wins over its team's.
    public var overrides: [Override]

    /// Whether the flag is on for a caller.
    public func isOn(keyAlias: String?, keyHash: String?, tier: String?, team: String?) -> Bool {
        for scope in [Override.Scope.key, .tier, .team] {
            for override in overrides where override.scope == scope {
                let matches =
                    switch scope {
                    case .key: override.value == keyAlias || override.value == keyHash
                    case .tier: override.value == tier
                    case .team: override.value == team
                    }
                if matches { return override.enabled }
            }
        }
        return enabled
    }

    /// Reads a stored or posted body.
    public static func read(_ object: JSONObject) -> Result<FeatureFlag, RuntimeEntryError> {
        var reader = EntryReader(object, known: ["name", "enabled", "overrides"])
        let name = reader.string("name", required: true) ?? ""
        if !name.isEmpty, !EntryReader.isName(name) {
            reader.problems.append("'name' may hold letters, digits, '_', '-' and '.' only (64 at most)")
        }
        let enabled = reader.bool("enabled")
        if enabled == nil, object["enabled"] == nil { reader.problems.append("'enabled' is required") }
        var overrides: [Override] = []
        switch object["overrides"] {
        case nil, .null?: break
        case .array(let items)?:
            for (index, item) in items.enumerated() {
                let fields = item.objectValue ?? [:]
                let scopes = Override.Scope.allCases.filter { fields[$0.rawValue] != nil }
                guard scopes.count == 1, let value = fields[scopes[0].rawValue]?.stringValue, !value.isEmpty,
                    case .bool(let on)? = fields["enabled"], fields.keys.count == 2
                else {
                    reader.problems.append(
                        "overrides[\(index)] must be {\"key\"|\"tier\"|\"team\": \"name\", \"enabled\": true|false}")
                    continue
                }
                overrides.append(Override(scope: scopes[0], value: value, enabled: on))
            }
        default: reader.problems.append("'overrides' must be a list")
        }
        return reader.result(FeatureFlag(name: name, enabled: enabled ?? true, overrides: overrides))
    }

    /// The body it is kept as.
    public var json: JSONObject {
        [
            "name": .string(name), "enabled": .bool(enabled),
            "overrides": .array(
                overrides.map { .object([$0.scope.rawValue: .string($0.value), "enabled": .bool($0.enabled)]) }),
        ]
    }
}

/// When a fallback chain is taken.
public enum FallbackTrigger: String, Sendable, CaseIterable {
    /// A failure after retries (5xx, timeouts, 429s included unless an `on_rate_limit` chain exists).
    case onError = "on_error"
    /// The upstream's rate limit (429) after retries.
    case onRateLimit = "on_rate_limit"
    /// The prompt is too long for the alias.
    case onContextWindow = "on_context_window"
    /// The key's budget is spent: served by a cheaper alias instead of refused.
    case onBudgetExceeded = "on_budget_exceeded"
}

/// An ordered list of aliases tried after `model` when `trigger` happens.
public struct FallbackChain: Sendable, Equatable {
    /// The alias it starts from.
    public var model: String
    /// When it is taken.
    public var trigger: FallbackTrigger
    /// The aliases, in order.
    public var chain: [String]

    /// The record name: `model:trigger`.
    public var name: String { "\(model):\(trigger.rawValue)" }

    /// Reads a stored or posted body.
    public static func read(_ object: JSONObject) -> Result<FallbackChain, RuntimeEntryError> {
        var reader = EntryReader(object, known: ["model", "trigger", "chain"])
        let model = reader.string("model", required: true) ?? ""
        let triggerText = reader.string("trigger") ?? FallbackTrigger.onError.rawValue
        let trigger = FallbackTrigger(rawValue: triggerText)
        if trigger == nil {
            reader.problems.append(
                "'trigger' must be one of \(FallbackTrigger.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        let chain = reader.strings("chain", required: true) ?? []
        if object["chain"]?.arrayValue?.isEmpty == true { reader.problems.append("'chain' must name at least one alias") }
        if chain.contains(model) { reader.problems.append("'chain' may not name '\(model)' itself") }
        return reader.result(FallbackChain(model: model, trigger: trigger ?? .onError, chain: chain))
    }

    /// The body it is kept as.
    public var json: JSONObject {
        ["model": .string(model), "trigger": .string(trigger.rawValue), "chain": .array(chain.map { .string($0) })]
    }
}

/// An alias's rate limits as the operator sets them at run time: the provider's limits, the headroom kept below
/// them, and how to back off after a 429.
public struct RateLimitConfig: Sendable, Equatable {
    /// The alias (every deployment of it) or a deployment id.
    public var model: String
    /// The provider's requests per minute.
    public var rpm: Int?
    /// The provider's tokens per minute.
    public var tpm: Int?
    /// Requests per day (UTC).
    public var rpd: Int?
    /// The share kept free below each limit, 0 to 0.9 (0.1: use 90%).
    public var headroom: Double
    /// Backoff between retries after a 429.
    public var backoff: RetryStrategy?

    /// A limit after the headroom: at least 1.
    public func effective(_ limit: Int?) -> Int? {
        limit.map { max(1, Int((Double($0) * (1 - headroom)).rounded(.down))) }
    }

    /// Reads a stored or posted body.
    public static func read(_ object: JSONObject) -> Result<RateLimitConfig, RuntimeEntryError> {
        var reader = EntryReader(object, known: ["model", "rpm", "tpm", "rpd", "headroom", "backoff"])
        let model = reader.string("model", required: true) ?? ""
        var config = RateLimitConfig(
            model: model, rpm: reader.integer("rpm"), tpm: reader.integer("tpm"), rpd: reader.integer("rpd"),
            headroom: reader.number("headroom", in: 0...0.9) ?? 0)
        switch reader.string("backoff") {
        case nil: break
        case "exponential"?: config.backoff = .exponentialBackoff
        case "fixed"?: config.backoff = .fixed
        default: reader.problems.append("'backoff' must be exponential or fixed")
        }
        if config.rpm == nil, config.tpm == nil, config.rpd == nil, config.backoff == nil {
            reader.problems.append("set at least one of rpm, tpm, rpd, backoff")
        }
        return reader.result(config)
    }

    /// The body it is kept as.
    public var json: JSONObject {
        var object: JSONObject = ["model": .string(model), "headroom": .double(headroom)]
        if let rpm { object["rpm"] = .int(rpm) }
        if let tpm { object["tpm"] = .int(tpm) }
        if let rpd { object["rpd"] = .int(rpd) }
        if let backoff { object["backoff"] = .string(backoff == .fixed ? "fixed" : "exponential") }
        return object
    }
}
