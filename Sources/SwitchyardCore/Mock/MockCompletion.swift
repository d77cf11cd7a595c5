/// Builds chat-completion answers the way xAI sends them; used by the built-in `mock/` provider and the
/// standalone mock upstream alike.
public struct MockCompletion: Sendable {
    /// Response id.
    public var id: String
    /// Model name in the answer.
    public var model: String
    /// Unix time.
    public var created: Int
    /// The answer text.
    public var content: String
    /// Reasoning text streamed before the answer (reasoning models), if any.
    public var reasoning: String?
    /// Whether `reasoning_content` appears in a non-streamed message (grok-3-mini only).
    public var reasoningInMessage: Bool
    /// Whether `reasoning_content` deltas are streamed (grok-4 reasons silently).
    public var reasoningInStream: Bool = true
    /// Prompt tokens to report.
    public var promptTokens: Int
    /// Number of content deltas to stream.
    public var contentChunks: Int
    /// Empty `"delta":{}` chunks between reasoning and content (grok-code-fast-1 does this).
    public var emptyDeltas: Int
    /// Prompt tokens served from the prompt cache.
    public var cachedTokens = 0
    /// xAI's own cost of the answer, in ticks (10^10 per USD), when it reports one.
    public var costTicks: Int?
    /// Tool calls the answer makes instead of text (`tools` given, the last message the user's).
    public var toolCalls: [MockToolCall] = []

    /// Creates a completion.
    public init(
        id: String, model: String, created: Int, content: String, reasoning: String? = nil,
        reasoningInMessage: Bool = false, promptTokens: Int, contentChunks: Int = 4, emptyDeltas: Int = 0
    ) {
        self.id = id
        self.model = model
        self.created = created
        self.content = content
        self.reasoning = reasoning
        self.reasoningInMessage = reasoningInMessage
        self.promptTokens = promptTokens
        self.contentChunks = max(1, contentChunks)
        self.emptyDeltas = emptyDeltas
    }

    /// A rough token count: one token per four UTF-8 bytes, at least one.
    public static func tokenCount(_ text: String) -> Int { max(1, (text.utf8.count + 3) / 4) }

    /// The text of the last user message in a chat request (string or text parts).
    public static func lastUserText(in body: JSONObject) -> String {
        guard case .array(let messages) = body["messages"] else { return body["prompt"]?.stringValue ?? "" }
        for message in messages.reversed() {
            guard case .object(let object) = message, object["role"]?.stringValue == "user" else { continue }
            if let text = object["content"]?.stringValue { return text }
            if case .array(let parts) = object["content"] {
                return parts.compactMap { $0.objectValue?["text"]?.stringValue }.joined(separator: " ")
            }
        }
        return ""
    }

    /// Prompt tokens of a whole request body.
    public static func promptTokens(of body: JSONObject) -> Int {
        guard case .array(let messages) = body["messages"] else {
            return tokenCount(body["prompt"]?.stringValue ?? "")
        }
        return messages.reduce(0) { sum, message in
            sum + 4 + tokenCount(message.objectValue?["content"]?.stringValue ?? "")
        }
    }

    var completionTokens: Int {
        toolCalls.isEmpty ? Self.tokenCount(content) : toolCalls.reduce(0) { $0 + Self.tokenCount($1.arguments) + 4 }
    }
    var reasoningTokens: Int { reasoning.map(Self.tokenCount) ?? 0 }

    /// The usage object with xAI's semantics (completion excludes reasoning; total includes it).
    public var usage: JSONValue {
        var usage = baseUsage
        if let costTicks, case .object(var object) = usage {
            object["cost_in_usd_ticks"] = .int(costTicks)
            usage = .object(object)
        }
        return usage
    }

    /// The answer's usage as the proxy reads it.
    public var usageValue: Usage {
        Usage(
            promptTokens: promptTokens, completionTokens: completionTokens, reasoningTokens: reasoningTokens,
            cachedTokens: cachedTokens)
    }

    /// xAI's cost in ticks (10^10 per USD) at `pricing` (the long-prompt tier applied); nil without prices.
    public func costTicks(at pricing: ModelPricing) -> Int? {
        pricing.cost(of: usageValue).map { Int(($0.usd * 1e10).rounded()) }
    }

