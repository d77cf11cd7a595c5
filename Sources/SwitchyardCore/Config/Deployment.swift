/// Whether a deployment serves, and if not, why and what to do.
public enum DeploymentStatus: Sendable, Equatable {
    /// Serving.
    case enabled
    /// Not serving: `reason` says what is wrong, `fix` what to set.
    case disabled(reason: String, fix: String)

    /// Whether serving.
    public var isEnabled: Bool { self == .enabled }
}

/// One resolved upstream target of an alias.
public final class Deployment: Sendable {
    /// Unique id: `model_info.id`, else `alias#N` (N counts the alias's deployments from 1).
    public let id: String
    /// The public alias.
    public let alias: String
    /// The provider prefix as written (may be unknown).
    public let providerName: String
    /// The provider's profile, when known.
    public let provider: ProviderProfile?
    /// The model name sent upstream.
    public let upstreamModel: String
    /// Base URL without a trailing slash, and its source.
    public let baseURL: Resolved<String>?
    /// API key and its source.
    public let apiKey: Resolved<Secret>?
    /// Serving or not.
    public let status: DeploymentStatus
    /// Effective `drop_params`.
    public let dropParams: Bool
    /// Parameters always removed.
    public let additionalDropParams: [String]
    /// Static upstream headers, resolved.
    public let extraHeaders: [(name: String, value: String)]
    /// Effective timeouts (every field set).
    public let timeouts: Timeouts
    /// Prices.
    public let prices: ModelPrices
    /// Where the entry is in the file.
    public let location: SourceLocation?
    /// The provider's parameter rules for this upstream model, resolved once from the catalog.
    public let paramRules: [ParamRule]
    /// What the model catalog says of the upstream model.
    public let facts: ModelFacts
    /// How requests are priced without the upstream's own figure: `model_info` prices, else the catalog's.
    public let pricing: ModelPricing
    /// Share of traffic under simple-shuffle: `weight`, else `rpm`, else 1.
    public let weight: Double
    /// Per-model retries, overriding the router's.
    public let numRetries: Int?
    /// Local limits (`rpm`, `tpm`, `max_parallel_requests`, `model_info.max_input_tokens`).
    public let limits: DeploymentLimits
    /// The upstream endpoints `model_info.supported_endpoints` says the server has; nil: the provider's.
    public let supportedEndpoints: Set<UpstreamEndpoint>?
    /// The upstream headers that come from the config (profile, `extra_headers`, key), merged once.
    public let headerTemplate: UpstreamHeaderSet.Template
    /// Whether the entry is the file's or the database's.
    public let origin: DeploymentOrigin
    /// Backoff between retries after a 429; nil: the router's `retry_strategy`.
    public let retryStrategy: RetryStrategy?

    /// Creates a deployment (tests and the resolver).
    public init(
        id: String,
        alias: String,
        providerName: String,
        provider: ProviderProfile?,
        upstreamModel: String,
        baseURL: Resolved<String>?,
        apiKey: Resolved<Secret>?,
        status: DeploymentStatus,
        dropParams: Bool,
        additionalDropParams: [String] = [],
        extraHeaders: [(name: String, value: String)] = [],
        timeouts: Timeouts = .defaults,
        prices: ModelPrices = ModelPrices(),
        location: SourceLocation? = nil,
        weight: Double = 1,
        numRetries: Int? = nil,
        limits: DeploymentLimits = DeploymentLimits(),
        facts: ModelFacts? = nil,
        supportedEndpoints: Set<UpstreamEndpoint>? = nil,
        origin: DeploymentOrigin = .file,
        retryStrategy: RetryStrategy? = nil
    ) {
        self.origin = origin
        self.retryStrategy = retryStrategy
        self.supportedEndpoints = supportedEndpoints
        self.id = id
        self.alias = alias
        self.providerName = providerName
        self.provider = provider
        self.upstreamModel = upstreamModel
        self.baseURL = baseURL
        self.apiKey = apiKey
        self.status = status
        self.dropParams = dropParams
        self.additionalDropParams = additionalDropParams
        self.extraHeaders = extraHeaders
        self.timeouts = timeouts
        self.prices = prices
        self.location = location
        let facts = facts ?? ModelCatalog.shipped.facts(provider: providerName, model: upstreamModel)
        self.facts = facts
        self.paramRules = facts.paramRules
        self.pricing = prices.isSet ? ModelPricing(base: prices, source: .modelInfo) : facts.pricing
        self.weight = weight
        self.numRetries = numRetries
        self.limits = limits
        self.headerTemplate = UpstreamHeaderSet.Template(
            provider: provider, extraHeaders: extraHeaders, apiKey: apiKey?.value.revealed)
    }

    /// `provider/model` as written.
    public var qualifiedModel: String { "\(providerName)/\(upstreamModel)" }

    /// Whether the upstream serves `endpoint`: those `model_info.supported_endpoints` names, where it is given (not
    /// for the built-in mock); else the provider's endpoints, and those it serves at its own default base URL only
    /// (OpenAI's Responses API) when the deployment uses that URL.
    public func serves(_ endpoint: UpstreamEndpoint) -> Bool {
        guard let provider else { return false }
        if let supportedEndpoints, !provider.isBuiltIn { return supportedEndpoints.contains(endpoint) }
        if provider.endpoints.contains(endpoint) { return true }
        return provider.defaultURLEndpoints.contains(endpoint) && baseURL?.source == .providerDefault
    }
}

/// Limits a deployment enforces locally, before the upstream's own.
public struct DeploymentLimits: Sendable, Equatable {
    /// Requests per minute (`rpm`).
    public var requestsPerMinute: Int?
    /// Tokens per minute (`tpm`), prompt and completion together.
    public var tokensPerMinute: Int?
    /// Requests in flight at once (`max_parallel_requests`).
    public var maxParallelRequests: Int?
    /// Largest prompt, in estimated tokens (`model_info.max_input_tokens`).
    public var maxInputTokens: Int?
    /// Requests per UTC day, on this instance (a run-time rate-limit configuration's `rpd`).
    public var requestsPerDay: Int?

    /// Limits; nil means none.
    public init(
        requestsPerMinute: Int? = nil, tokensPerMinute: Int? = nil, maxParallelRequests: Int? = nil,
        maxInputTokens: Int? = nil, requestsPerDay: Int? = nil
    ) {
        self.requestsPerDay = requestsPerDay
        self.requestsPerMinute = requestsPerMinute
        self.tokensPerMinute = tokensPerMinute
        self.maxParallelRequests = maxParallelRequests
        self.maxInputTokens = maxInputTokens
    }

    /// Whether any rate or concurrency limit is set.
    public var limitsTraffic: Bool {
        requestsPerMinute != nil || tokensPerMinute != nil || maxParallelRequests != nil || requestsPerDay != nil
    }
}
