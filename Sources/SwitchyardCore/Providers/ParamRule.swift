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