    var baseUsage: JSONValue {
        .object([
            "prompt_tokens": .int(promptTokens),
            "completion_tokens": .int(completionTokens),
            "total_tokens": .int(promptTokens + completionTokens + reasoningTokens),
            "prompt_tokens_details": .object([
                "text_tokens": .int(promptTokens), "audio_tokens": 0, "image_tokens": 0,
                "cached_tokens": .int(cachedTokens),
            ]),
            "completion_tokens_details": .object([
                "reasoning_tokens": .int(reasoningTokens), "audio_tokens": 0, "accepted_prediction_tokens": 0,
                "rejected_prediction_tokens": 0,
            ]),
            "num_sources_used": 0,
        ])
    }

    /// The non-streamed `chat.completion` object.
    public var chatCompletion: JSONValue {
        var message: JSONObject = ["role": "assistant", "content": toolCalls.isEmpty ? .string(content) : .null]
        if reasoningInMessage, let reasoning { message["reasoning_content"] = .string(reasoning) }
        if !toolCalls.isEmpty { message["tool_calls"] = .array(toolCalls.map(\.json)) }
        message["refusal"] = .null
        return .object([
            "id": .string(id),
            "object": "chat.completion",
            "created": .int(created),
            "model": .string(model),
            "choices": .array([
                .object(["index": 0, "message": .object(message), "finish_reason": toolCalls.isEmpty ? "stop" : "tool_calls"])
            ]),
            "usage": usage,
            "system_fingerprint": "fp_switchyard_mock",
        ])
    }

    /// The legacy `text_completion` object.
    public var textCompletion: JSONValue {
        .object([
            "id": .string(id),
            "object": "text_completion",
            "created": .int(created),
            "model": .string(model),
            "choices": .array([.object(["index": 0, "text": .string(content), "finish_reason": "stop"])]),
            "usage": usage,
        ])
    }

    private func chunk(_ delta: JSONObject, finishReason: String? = nil) -> JSONValue {
        var choice: JSONObject = ["index": 0, "delta": .object(delta)]
        if let finishReason { choice["finish_reason"] = .string(finishReason) }
        return .object([
            "id": .string(id),
            "object": "chat.completion.chunk",
            "created": .int(created),
            "model": .string(model),
            "choices": .array([.object(choice)]),
            "system_fingerprint": "fp_switchyard_mock",
        ])
    }

    /// Splits `text` into `count` pieces of nearly equal length (never fewer than one character each).
    public static func split(_ text: String, into count: Int) -> [String] {
        let characters = Array(text)
        guard !characters.isEmpty else { return [""] }
        let pieces = min(count, characters.count)
        var result: [String] = []
        var start = 0
        for piece in 0..<pieces {
            let end = (characters.count * (piece + 1)) / pieces
            result.append(String(characters[start..<end]))
            start = end
        }
        return result
    }

    /// Every SSE frame of the streamed answer, `[DONE]` included: role with the first delta, reasoning deltas,
    /// empty deltas, content deltas, a finish chunk, and the `choices: []` usage chunk when asked for.
    public func streamFrames(includeUsage: Bool) -> [[UInt8]] {
        var frames: [JSONValue] = []
        let contentPieces = Self.split(content, into: contentChunks)
        if let reasoning, reasoningInStream {
            let reasoningPieces = Self.split(reasoning, into: 2)
            for (index, piece) in reasoningPieces.enumerated() {
                var delta: JSONObject = index == 0 ? ["role": "assistant"] : [:]
                delta["reasoning_content"] = .string(piece)
                frames.append(chunk(delta))
            }
            for _ in 0..<emptyDeltas { frames.append(chunk([:])) }
            if toolCalls.isEmpty {
                for piece in contentPieces { frames.append(chunk(["content": .string(piece)])) }
            }
        } else if !toolCalls.isEmpty {
            frames.append(chunk(["role": "assistant"]))
        } else {
            for _ in 0..<emptyDeltas { frames.append(chunk(frames.isEmpty ? ["role": "assistant"] : [:])) }
            for (index, piece) in contentPieces.enumerated() {
                var delta: JSONObject = index == 0 && frames.isEmpty ? ["role": "assistant"] : [:]
                delta["content"] = .string(piece)
                frames.append(chunk(delta))
            }
        }
        if !toolCalls.isEmpty {
            // xAI sends tool calls whole, in one delta.
            frames.append(
                chunk([
                    "tool_calls": .array(
                        toolCalls.enumerated().map { index, call in
                            var object = call.json.objectValue ?? [:]
                            object["index"] = .int(index)
                            return .object(object)
                        })
                ]))
        }
        frames.append(chunk([:], finishReason: toolCalls.isEmpty ? "stop" : "tool_calls"))
        if includeUsage {
            frames.append(
                .object([
                    "id": .string(id), "object": "chat.completion.chunk", "created": .int(created),
                    "model": .string(model), "choices": .array([]), "usage": usage,
                    "system_fingerprint": "fp_switchyard_mock",
                ]))
        }
        var output = frames.map { Self.frame($0.encodedBytes()) }
        output.append(Array("data: [DONE]\n\n".utf8))
        return output
    }

