/// Token usage of one response, in xAI's semantics: reasoning tokens are counted apart from completion tokens.
public struct Usage: Sendable, Equatable {
    /// Prompt tokens, cached ones included.
    public var promptTokens: Int
    /// Completion tokens, reasoning excluded.
    public var completionTokens: Int
    /// Reasoning tokens.
    public var reasoningTokens: Int
    /// Prompt tokens served from cache.
    public var cachedTokens: Int
    /// The upstream's own cost, in USD, when it reports one (`cost_in_usd_ticks`).
    public var upstreamCostUSD: Double?

    /// Creates usage.
    public init(
        promptTokens: Int = 0, completionTokens: Int = 0, reasoningTokens: Int = 0, cachedTokens: Int = 0,
        upstreamCostUSD: Double? = nil
    ) {
        self.promptTokens = promptTokens
        self.completionTokens = completionTokens
        self.reasoningTokens = reasoningTokens
        self.cachedTokens = cachedTokens
        self.upstreamCostUSD = upstreamCostUSD
    }

    /// Reads an OpenAI-shaped `usage` object. `completionIncludesReasoning` is true for OpenAI, false for xAI.
    public init?(json: JSONValue?, completionIncludesReasoning: Bool) {
        guard case .object(let usage) = json else { return nil }
        let prompt = usage["prompt_tokens"]?.intValue ?? usage["input_tokens"]?.intValue ?? 0
        let completion = usage["completion_tokens"]?.intValue ?? usage["output_tokens"]?.intValue ?? 0
        let reasoning =
            (usage["completion_tokens_details"] ?? usage["output_tokens_details"])?.objectValue?["reasoning_tokens"]?.intValue
            ?? 0
        let cached =
            (usage["prompt_tokens_details"] ?? usage["input_tokens_details"])?.objectValue?["cached_tokens"]?.intValue ?? 0
        // The Responses API's `output_tokens` counts reasoning, whoever serves it.
        let includesReasoning =
            completionIncludesReasoning || (usage["completion_tokens"] == nil && usage["output_tokens"] != nil)
        self.promptTokens = prompt
        self.completionTokens = includesReasoning ? max(0, completion - reasoning) : completion
        self.reasoningTokens = reasoning
        self.cachedTokens = cached
        self.upstreamCostUSD = usage["cost_in_usd_ticks"]?.doubleValue.map { $0 / 10_000_000_000 }
    }

    /// Cost in USD from per-token prices: uncached prompt at the input price, cached prompt at the cached
    /// price (else the input price), completion plus reasoning at the output price. Nil without prices.
    public func cost(with prices: ModelPrices) -> Double? {
        guard prices.isSet else { return nil }
        let input = prices.inputPerToken ?? 0
        let cached = prices.cachedInputPerToken ?? input
        let output = prices.outputPerToken ?? 0
        let uncached = max(0, promptTokens - cachedTokens)
        return Double(uncached) * input + Double(cachedTokens) * cached + Double(completionTokens + reasoningTokens) * output
    }
}
