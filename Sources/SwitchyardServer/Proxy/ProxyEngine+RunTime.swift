import SwitchyardCore

/// What the run-time configuration does to a request, from the table in memory: a feature endpoint's model,
/// defaults and prompt; feature flags; the `on_budget_exceeded` chain. None of it reads the database.
extension ProxyEngine {
    /// A chat request that names a feature endpoint (its slug as `model`, or LiteLLM's `prompt_id`) becomes a
    /// request to the feature's alias: its defaults added where the request has no value of its own (or the
    /// feature does not let it override), and its active prompt in front of the request's messages, its
    /// `{{variables}}` filled from `prompt_variables`. Answers the feature, or nil when the request names none.
    func applyFeature(_ body: inout JSONObject) throws(ProxyError) -> FeatureEndpoint? {
        let feature: FeatureEndpoint
        if case .string(let model)? = body["model"], let named = table.features[model] {
            feature = named
        } else if let promptID = body["prompt_id"] {
            guard case .string(let slug) = promptID, let named = table.features[slug] else {
                throw ProxyError(
                    status: 404, type: "invalid_request_error", code: "feature_not_found",
                    message: "No feature endpoint is named \(promptID.encodedString()) ('prompt_id').", param: "prompt_id")
            }
            feature = named
        } else {
            return nil
        }
        guard feature.active else {
            throw ProxyError(
                status: 403, type: "permission_error", code: "feature_inactive",
                message: "The feature endpoint '\(feature.slug)' is switched off (active: false).", param: "model")
        }
        if body["stream"] == .bool(true), !feature.streamAllowed {
            throw ProxyError(
                status: 400, type: "invalid_request_error", code: "stream_not_allowed",
                message: "The feature endpoint '\(feature.slug)' does not allow streaming (stream_allowed: false).",
                param: "stream")
        }
        let variables = body.removeValue(forKey: "prompt_variables")
        _ = body.removeValue(forKey: "prompt_id")
        body["model"] = .string(feature.model)
        for (name, value) in feature.defaults where body[name] == nil || !feature.clientMayOverride(name) {
            body[name] = value
        }
        guard let prompt = feature.prompt else { return feature }
        if let variables, variables != .null, variables.objectValue == nil {
            throw .invalidRequest("'prompt_variables' must be an object of names and values.", param: "prompt_variables")
        }
        var messages: [JSONValue] = []
        do throws(PromptText.MissingVariable) {
            if let system = prompt.system {
                messages.append(.object(["role": "system", "content": .string(try system.render(variables?.objectValue))]))
            }
            if let user = prompt.user {
                messages.append(.object(["role": "user", "content": .string(try user.render(variables?.objectValue))]))
            }
        } catch {
            throw ProxyError(
                status: 400, type: "invalid_request_error", code: "missing_prompt_variable",
                message: "The prompt variable '\(error.name)' is missing: the feature '\(feature.slug)' (prompt version "
                    + "\(prompt.version)) uses it; send it in 'prompt_variables'.", param: "prompt_variables")
        }
        switch body["messages"] {
        case .array(let given)?: messages += given
        case nil, .null?: break
        case let other?: messages.append(other)  // Not a list: the request check says so.
        }
        body["messages"] = .array(messages)
        return feature
    }

    /// Refuses a request that uses a capability whose flag is off for its caller (403 naming the flag).
    func checkFlags(_ body: JSONObject, surface: ClientSurface, caller: Caller) throws(ProxyError) {
        var identity: (alias: String?, hash: String?, tier: String?, team: String?)?
        func isOn(_ flag: FeatureFlag) -> Bool {
            if identity == nil {
                switch caller {
                case .key(let token), .unverified(let token), .lookUp(let token):
                    let known = accounting.keys.identity(token: token)
                    identity = (known?.alias, token, known?.tier, known?.team)
                case .master, .open: identity = (nil, nil, nil, nil)
                }
            }
            return flag.isOn(keyAlias: identity?.alias, keyHash: identity?.hash, tier: identity?.tier, team: identity?.team)
        }
        for (capability, flag) in table.capabilityFlags where Self.uses(capability, body, surface: surface) && !isOn(flag) {
            let (what, parameter) =
                switch capability {
                case .streaming: ("streaming", "stream")
                case .toolUse: ("tool use", "tools")
                case .vision: ("image input", "messages")
                }
            throw ProxyError(
                status: 403, type: "permission_error", code: "feature_flag_off",
                message: "The flag '\(flag.name)' is off for this key: \(what) is not allowed.", param: parameter)
        }
    }

    /// Whether a request uses a capability.
    static func uses(_ capability: FlagCapability, _ body: JSONObject, surface: ClientSurface) -> Bool {
        switch capability {
        case .streaming: return body["stream"] == .bool(true)
        case .toolUse:
            for name in ["tools", "functions"] {
                switch body[name] {
                case nil, .null?: continue
                case .array(let list)? where list.isEmpty: continue
                default: return true
                }
            }
            return false
        case .vision:
            let conversation = body[surface == .responses ? "input" : "messages"]
            guard case .array(let items)? = conversation else { return false }
            return items.contains { item in
                guard case .array(let parts)? = item.objectValue?["content"] else { return false }
                return parts.contains { part in
                    ["image_url", "input_image", "image"].contains(part.objectValue?["type"]?.stringValue ?? "")
                }
            }
        }
    }

    /// The alias an `on_budget_exceeded` chain moves a spent key to: the first with a deployment that serves and
    /// that the key may use, admitted without the budget check. Nil when there is none.
    func budgetFallback(token: String, alias: String, promptTokens: Int) -> (alias: String, lease: KeyLease)? {
        guard let chain = table.settings.budgetFallbacks[alias] else { return nil }
        for next in chain where table.deployments(for: next)?.contains(where: \.status.isEnabled) == true {
            if case .admitted(let lease) = accounting.keys.admit(
                token: token, alias: next, promptTokens: promptTokens, ignoringBudget: true)
            {
                return (next, lease)
            }
        }
        return nil
    }
}
