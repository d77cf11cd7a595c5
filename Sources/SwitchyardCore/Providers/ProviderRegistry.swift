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
    /// Models that always reason and so reject sampling penalties and `stop`.
    static let xaiReasoningModels: [ModelPattern] = ["grok-code-fast*", "grok-4*", "grok-3-mini*"]

    /// xAI (Grok): facts from shared/xai-upstream.md, kept as table rows.
    public static let xai = ProviderProfile(
        name: "xai",
        displayName: "xAI (Grok)",
        defaultBaseURL: "https://api.x.ai/v1",
        keyVariables: ["GROK_API_KEY", "XAI_API_KEY"],
        baseURLVariables: ["GROK_BASE_URL", "XAI_API_BASE"],
        keyRequirement: .always,
        endpoints: [.chatCompletions, .completions, .embeddings],
        forwardedClientHeaders: commonForwardedClientHeaders.union(["x-grok-conv-id"]),
        paramRules: [
            ParamRule(
                "presence_penalty", on: xaiReasoningModels, except: ["grok-4*non-reasoning*"], .unsupported,
                note: "reasoning models reject it"),
            ParamRule(
                "frequency_penalty", on: xaiReasoningModels, except: ["grok-4*non-reasoning*"], .unsupported,
                note: "reasoning models reject it"),
            ParamRule(
                "stop", on: xaiReasoningModels, except: ["grok-4*non-reasoning*"], .unsupported,
                note: "reasoning models reject it"),
            ParamRule(
                "presence_penalty", on: ["grok-4*", "grok-3", "grok-3-*"], .unsupported,
                note: "every grok-4 variant and grok-3 reject it"),
            ParamRule(
                "reasoning_effort", except: ["grok-3-mini*", "grok-4.3*"], .unsupported,
                note: "only grok-3-mini and grok-4.3 take a reasoning effort"),
            ParamRule("logit_bias", .unsupported, note: "xAI does not support logit_bias"),
            ParamRule("search_parameters", .unsupported, note: "live search was removed (410 Gone)"),
            ParamRule("top_logprobs", .clampMaximum(8), note: "xAI allows at most 8"),
            ParamRule("max_tokens", .rename(to: "max_completion_tokens"), note: "max_tokens is deprecated on xAI"),
            ParamRule("stream_options", .onlyWhenStreaming, note: "only valid with stream: true"),
        ],
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
        forwardedClientHeaders: commonForwardedClientHeaders,
        paramRules: [
            ParamRule("stream_options", .onlyWhenStreaming, note: "only valid with stream: true")
        ],
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
        endpoints: [.chatCompletions, .completions, .embeddings],
        paramRules: [
            ParamRule("stream_options", .onlyWhenStreaming, note: "only valid with stream: true")
        ]
    )
}
