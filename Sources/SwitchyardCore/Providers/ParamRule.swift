/// What a provider does with one request parameter on the models a rule covers.
public enum ParamAction: Sendable, Equatable {
    /// The upstream rejects it: dropped with `drop_params`, else a 400 from the proxy.
    case unsupported
    /// Renamed to another parameter (kept if the target is already present: the source is removed).
    case rename(to: String)
    /// Numbers above the limit are lowered to it.
    case clampMaximum(Int)
    /// Removed unless the request streams (`stream_options` without `stream`).
    case onlyWhenStreaming
    /// Always removed, whatever `drop_params` says (counted like any drop).
    case drop
    /// `reasoning_effort`: kept when the model accepts the value, else mapped to the nearest value it accepts.
    case reasoningEffort(accepted: [String])
}

/// The reasoning-effort scale, lowest first: an effort a model does not accept is mapped to its nearest neighbour
/// on this scale that the model does accept (a tie goes to the higher one).
public enum ReasoningEffortScale {
    /// Every effort OpenAI and xAI name, in order.
    public static let levels = ["none", "minimal", "low", "medium", "high", "xhigh"]

    /// The value of `accepted` nearest to `effort`; nil when `effort` is not on the scale or nothing is accepted.
    public static func nearest(to effort: String, among accepted: [String]) -> String? {
        if accepted.contains(effort) { return effort }
        guard let wanted = levels.firstIndex(of: effort) else { return nil }
        var best: (distance: Int, index: Int, value: String)?
        for value in accepted {
            guard let index = levels.firstIndex(of: value) else { continue }
            let distance = abs(index - wanted)
            if let current = best, distance > current.distance || (distance == current.distance && index < current.index) {
                continue
            }
            best = (distance, index, value)
        }
        return best?.value
    }
}

/// One row of a provider's parameter table.
public struct ParamRule: Sendable, Equatable {
    /// The OpenAI parameter name.
    public let parameter: String
    /// Upstream models this row covers.
    public let models: [ModelPattern]
    /// Upstream models excluded from `models`.
    public let exceptModels: [ModelPattern]
    /// What happens to the parameter.
    public let action: ParamAction
    /// Why, for docs and error messages.
    public let note: String

    /// Creates a table row.
    public init(
        _ parameter: String,
        on models: [ModelPattern] = ["*"],
        except exceptModels: [ModelPattern] = [],
        _ action: ParamAction,
        note: String = ""
    ) {
        self.parameter = parameter
        self.models = models
        self.exceptModels = exceptModels
        self.action = action
        self.note = note
    }

    /// Whether this row applies to `model`.
    public func applies(to model: String) -> Bool {
        models.contains { $0.matches(model) } && !exceptModels.contains { $0.matches(model) }
    }
}
