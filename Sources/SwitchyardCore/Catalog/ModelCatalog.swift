import Foundation

/// Prices in USD per 1M tokens, as a catalog row writes them.
public struct CatalogPrices: Sendable, Equatable {
    /// Uncached prompt tokens.
    public var input: Double?
    /// Cached prompt tokens.
    public var cachedInput: Double?
    /// Completion and reasoning tokens.
    public var output: Double?

    /// Creates prices.
    public init(input: Double? = nil, cachedInput: Double? = nil, output: Double? = nil) {
        self.input = input
        self.cachedInput = cachedInput
        self.output = output
    }

    /// The same prices per token.
    public var perToken: ModelPrices {
        ModelPrices(
            inputPerToken: input.map { $0 / 1_000_000 }, cachedInputPerToken: cachedInput.map { $0 / 1_000_000 },
            outputPerToken: output.map { $0 / 1_000_000 })
    }

    /// Each field of `other` that is set, over these.
    func overlaid(with other: CatalogPrices) -> CatalogPrices {
        CatalogPrices(
            input: other.input ?? input, cachedInput: other.cachedInput ?? cachedInput, output: other.output ?? output)
    }
}

/// The price a whole request pays once its prompt reaches a threshold (xAI: every token of a request whose
/// prompt is 200k tokens or more).
public struct LongPromptTier: Sendable, Equatable {
    /// Prompt tokens from which the tier applies.
    public var threshold: Int
    /// The tier's prices.
    public var prices: CatalogPrices

    /// Creates a tier.
    public init(threshold: Int, prices: CatalogPrices) {
        self.threshold = threshold
        self.prices = prices
    }
}

/// A parameter rule as the catalog writes it: an action (nil for `pass`: the parameter is forwarded, undoing a
/// provider-wide rule) and why.
public struct CatalogParamRule: Sendable, Equatable {
    /// The parameter name.
    public var parameter: String
    /// What happens to it; nil forwards it.
    public var action: ParamAction?
    /// Why, for docs and error messages.
    public var note: String

    /// Creates a rule.
    public init(_ parameter: String, _ action: ParamAction?, note: String = "") {
        self.parameter = parameter
        self.action = action
        self.note = note
    }
}

/// One catalog row: an exact model name or a `*` pattern, and what is known of the models it names.
public struct CatalogModel: Sendable, Equatable {
    /// The name or pattern.
    public var name: String
    /// Whether the model reasons (so rejects the provider's `reasoning_params`).
    public var reasoning: Bool?
    /// `reasoning_effort` values the model accepts; nil or empty: it rejects the parameter.
    public var reasoningEfforts: [String]?
    /// The effort the model uses when none is sent.
    public var defaultEffort: String?
    /// Tokens of prompt and answer the model takes.
    public var contextWindow: Int?
    /// Largest answer, in tokens.
    public var maxOutputTokens: Int?
    /// Prices per 1M tokens.
    public var price: CatalogPrices?
    /// The long-prompt tier.
    public var longPrompt: LongPromptTier?
    /// The day the provider retired the name (`YYYY-MM-DD`).
    public var retired: String?
    /// The model that serves the retired name.
    public var servedBy: String?
    /// The effort the successor serves the retired name at.
    public var servedEffort: String?
    /// Rules for this model, over the provider's.
    public var params: [CatalogParamRule]
    /// Where the row's facts come from.
    public var source: String?

    /// Creates a row.
    public init(
        name: String, reasoning: Bool? = nil, reasoningEfforts: [String]? = nil, defaultEffort: String? = nil,
        contextWindow: Int? = nil, maxOutputTokens: Int? = nil, price: CatalogPrices? = nil,
        longPrompt: LongPromptTier? = nil, retired: String? = nil, servedBy: String? = nil, servedEffort: String? = nil,
        params: [CatalogParamRule] = [], source: String? = nil
    ) {
        self.name = name
        self.reasoning = reasoning
        self.reasoningEfforts = reasoningEfforts
        self.defaultEffort = defaultEffort
        self.contextWindow = contextWindow
        self.maxOutputTokens = maxOutputTokens
        self.price = price
        self.longPrompt = longPrompt
        self.retired = retired
        self.servedBy = servedBy
        self.servedEffort = servedEffort
        self.params = params
        self.source = source
    }

