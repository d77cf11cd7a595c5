extension ConfigString {
    /// As written: the literal, or `os.environ/NAME`.
    public var raw: String {
        switch self {
        case .literal(let text): text
        case .environment(let name): Self.environmentPrefix + name
        }
    }
}

extension DeploymentEntry {
    /// The entry as a `model_list` item (`model_name`, `litellm_params`, `model_info`), with LiteLLM's key names:
    /// what `ConfigLoader.parseModelEntry` reads back to the same entry. `secret` writes a literal key or
    /// credential header (the file may hold one; run-time entries never do).
    public func json(secret: (String) -> String = { $0 }) -> JSONObject {
        var params: JSONObject = ["model": .string(model)]
        func put(_ key: String, _ value: JSONValue?) {
            if let value { params[key] = value }
        }
        put("custom_llm_provider", customProvider.map { .string($0) })
        put("api_base", apiBase.map { .string($0.raw) })
        put(
            "api_key",
            apiKey.map { key in .string(key.raw.hasPrefix(ConfigString.environmentPrefix) ? key.raw : secret(key.raw)) })
        put("drop_params", dropParams.map { .bool($0) })
        if !additionalDropParams.isEmpty { params["additional_drop_params"] = .array(additionalDropParams.map { .string($0) }) }
        if !extraHeaders.isEmpty {
            var headers = JSONObject()
            for header in extraHeaders {
                let literal = header.value.raw
                let sensitive = HeaderPolicy.isSensitive(header.name) && !literal.hasPrefix(ConfigString.environmentPrefix)
                headers[header.name] = .string(sensitive ? secret(literal) : literal)
            }
            params["extra_headers"] = .object(headers)
        }
        put("timeout", timeouts.total.map { .double($0) })
        put("stream_timeout", timeouts.idle.map { .double($0) })
        put("connect_timeout", timeouts.connect.map { .double($0) })
        put("first_byte_timeout", timeouts.firstByte.map { .double($0) })
        put("weight", weight.map { .double($0) })
        put("rpm", rpm.map { .double($0) })
        put("tpm", tpm.map { .int($0) })
        put("max_parallel_requests", maxParallelRequests.map { .int($0) })
        put("num_retries", numRetries.map { .int($0) })
        var info = JSONObject()
        if let id { info["id"] = .string(id) }
        if let price = prices.inputPerToken { info["input_cost_per_token"] = .double(price) }
        if let price = prices.outputPerToken { info["output_cost_per_token"] = .double(price) }
        if let price = prices.cachedInputPerToken { info["cache_read_input_token_cost"] = .double(price) }
        if let maxInputTokens { info["max_input_tokens"] = .int(maxInputTokens) }
        if let supportedEndpoints { info["supported_endpoints"] = .array(supportedEndpoints.map { .string($0) }) }
        var object: JSONObject = ["model_name": .string(alias), "litellm_params": .object(params)]
        if !info.isEmpty { object["model_info"] = .object(info) }
        return object
    }
}

extension JSONObject {
    /// This object with `changes` merged in, as `/model/update` does: an object merges key by key, `null` removes
    /// a key, anything else replaces it.
    public func merging(_ changes: JSONObject) -> JSONObject {
        var result = self
        for (key, value) in changes {
            switch (result[key], value) {
            case (_, .null): _ = result.removeValue(forKey: key)
            case (.object(let old)?, .object(let new)): result[key] = .object(old.merging(new))
            default: result[key] = value
            }
        }
        return result
    }
}
