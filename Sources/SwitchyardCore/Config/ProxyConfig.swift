/// Upstream time limits in seconds; nil means "inherit".
public struct Timeouts: Sendable, Equatable {
    /// Establishing the TCP/TLS connection.
    public var connect: Double?
    /// From sending the request to the response head.
    public var firstByte: Double?
    /// Longest silence between two body chunks.
    public var idle: Double?
    /// The whole request, body included.
    public var total: Double?

    /// Creates timeouts.
    public init(connect: Double? = nil, firstByte: Double? = nil, idle: Double? = nil, total: Double? = nil) {
        self.connect = connect
        self.firstByte = firstByte
        self.idle = idle
        self.total = total
    }

    /// The built-in defaults.
    public static let defaults = Timeouts(connect: 10, firstByte: 120, idle: 120, total: 600)

    /// Each value raised to `floor`'s where `floor` sets one.
    public func raised(to floor: Timeouts) -> Timeouts {
        func higher(_ value: Double?, _ minimum: Double?) -> Double? {
            guard let minimum else { return value }
            return max(value ?? minimum, minimum)
        }
        return Timeouts(
            connect: higher(connect, floor.connect), firstByte: higher(firstByte, floor.firstByte),
            idle: higher(idle, floor.idle), total: higher(total, floor.total))
    }

    /// Each unset value taken from `base`.
    public func inheriting(from base: Timeouts) -> Timeouts {
        Timeouts(
            connect: connect ?? base.connect,
            firstByte: firstByte ?? base.firstByte,
            idle: idle ?? base.idle,
            total: total ?? base.total
        )
    }
}

/// Prices in USD per token, from `model_info` (LiteLLM's names, or `*_per_million`).
public struct ModelPrices: Sendable, Equatable {
    /// Uncached prompt tokens.
    public var inputPerToken: Double?
    /// Cached prompt tokens (falls back to the input price).
    public var cachedInputPerToken: Double?
    /// Completion and reasoning tokens.
    public var outputPerToken: Double?

    /// Creates prices.
    public init(inputPerToken: Double? = nil, cachedInputPerToken: Double? = nil, outputPerToken: Double? = nil) {
        self.inputPerToken = inputPerToken
        self.cachedInputPerToken = cachedInputPerToken
        self.outputPerToken = outputPerToken
    }

    /// Whether any price is set.
    public var isSet: Bool { inputPerToken != nil || outputPerToken != nil || cachedInputPerToken != nil }
}

/// One `router_settings.model_group_alias` entry: requested names (exact or a `*` pattern) and the alias serving them.
public struct AliasRoute: Sendable, Equatable {
    /// The names it covers.
    public var pattern: ModelPattern
    /// The alias that serves them.
    public var alias: String

    /// An entry.
    public init(pattern: ModelPattern, alias: String) {
        self.pattern = pattern
        self.alias = alias
    }
}

/// One `model_list` entry as written in the file.
public struct DeploymentEntry: Sendable, Equatable {
    /// The public alias (`model_name`).
    public var alias: String
    /// `provider/upstream-model`.
    public var model: String
    /// `custom_llm_provider`, when given.
    public var customProvider: String?
    /// `api_base`.
    public var apiBase: ConfigString?
    /// `api_key`.
    public var apiKey: ConfigString?
    /// `drop_params` override.
    public var dropParams: Bool?
    /// `additional_drop_params`.
    public var additionalDropParams: [String] = []
    /// `extra_headers`, in file order.
    public var extraHeaders: [HeaderEntry] = []
    /// Per-model timeouts.
    public var timeouts = Timeouts()
    /// `model_info.id`.
    public var id: String?
    /// Prices.
    public var prices = ModelPrices()
    /// `weight` for simple-shuffle.
    public var weight: Double?
    /// `rpm`: weight for simple-shuffle when no weight is given.
    public var rpm: Double?
    /// Per-model `num_retries`.
    public var numRetries: Int?
    /// `tpm`: local tokens-per-minute limit.
    public var tpm: Int?
    /// `max_parallel_requests`: local concurrency cap.
    public var maxParallelRequests: Int?
    /// `model_info.max_input_tokens`.
    public var maxInputTokens: Int?
    /// `model_info.supported_endpoints` as written (LiteLLM's: `/v1/responses` there makes an OpenAI-compatible
    /// server's Responses API native).
    public var supportedEndpoints: [String]?
    /// Where the entry starts.
    public var location: SourceLocation?
    /// 0-based position in `model_list`.
    public var index: Int
    /// The file, or the database (run-time configuration).
    public var origin = DeploymentOrigin.file
    /// Requests per day (UTC), from a run-time rate-limit configuration.
    public var rpd: Int?
    /// Backoff between retries after a 429, from a run-time rate-limit configuration; nil: the router's.
    public var retryStrategy: RetryStrategy?

    /// Creates an entry.
    public init(alias: String, model: String, index: Int, location: SourceLocation? = nil) {
        self.alias = alias
        self.model = model
        self.index = index
        self.location = location
    }
}

/// A header written in the config.
public struct HeaderEntry: Sendable, Equatable {
    /// Header name.
    public var name: String
    /// Header value (may be an environment reference).
    public var value: ConfigString