    /// Each field `other` sets, over this row's; rules merge by parameter.
    func overlaid(with other: CatalogModel) -> CatalogModel {
        var merged = self
        merged.reasoning = other.reasoning ?? reasoning
        merged.reasoningEfforts = other.reasoningEfforts ?? reasoningEfforts
        merged.defaultEffort = other.defaultEffort ?? defaultEffort
        merged.contextWindow = other.contextWindow ?? contextWindow
        merged.maxOutputTokens = other.maxOutputTokens ?? maxOutputTokens
        if let price = other.price { merged.price = (self.price ?? CatalogPrices()).overlaid(with: price) }
        merged.longPrompt = other.longPrompt ?? longPrompt
        merged.retired = other.retired ?? retired
        merged.servedBy = other.servedBy ?? servedBy
        merged.servedEffort = other.servedEffort ?? servedEffort
        merged.params = CatalogParamRule.merge(params, other.params)
        merged.source = other.source ?? source
        return merged
    }
}

extension CatalogParamRule {
    /// `base` with each rule of `overlay` replacing the one for the same parameter, or appended.
    static func merge(_ base: [CatalogParamRule], _ overlay: [CatalogParamRule]) -> [CatalogParamRule] {
        var merged = base
        for rule in overlay {
            if let index = merged.firstIndex(where: { $0.parameter == rule.parameter }) {
                merged[index] = rule
            } else {
                merged.append(rule)
            }
        }
        return merged
    }
}

/// What the catalog knows of one provider's models.
public struct ProviderCatalog: Sendable, Equatable {
    /// Rules for every model.
    public var params: [CatalogParamRule]
    /// Rules added for every reasoning model.
    public var reasoningParams: [CatalogParamRule]
    /// Floors for the timeouts a reasoning model inherits.
    public var reasoningTimeouts: Timeouts
    /// Rows, in file order.
    public var models: [CatalogModel]

    /// Creates a provider's section.
    public init(
        params: [CatalogParamRule] = [], reasoningParams: [CatalogParamRule] = [], reasoningTimeouts: Timeouts = Timeouts(),
        models: [CatalogModel] = []
    ) {
        self.params = params
        self.reasoningParams = reasoningParams
        self.reasoningTimeouts = reasoningTimeouts
        self.models = models
    }

    /// The row for `model`: its exact name, else the longest pattern that matches (ignoring case).
    public func row(for model: String) -> CatalogModel? {
        let lowered = model.lowercased()
        if let exact = models.first(where: { $0.name.lowercased() == lowered }) { return exact }
        return
            models
            .filter { $0.name.contains("*") && ModelPattern($0.name).matches(model) }
            .max { $0.name.count < $1.name.count }
    }

    /// `other` merged over this section: rules by parameter, rows by name (field by field), new rows appended.
    func overlaid(with other: ProviderCatalog) -> ProviderCatalog {
        var merged = self
        merged.params = CatalogParamRule.merge(params, other.params)
        merged.reasoningParams = CatalogParamRule.merge(reasoningParams, other.reasoningParams)
        merged.reasoningTimeouts = other.reasoningTimeouts.inheriting(from: reasoningTimeouts)
        for row in other.models {
            if let index = merged.models.firstIndex(where: { $0.name.lowercased() == row.name.lowercased() }) {
                merged.models[index] = merged.models[index].overlaid(with: row)
            } else {
                merged.models.append(row)
            }
        }
        return merged
    }
}

/// The model catalog: each provider's parameter tables, reasoning efforts, context windows, prices and retired
/// names, as data. The shipped one is compiled into the binary; an operator's file is merged over it.
public struct ModelCatalog: Sendable, Equatable {
    /// Sections by provider name (lower-case).
    public var providers: [String: ProviderCatalog]

    /// Creates a catalog.
    public init(providers: [String: ProviderCatalog] = [:]) {
        self.providers = providers
    }

    /// `other` merged over this catalog.
    public func overlaid(with other: ModelCatalog) -> ModelCatalog {
        var merged = self
        for (name, section) in other.providers {
            merged.providers[name] = merged.providers[name].map { $0.overlaid(with: section) } ?? section
        }
        return merged
    }

    /// What the catalog says of `model` on `provider`, resolved: rules in force, prices, window, retirement.
    public func facts(provider: String, model: String) -> ModelFacts {
        guard let section = providers[provider.lowercased()] else { return ModelFacts() }
        guard let row = section.row(for: model) else {
            return ModelFacts(paramRules: Self.rules(section.params))
        }
        var facts = ModelFacts()
        facts.catalogName = row.name
        facts.reasoning = row.reasoning ?? false
        facts.defaultEffort = row.defaultEffort
        facts.source = row.source
        var rules = section.params
        if facts.reasoning { rules = CatalogParamRule.merge(rules, section.reasoningParams) }
        rules = CatalogParamRule.merge(rules, row.params)
        if row.params.contains(where: { $0.parameter == "reasoning_effort" }) == false {
            let efforts = row.reasoningEfforts ?? []
            rules.append(
                efforts.isEmpty
                    ? CatalogParamRule(
                        "reasoning_effort", .unsupported, note: "\(model) takes no reasoning effort")
                    : CatalogParamRule(
                        "reasoning_effort", .reasoningEffort(accepted: efforts),
                        note: "\(model) takes \(efforts.joined(separator: ", "))"))
        }
        facts.paramRules = Self.rules(rules)
        // A retired name is billed, and bounded, as the model that serves it.
        var priced = row
        if let successor = row.servedBy, row.retired != nil {
            facts.retirement = Retirement(date: row.retired ?? "", servedBy: successor, servedEffort: row.servedEffort)
            if let next = section.row(for: successor) { priced = next }
        }
        facts.contextWindow = priced.contextWindow
        facts.maxOutputTokens = priced.maxOutputTokens
        facts.catalogPrices = priced.price
        facts.longPrompt = priced.longPrompt
        if facts.reasoning { facts.minimumTimeouts = section.reasoningTimeouts }
        return facts
    }

