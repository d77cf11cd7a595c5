/// Where a request's cost came from.
public enum CostSource: String, Sendable, Equatable, CaseIterable {
    /// The upstream's own figure (xAI's `usage.cost_in_usd_ticks`): what it bills.
    case upstream
    /// The model catalog's prices (the long-prompt tier applied).
    case catalog
    /// The deployment's `model_info` prices in proxy.yaml.
    case modelInfo = "model_info"
}

/// How one deployment's requests are priced when the upstream reports no cost: base prices, and the prices of
/// the long-prompt tier that every token of a request pays once its prompt reaches the threshold.
public struct ModelPricing: Sendable, Equatable {
    /// Prices per token below the threshold.
    public var base: ModelPrices
    /// Prompt tokens from which the tier's prices apply.
    public var longPromptThreshold: Int?
    /// The tier's prices per token.
    public var longPromptPrices: ModelPrices?
    /// Where these prices come from.
    public var source: CostSource

    /// Creates pricing.
    public init(
        base: ModelPrices = ModelPrices(), longPromptThreshold: Int? = nil, longPromptPrices: ModelPrices? = nil,
        source: CostSource
    ) {
        self.base = base
        self.longPromptThreshold = longPromptThreshold
        self.longPromptPrices = longPromptPrices
        self.source = source
    }

    /// No prices.
    public static let none = ModelPricing(source: .catalog)

    /// The prices a request with `promptTokens` pays.
    public func prices(forPrompt promptTokens: Int) -> ModelPrices {
        if let threshold = longPromptThreshold, let tier = longPromptPrices, promptTokens >= threshold { return tier }
        return base
    }

    /// The request's cost and where it came from: the upstream's figure when it sent one, else these prices;
    /// nil when neither is known.
    public func cost(of usage: Usage) -> (usd: Double, source: CostSource)? {
        if let billed = usage.upstreamCostUSD { return (billed, .upstream) }
        return usage.cost(with: prices(forPrompt: usage.promptTokens)).map { ($0, source) }
    }
}
