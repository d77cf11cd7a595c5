/// Which upstream endpoints a provider serves.
public enum UpstreamEndpoint: String, Sendable, CaseIterable {
    /// `POST /chat/completions`.
    case chatCompletions = "chat/completions"
    /// `POST /completions`.
    case completions = "completions"
    /// `POST /embeddings`.
    case embeddings = "embeddings"
    /// `POST /responses` (OpenAI's Responses API, xAI's too).
    case responses = "responses"
}

/// When a deployment needs an API key.
public enum KeyRequirement: Sendable, Equatable {
    /// Always.
    case always
    /// Only when the base URL is the provider's default (self-hosted OpenAI-compatible servers often need none).
    case whenDefaultBaseURL
    /// Never (built-in providers).
    case never
}

/// Everything the proxy knows about one provider, as data.
public struct ProviderProfile: Sendable {
    /// The prefix in `provider/model`, e.g. `xai`.
    public let name: String
    /// A human name, e.g. `xAI (Grok)`.
    public let displayName: String
    /// Base URL used when nothing else names one.
    public let defaultBaseURL: String?
    /// Environment variables for the API key, first set wins.
    public let keyVariables: [String]
    /// Environment variables for the base URL, first set wins.
    public let baseURLVariables: [String]
    /// When a key is needed.
    public let keyRequirement: KeyRequirement
    /// Answers in-process instead of calling out.
    public let isBuiltIn: Bool
    /// Endpoints the provider serves.
    public let endpoints: Set<UpstreamEndpoint>
    /// Endpoints served only at the provider's own default base URL (OpenAI's Responses API: most OpenAI-compatible
    /// servers lack it).
    public let defaultURLEndpoints: Set<UpstreamEndpoint>
    /// Headers sent on every upstream request.
    public let defaultHeaders: [(name: String, value: String)]
    /// Client headers passed through to this provider (lower-case names).
    public let forwardedClientHeaders: Set<String>
    /// Drop `name` from messages whose role is not `user`.
    public let stripsNameFromNonUserMessages: Bool
    /// Send a streaming usage request upstream so the proxy can account tokens.
    public let supportsStreamUsage: Bool
    /// Whether `completion_tokens` already counts reasoning tokens (OpenAI) or not (xAI).
    public let completionIncludesReasoning: Bool

    /// Creates a profile.
    public init(
        name: String,
        displayName: String,
        defaultBaseURL: String?,
        keyVariables: [String],
        baseURLVariables: [String],
        keyRequirement: KeyRequirement,
        isBuiltIn: Bool = false,
        endpoints: Set<UpstreamEndpoint>,
        defaultURLEndpoints: Set<UpstreamEndpoint> = [],
        defaultHeaders: [(name: String, value: String)] = [],
        forwardedClientHeaders: Set<String> = [],
        stripsNameFromNonUserMessages: Bool = false,
        supportsStreamUsage: Bool = true,
        completionIncludesReasoning: Bool = false
    ) {
        self.name = name
        self.displayName = displayName
        self.defaultBaseURL = defaultBaseURL
        self.keyVariables = keyVariables
        self.baseURLVariables = baseURLVariables
        self.keyRequirement = keyRequirement
        self.isBuiltIn = isBuiltIn
        self.endpoints = endpoints
        self.defaultURLEndpoints = defaultURLEndpoints
        self.defaultHeaders = defaultHeaders
        self.forwardedClientHeaders = forwardedClientHeaders
        self.stripsNameFromNonUserMessages = stripsNameFromNonUserMessages
        self.supportsStreamUsage = supportsStreamUsage
        self.completionIncludesReasoning = completionIncludesReasoning
    }
}