    private static func rules(_ rules: [CatalogParamRule]) -> [ParamRule] {
        rules.compactMap { rule in rule.action.map { ParamRule(rule.parameter, $0, note: rule.note) } }
    }
}

/// A provider's retirement of a model name.
public struct Retirement: Sendable, Equatable {
    /// The day (`YYYY-MM-DD`).
    public var date: String
    /// The model that serves the name now.
    public var servedBy: String
    /// At which reasoning effort, when the provider says.
    public var servedEffort: String?
}

/// What the catalog says of one deployment's upstream model, resolved for use.
public struct ModelFacts: Sendable, Equatable {
    /// The matching row's name or pattern; nil when the model is not in the catalog.
    public var catalogName: String?
    /// Whether the model reasons.
    public var reasoning = false
    /// The effort it uses when none is sent.
    public var defaultEffort: String?
    /// The parameter rules in force, in order.
    public var paramRules: [ParamRule] = []
    /// Context window, in tokens (the successor's for a retired name).
    public var contextWindow: Int?
    /// Largest answer, in tokens.
    public var maxOutputTokens: Int?
    /// Prices per 1M tokens (the successor's for a retired name).
    public var catalogPrices: CatalogPrices?
    /// The long-prompt tier.
    public var longPrompt: LongPromptTier?
    /// The retirement, when the name was retired.
    public var retirement: Retirement?
    /// Floors for inherited timeouts (reasoning models).
    public var minimumTimeouts = Timeouts()
    /// Where the row comes from.
    public var source: String?

    /// Creates facts.
    public init(paramRules: [ParamRule] = []) {
        self.paramRules = paramRules
    }

    /// The pricing the catalog gives: base prices and the long-prompt tier, per token.
    public var pricing: ModelPricing {
        ModelPricing(
            base: catalogPrices?.perToken ?? ModelPrices(), longPromptThreshold: longPrompt?.threshold,
            longPromptPrices: longPrompt?.prices.perToken, source: .catalog)
    }
}

extension ModelPrices {
    /// `input / cached / output` per 1M tokens, e.g. `1.25 / 0.20 / 2.50`; `-` for a price not set.
    public var perMillionText: String {
        func text(_ price: Double?) -> String {
            guard let price else { return "-" }
            let cents = price * 100_000_000
            return abs(cents - cents.rounded()) < 1e-6 ? String(format: "%.2f", cents.rounded() / 100) : String(price * 1_000_000)
        }
        return "\(text(inputPerToken)) / \(text(cachedInputPerToken)) / \(text(outputPerToken))"
    }
}

extension Deployment {
    /// What serves a retired upstream model now, and at which prices, e.g. `grok-4.3 (low effort) at 1.25 / 0.20 /
    /// 2.50 per 1M since 2026-05-15`; nil when the model is not retired.
    public var retirementSummary: String? {
        guard let retirement = facts.retirement else { return nil }
        let effort = retirement.servedEffort.map { " (\($0) effort)" } ?? ""
        let successor = facts.pricing.base
        var text = "\(retirement.servedBy)\(effort)"
        if successor.isSet { text += " at \(successor.perMillionText) per 1M" }
        text += " since \(retirement.date)"
        if pricing.source == .modelInfo, pricing.base != successor {
            text += "; model_info prices \(pricing.base.perMillionText) are used for cost"
        }
        return text
    }

    /// The prices requests are charged when the upstream reports no cost, and where they come from.
    public var priceSummary: String {
        guard pricing.base.isSet else { return "-" }
        var text = "\(pricing.base.perMillionText) (\(pricing.source.rawValue))"
        if let threshold = pricing.longPromptThreshold, let tier = pricing.longPromptPrices {
            text += "; from \(threshold / 1000)k prompt tokens \(tier.perMillionText)"
        }
        return text
    }
}