    /// `data: <payload>\n\n`.
    public static func frame(_ payload: [UInt8]) -> [UInt8] {
        var bytes = Array("data: ".utf8)
        bytes.append(contentsOf: payload)
        bytes.append(contentsOf: [0x0A, 0x0A])
        return bytes
    }

    /// An OpenAI `embedding` list with a deterministic vector per input.
    public static func embeddings(model: String, inputs: [String], dimensions: Int = 8) -> JSONValue {
        let data: [JSONValue] = inputs.enumerated().map { index, text in
            var seed = UInt64(truncatingIfNeeded: text.utf8.reduce(5381) { ($0 &* 33) &+ Int($1) })
            let vector: [JSONValue] = (0..<dimensions).map { _ in
                seed = seed &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
                return .double(Double(seed >> 40) / Double(1 << 24) - 0.5)
            }
            return .object(["object": "embedding", "index": .int(index), "embedding": .array(vector)])
        }
        let tokens = inputs.reduce(0) { $0 + tokenCount($1) }
        return .object([
            "object": "list", "data": .array(data), "model": .string(model),
            "usage": .object(["prompt_tokens": .int(tokens), "total_tokens": .int(tokens)]),
        ])
    }
}

/// A tool call the mocks make: the first tool offered (or the one `tool_choice` names), with arguments made from its
/// schema's properties (strings get the prompt, numbers 2, booleans true), so a client's tool round trip can run.
public struct MockToolCall: Sendable, Equatable {
    /// The call's id.
    public var id: String
    /// The function's name.
    public var name: String
    /// The arguments, JSON text.
    public var arguments: String

    /// The chat `tool_calls` entry.
    public var json: JSONValue {
        .object([
            "id": .string(id), "type": "function",
            "function": .object(["name": .string(name), "arguments": .string(arguments)]),
        ])
    }

    /// The call a request asks for: tools offered, not refused by `tool_choice: none`, and the last message the
    /// user's (after a tool's result the mocks answer in text); nil otherwise.
    public static func planned(for body: JSONObject, prompt: String, id: String) -> MockToolCall? {
        guard case .array(let tools)? = body["tools"], !tools.isEmpty, body["tool_choice"]?.stringValue != "none",
            case .array(let messages)? = body["messages"], messages.last?.objectValue?["role"]?.stringValue == "user"
        else { return nil }
        let wanted = body["tool_choice"]?.objectValue?["function"]?.objectValue?["name"]?.stringValue
        let functions = tools.compactMap { $0.objectValue?["function"]?.objectValue }
        guard let function = functions.first(where: { wanted == nil || $0["name"]?.stringValue == wanted }),
            let name = function["name"]?.stringValue
        else { return nil }
        var arguments = JSONObject()
        for (key, schema) in function["parameters"]?.objectValue?["properties"]?.objectValue ?? [:] {
            switch schema.objectValue?["type"]?.stringValue {
            case "number"?, "integer"?: arguments[key] = 2
            case "boolean"?: arguments[key] = true
            default: arguments[key] = .string(prompt)
            }
        }
        return MockToolCall(id: id, name: name, arguments: JSONValue.object(arguments).encodedString())
    }

    /// The text the mocks answer with after a tool's result: `Tool said: <result>`; nil when the last message is not
    /// a tool's.
    public static func answerAfterTool(in body: JSONObject) -> String? {
        guard case .array(let messages)? = body["messages"], let last = messages.last?.objectValue,
            last["role"]?.stringValue == "tool"
        else { return nil }
        return "Tool said: \(last["content"]?.stringValue ?? last["content"]?.encodedString() ?? "")"
    }
}