    /// Creates a header entry.
    public init(name: String, value: ConfigString) {
        self.name = name
        self.value = value
    }
}

/// How an alias with several deployments picks one (`router_settings.routing_strategy`).
public enum RoutingStrategy: String, Sendable, Equatable, CaseIterable {
    /// Random, weighted by `weight`, else `rpm`, else even.
    case simpleShuffle = "simple-shuffle"
    /// Fewest requests in flight.
    case leastBusy = "least-busy"
    /// Lowest moving average of time to first byte (first event for streams) over the last minute.
    case latencyBased = "latency-based-routing"
    /// Fewest tokens in the last minute, among deployments within their limits.
    case usageBased = "usage-based-routing"

    /// A strategy by its LiteLLM name (`usage-based-routing-v2` is accepted as `usage-based-routing`).
    public init?(name: String) {
        if name == "usage-based-routing-v2" {
            self = .usageBased
        } else {
            self.init(rawValue: name)
        }
    }
}

/// How long to wait between attempts.
public enum RetryStrategy: String, Sendable, Equatable {
    /// `retry_after * 2^attempt`, with full jitter.
    case exponentialBackoff = "exponential_backoff_retry"
    /// `retry_after` each time.
    case fixed = "constant_retry"
}

/// How upstream TLS certificates are checked (`litellm_settings.ssl_verify`).
public enum TLSVerification: Sendable, Equatable {
    /// Against the system's trust roots.
    case system
    /// Against the CA certificates in this PEM file (`ssl_verify: /path/ca.pem`).
    case caFile(String)
    /// Not at all (`ssl_verify: false`): for testing only.
    case off
}

/// Proxy-wide settings from `litellm_settings` and `general_settings`.
public struct ProxySettings: Sendable, Equatable {
    /// Global `drop_params`.
    public var dropParams = false
    /// `general_settings.master_key`.
    public var masterKey: ConfigString?
    /// Global timeouts (defaults filled in).
    public var timeouts = Timeouts.defaults
    /// How long the proxy waits for a client: its whole request head, each part of a body, the next request.
    public var clientTimeouts = ClientTimeouts()
    /// Largest request body accepted, in bytes.
    public var maxRequestBodyBytes = 10 * 1024 * 1024
    /// `router_settings.routing_strategy`.
    public var routingStrategy = RoutingStrategy.simpleShuffle
    /// Retries after the first attempt (`router_settings.num_retries` or `litellm_settings.num_retries`).
    public var numRetries = 0
    /// `router_settings.retry_strategy`.
    public var retryStrategy = RetryStrategy.exponentialBackoff
    /// Base wait between attempts, seconds (`router_settings.retry_after`).
    public var retryAfter = 0.1
    /// `fallbacks`: aliases to try, in order, when an alias fails.
    public var fallbacks: [String: [String]] = [:]
    /// `context_window_fallbacks`: aliases to try when a prompt is too long for an alias.
    public var contextWindowFallbacks: [String: [String]] = [:]
    /// Run-time `on_rate_limit` chains: tried instead of `fallbacks` when an alias failed with a 429.
    public var rateLimitFallbacks: [String: [String]] = [:]
    /// Run-time `on_budget_exceeded` chains: a key whose budget is spent is served by these instead of refused.
    public var budgetFallbacks: [String: [String]] = [:]
    /// `default_fallbacks`: for aliases without their own.
    public var defaultFallbacks: [String] = []
    /// `max_fallbacks`.
    public var maxFallbacks = 5
    /// Failures of one deployment within a minute that put it in cooldown (`router_settings.allowed_fails`).
    public var allowedFails = 3
    /// Seconds a deployment rests before one probe request may try it again (`router_settings.cooldown_time`).
    public var cooldownTime = 5.0
    /// `router_settings.allowed_fails_policy`: failures of one kind within a minute that open a breaker.
    public var allowedFailsPolicy: [FailureKind: Int] = [:]
    /// `router_settings.disable_cooldowns`: no deployment is ever put in cooldown.
    public var disableCooldowns = false
    /// `router_settings.model_group_alias`: names clients send (e.g. Claude Code's `claude-sonnet-4-5`, or a
    /// `claude-*` pattern) and the alias that serves them, in file order.
    public var modelGroupAlias: [AliasRoute] = []

    /// The alias a requested name is served by: itself when it is not in `model_group_alias` (an exact name wins
    /// over a pattern, then the first pattern that matches).
    public func aliasServing(_ requested: String) -> String {
        guard !modelGroupAlias.isEmpty else { return requested }
        if let exact = modelGroupAlias.first(where: { !$0.pattern.text.contains("*") && $0.pattern.matches(requested) }) {
            return exact.alias
        }
        return modelGroupAlias.first { $0.pattern.matches(requested) }?.alias ?? requested
    }

    /// The breaker rules these settings make.
    public var failurePolicy: FailurePolicy {
        FailurePolicy(allowedFails: allowedFails, perKind: allowedFailsPolicy, cooldownsDisabled: disableCooldowns)
    }

