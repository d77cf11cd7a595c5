import SwitchyardCore

/// What the run-time configuration does to a request, from the table in memory: a feature endpoint's model,
/// defaults and prompt; feature flags; the `on_budget_exceeded` chain. None of it reads the database.
extension ProxyEngine {
    /// A chat request that names a feature endpoint (its slug as `model`, or LiteLLM's `prompt_id`) becomes a
    /// request to the feature's alias: its defaults added where the request has no value of its own (or the
    /// feature does not let it override), and its active prompt in front of the request's messages, its
    /// `{{variables}}` filled from `prompt_variables`. Answers the feature, or nil when the request names none.
    func applyFeature(_ body: inout JSONObject) throws(ProxyError) -> FeatureEndpoint? {
        let route: FeatureRoute
        if case .string(let model)? = body["model"], let named = table.features[model] {
            route = named
        } else if let promptID = body["prompt_id"] {
            guard case .string(let slug) = promptID, let named = table.features[slug] else {
                throw ProxyError(
                    status: 404, type: "invalid_request_error", code: "feature_not_found",
                    message: "No feature endpoint is named \(promptID.encodedString()) ('prompt_id').", param: "prompt_id")
            }
            route = named
        } else {
            return nil
        }
        let feature = route.feature
        guard feature.active else {
            throw ProxyError(
                status: 403, type: "permission_error", code: "feature_inactive",
                message: "The feature endpoint '\(feature.slug)' is switched off (active: false).", param: "model")
        }
        if !feature.streamAllowed, body["stream"] == .bool(true) {
            throw ProxyError(
                status: 400, type: "invalid_request_error", code: "stream_not_allowed",
                message: "The feature endpoint '\(feature.slug)' does not allow streaming (stream_allowed: false).",
                param: "stream")
        }
        let variables = body.removeValue(forKey: "prompt_variables")
        if body["prompt_id"] != nil { body.removeValue(forKey: "prompt_id") }
        body["model"] = .string(feature.model)
        for (name, value, clientMayOverride) in route.defaults where !clientMayOverride || body[name] == nil {
            body[name] = value
        }
        if let prompt = feature.prompt { try Self.prepend(prompt, of: feature.slug, variables: variables, to: &body) }
        return feature
    }

    /// Puts a prompt's messages in front of the request's: the member's value for what reads the request, and its
    /// text written once for the upstream (the request's own messages copied as they came).
    static func prepend(
        _ prompt: PromptVersion, of slug: String, variables: JSONValue?, to body: inout JSONObject
    ) throws(ProxyError) {
        if let variables, variables != .null, variables.objectValue == nil {
            throw .invalidRequest("'prompt_variables' must be an object of names and values.", param: "prompt_variables")
        }
        let values = variables?.objectValue
        var messages: [JSONValue] = []
        var text: [UInt8] = []
        text.reserveCapacity(512)
        text.append(static: #""messages":["#)
        func add(_ role: String, _ opening: StaticString, _ content: String) {
            if messages.count > 0 { text.append(UInt8(ascii: ",")) }
            text.append(static: opening)
            JSONValue.encodeString(content, into: &text)
            text.append(UInt8(ascii: "}"))
            messages.append(.object(JSONObject([("role", .string(role)), ("content", .string(content))])))
        }
        do throws(PromptText.MissingVariable) {
            if let system = prompt.system { add("system", #"{"role":"system","content":"#, try system.render(values)) }
            if let user = prompt.user { add("user", #"{"role":"user","content":"#, try user.render(values)) }
        } catch {
            throw ProxyError(
                status: 400, type: "invalid_request_error", code: "missing_prompt_variable",
                message: "The prompt variable '\(error.name)' is missing: the feature '\(slug)' (prompt version "
                    + "\(prompt.version)) uses it; send it in 'prompt_variables'.", param: "prompt_variables")
        }
        switch body["messages"] {
        case .array(let given)? where !given.isEmpty:
            text.append(UInt8(ascii: ","))
            if let raw = body.parsedValueText(of: "messages"), raw.first == UInt8(ascii: "["),
                raw.last == UInt8(ascii: "]")
            {
                text.append(contentsOf: raw.dropFirst().dropLast())
            } else {
                for (index, message) in given.enumerated() {
                    if index > 0 { text.append(UInt8(ascii: ",")) }
                    message.encode(into: &text)
                }
            }
            messages += given
        case nil, .null?, .array?: break
        case let other?:
            // Not a list: left for the request check to refuse.
            body["messages"] = other
            return
        }
        text.append(UInt8(ascii: "]"))
        body.set("messages", .array(messages), text: text)
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
