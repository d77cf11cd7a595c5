/// The providers Switchyard knows, by prefix.
public struct ProviderRegistry: Sendable {
    /// Profiles by name.
    public let profiles: [String: ProviderProfile]

    /// Creates a registry from profiles.
    public init(_ profiles: [ProviderProfile]) {
        self.profiles = Dictionary(profiles.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
    }

    /// The built-in registry: xai, openai, mock.
    public static let standard = ProviderRegistry([.xai, .openAI, .mock])

    /// The profile for a prefix.
    public func profile(named name: String) -> ProviderProfile? { profiles[name.lowercased()] }

    /// Known prefixes, sorted.
    public var names: [String] { profiles.keys.sorted() }
}

/// Client headers every provider receives when the client sends them.
public let commonForwardedClientHeaders: Set<String> = ["x-request-id", "traceparent", "tracestate"]

extension ProviderProfile {
    /// xAI (Grok): connection and header facts; its parameter tables, prices and retired names are in the model catalog.
    public static let xai = ProviderProfile(
        name: "xai",
        displayName: "xAI (Grok)",
        defaultBaseURL: "https://api.x.ai/v1",
        keyVariables: ["GROK_API_KEY", "XAI_API_KEY"],
        baseURLVariables: ["GROK_BASE_URL", "XAI_API_BASE"],
        keyRequirement: .always,
        endpoints: [.chatCompletions, .completions, .embeddings, .responses],
        forwardedClientHeaders: commonForwardedClientHeaders.union(["x-grok-conv-id"]),
        stripsNameFromNonUserMessages: true
    )

    /// Any OpenAI-compatible API (OpenAI itself by default).
    public static let openAI = ProviderProfile(
        name: "openai",
        displayName: "OpenAI-compatible",
        defaultBaseURL: "https://api.openai.com/v1",
        keyVariables: ["OPENAI_API_KEY"],
        baseURLVariables: ["OPENAI_BASE_URL", "OPENAI_API_BASE"],
        keyRequirement: .whenDefaultBaseURL,
        endpoints: [.chatCompletions, .completions, .embeddings],
        defaultURLEndpoints: [.responses],
        forwardedClientHeaders: commonForwardedClientHeaders,
        completionIncludesReasoning: true
    )

    /// The built-in mock: answers in-process, needs no key.
    public static let mock = ProviderProfile(
        name: "mock",
        displayName: "built-in mock",
        defaultBaseURL: nil,
        keyVariables: [],
        baseURLVariables: [],
        keyRequirement: .never,
        isBuiltIn: true,
        endpoints: [.chatCompletions, .completions, .embeddings]
    )
}