    /// `litellm_settings.require_auth_for_metrics_endpoint`: `/metrics` wants the master key.
    public var metricsRequireAuth = false
    /// `litellm_settings.ssl_verify`.
    public var tlsVerification = TLSVerification.system
    /// Seconds in-flight requests may take to finish after SIGTERM (`general_settings.shutdown_grace_period`).
    public var shutdownGracePeriod = 30.0

    /// `general_settings.database_url` as written (resolved with the environment by `ModelTable`).
    public var databaseURL: ConfigString?
    /// `general_settings.otel_exporter_endpoint`: an OTLP/HTTP collector (`http://host:4318`, or a URL ending in
    /// `/v1/traces`); nil: no traces.
    public var otelEndpoint: String?
    /// `general_settings.otel_service_name`: the traces' `service.name`.
    public var otelServiceName = "switchyard"
    /// `general_settings.store_prompts`: keep prompt and completion text in the request log.
    public var storePrompts = false
    /// `general_settings.disable_admin_ui`: the console (`/ui`) answers 404.
    public var disableAdminUI = false
    /// `general_settings.disable_spend_logs`: keep spend but write no request-log rows.
    public var disableSpendLogs = false
    /// `general_settings.allow_requests_on_db_unavailable`: serve unknown keys while the database is down.
    public var allowRequestsOnDBUnavailable = false
    /// `general_settings.retention`: request-log rows older than this many seconds are pruned.
    public var retention: Double?
    /// `general_settings.user_api_key_cache_ttl`: seconds between reloads of keys and spend from the database.
    public var keyCacheTTL = 5.0
    /// `general_settings.proxy_batch_write_at`: seconds between batched request-log writes.
    public var batchWriteInterval = 1.0
    /// `general_settings.log_buffer_size`: request-log rows held while the database is away.
    public var logBufferSize = 100_000
    /// `general_settings.fleet_sync_interval`: seconds between exchanges of counts for fleet-wide limits; 0 turns
    /// them off; nil: 1 s on PostgreSQL, off on SQLite (one instance per file).
    public var fleetSyncInterval: Double?

    /// The fleet sync interval in force for a database, nil when off.
    public func fleetSync(for database: DatabaseLocation) -> Double? {
        switch (fleetSyncInterval, database) {
        case (.some(let seconds), .sqlite), (.some(let seconds), .postgres): seconds > 0 ? seconds : nil
        case (nil, .postgres): 1
        default: nil
        }
    }

    /// The fallback aliases for `alias`, at most `maxFallbacks`, never `alias` itself.
    public func fallbackChain(for alias: String) -> [String] {
        Array((fallbacks[alias] ?? defaultFallbacks).filter { $0 != alias }.prefix(maxFallbacks))
    }

    /// The aliases to try when `alias` failed with a rate limit (a run-time `on_rate_limit` chain), at most
    /// `maxFallbacks`; empty: `fallbackChain`'s.
    public func rateLimitChain(for alias: String) -> [String] {
        Array((rateLimitFallbacks[alias] ?? []).filter { $0 != alias }.prefix(maxFallbacks))
    }

    /// The aliases to try when `alias` rejects a prompt as too long, at most `maxFallbacks`.
    public func contextWindowChain(for alias: String) -> [String] {
        Array((contextWindowFallbacks[alias] ?? []).filter { $0 != alias }.prefix(maxFallbacks))
    }

    /// Default settings.
    public init() {}
}

/// A parsed configuration file, before environment resolution.
public struct ProxyConfig: Sendable, Equatable {
    /// The file it came from.
    public var path: String
    /// `model_list` entries in order.
    public var deployments: [DeploymentEntry] = []
    /// Settings.
    public var settings = ProxySettings()
    /// `environment_variables`: values layered over the process environment.
    public var environmentVariables: [String: String] = [:]
    /// `model_catalog`: the operator's catalog file, as written (relative to the config's folder).
    public var modelCatalogPath: String?

    /// The operator's catalog file as a path to open: relative ones resolved against the config's folder.
    public var modelCatalogFile: String? {
        guard let modelCatalogPath else { return nil }
        if modelCatalogPath.hasPrefix("/") { return modelCatalogPath }
        return DatabaseLocation.join(DatabaseLocation.directory(of: path), modelCatalogPath)
    }
    /// The model catalog in force: the shipped one, with the operator's merged over it.
    public var catalog = ModelCatalog.shipped

    /// Creates an empty config for a path.
    public init(path: String) { self.path = path }
}

/// How long the front waits for a client's bytes (`general_settings.client_header_timeout`,
/// `client_body_timeout`, `keep_alive_timeout`), in seconds.
public struct ClientTimeouts: Sendable, Equatable {
    /// From a head's first byte to its end (nginx's `client_header_timeout`, 60 s): a partial head is not kept
    /// open by a byte now and then.
    public var header = 60.0
    /// Longest silence while a request body is read (nginx's `client_body_timeout`, 60 s).
    public var body = 60.0
    /// An idle kept-alive connection with no request under way is closed after this (nginx's 75 s).
    public var keepAlive = 75.0

    /// The defaults.
    public init() {}
}
