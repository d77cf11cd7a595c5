/// A request parameter the upstream would reject, with how to make the proxy drop it.
public struct RejectedParameter: Error, Sendable, Equatable {
    /// The OpenAI parameter name.
    public let parameter: String
    /// `provider/model` of the deployment.
    public let model: String
    /// Why the upstream rejects it.
    public let note: String
    /// A message of its own, for a value no setting can make acceptable.
    public var detail: String? = nil

    /// The message the client sees.
    public var message: String {
        if let detail { return detail }
        return "\(parameter) is not supported by \(model)\(note.isEmpty ? "" : " (\(note))"). "
            + "Remove it, or let the proxy drop it: set drop_params: true in litellm_settings or in this model's "
            + "litellm_params, or list it in additional_drop_params."
    }
}

/// A request body made ready for one deployment.
public struct NormalizedRequest: Sendable {
    /// The body to send upstream.
    public var body: JSONObject
    /// Parameters removed because the upstream does not take them.
    public var dropped: [String] = []
    /// Whether the client asked for a stream.
    public var stream: Bool
    /// Whether the proxy added `stream_options.include_usage`, so the usage chunk must not reach the client.
    public var stripUsageChunk = false
}

/// Applies a provider profile's parameter table to a request body. Pure: no I/O, no logging.
public enum ParamNormalizer {
    /// Normalizes a chat, completion or embedding body for `deployment`.
    public static func normalize(
        _ body: JSONObject,
        for deployment: Deployment,
        endpoint: UpstreamEndpoint
    ) -> Result<NormalizedRequest, RejectedParameter> {
        var body = body
        body["model"] = .string(deployment.upstreamModel)
        let stream = body["stream"]?.boolValue ?? false
        var result = NormalizedRequest(body: body, stream: stream)

        for parameter in deployment.additionalDropParams where result.body.removeValue(forKey: parameter) != nil {
            result.dropped.append(parameter)
        }
        if endpoint == .responses, let failure = normalizeResponsesEffort(&result, for: deployment) { return .failure(failure) }
        for rule in deployment.paramRules {
            guard let value = result.body[rule.parameter] else { continue }
            switch rule.action {
            case .unsupported:
                if value == .null || deployment.dropParams {
                    result.body.removeValue(forKey: rule.parameter)
                    result.dropped.append(rule.parameter)
                } else {
                    return .failure(
                        RejectedParameter(parameter: rule.parameter, model: deployment.qualifiedModel, note: rule.note))
                }
            case .rename(let target):
                result.body.removeValue(forKey: rule.parameter)
                if result.body[target] == nil { result.body[target] = value }
            case .clampMaximum(let maximum):
                if let number = value.doubleValue, number > Double(maximum) {
                    result.body[rule.parameter] = .int(maximum)
                }
            case .onlyWhenStreaming:
                if !stream {
                    result.body.removeValue(forKey: rule.parameter)
                }
            case .drop:
                result.body.removeValue(forKey: rule.parameter)
                result.dropped.append(rule.parameter)
            case .reasoningEffort(let accepted):
                if value == .null {
                    result.body.removeValue(forKey: rule.parameter)
                    result.dropped.append(rule.parameter)
                    continue
                }
                guard let effort = value.stringValue, let nearest = ReasoningEffortScale.nearest(to: effort, among: accepted)
                else {
                    var rejected = RejectedParameter(parameter: rule.parameter, model: deployment.qualifiedModel, note: rule.note)
                    rejected.detail =
                        "\(rule.parameter) must be one of \(ReasoningEffortScale.levels.joined(separator: ", ")); "
                        + "\(deployment.qualifiedModel) takes \(accepted.joined(separator: ", "))."
                    return .failure(rejected)
                }
                if nearest != effort {
                    result.body[rule.parameter] = .string(nearest)
                }
            }
        }
        if endpoint == .chatCompletions, deployment.provider?.stripsNameFromNonUserMessages == true {
            stripNames(&result)
        }
        // A Responses stream ends with its usage in `response.completed`: nothing to ask for.
        if stream, endpoint != .embeddings, endpoint != .responses, deployment.provider?.supportsStreamUsage == true {
            let options = result.body["stream_options"]?.objectValue ?? JSONObject()
            if options["include_usage"]?.boolValue != true {
                var updated = options
                updated["include_usage"] = .bool(true)
                result.body["stream_options"] = .object(updated)
                result.stripUsageChunk = true
            }
        }
        return .success(result)
    }

    /// The Responses API's `reasoning.effort`, by the model's `reasoning_effort` rule: kept, mapped to the nearest
    /// effort the model takes, or dropped (refused without `drop_params`) where it takes none.
    private static func normalizeResponsesEffort(_ result: inout NormalizedRequest, for deployment: Deployment)
        -> RejectedParameter?
    {
        guard case .object(var reasoning)? = result.body["reasoning"], let effort = reasoning["effort"], effort != .null,
            let rule = deployment.paramRules.first(where: { $0.parameter == "reasoning_effort" })
        else { return nil }
        switch rule.action {
        case .unsupported, .drop:
            guard deployment.dropParams || rule.action == .drop else {
                return RejectedParameter(parameter: "reasoning.effort", model: deployment.qualifiedModel, note: rule.note)
            }
            reasoning.removeValue(forKey: "effort")
            result.dropped.append("reasoning.effort")
        case .reasoningEffort(let accepted):
            guard let text = effort.stringValue, let nearest = ReasoningEffortScale.nearest(to: text, among: accepted) else {
                var rejected = RejectedParameter(parameter: "reasoning.effort", model: deployment.qualifiedModel, note: rule.note)
                rejected.detail =
                    "reasoning.effort must be one of \(ReasoningEffortScale.levels.joined(separator: ", ")); "
                    + "\(deployment.qualifiedModel) takes \(accepted.joined(separator: ", "))."
                return rejected
            }
            guard nearest != text else { return nil }
            reasoning["effort"] = .string(nearest)
        default: return nil
        }
        result.body["reasoning"] = .object(reasoning)
        return nil
    }

    private static func stripNames(_ result: inout NormalizedRequest) {
        guard case .array(var messages) = result.body["messages"] else { return }
        var changed = false
        for index in messages.indices {
            guard case .object(var message) = messages[index], message["name"] != nil,
                message["role"]?.stringValue != "user"
            else { continue }
            message.removeValue(forKey: "name")
            messages[index] = .object(message)
            changed = true
        }
        if changed {
            result.body["messages"] = .array(messages)
        }
    }
}
