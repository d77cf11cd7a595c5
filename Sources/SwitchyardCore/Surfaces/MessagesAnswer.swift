/// Anthropic's Messages API answer from a Chat Completions one, whole or streamed. Pure.
///
/// `reasoning_content` becomes a `thinking` block (with an empty signature: a chat upstream signs nothing), the
/// message's text a `text` block, each tool call a `tool_use` block (its arguments parsed into `input`);
/// `finish_reason` becomes `stop_reason` (`stop` end_turn, `length` max_tokens, `tool_calls` tool_use); usage counts
/// the uncached prompt as `input_tokens`, the cached part as `cache_read_input_tokens`, and completion plus
/// reasoning as `output_tokens`.
public enum MessagesAnswer {
    /// Anthropic's `usage` from a chat usage object.
    public static func usage(_ chatUsage: JSONValue?, completionIncludesReasoning: Bool) -> JSONObject {
        let read = Usage(json: chatUsage, completionIncludesReasoning: completionIncludesReasoning) ?? Usage()
        return [
            "input_tokens": .int(max(0, read.promptTokens - read.cachedTokens)),
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": .int(read.cachedTokens),
            "output_tokens": .int(read.completionTokens + read.reasoningTokens),
        ]
    }

    /// `stop_reason` for a chat `finish_reason`.
    public static func stopReason(_ finish: String?) -> JSONValue {
        switch finish {
        case "length"?: "max_tokens"
        case "tool_calls"?, "function_call"?: "tool_use"
        case nil: .null
        default: "end_turn"
        }
    }

    /// A tool call's arguments as the `input` object (an object even when the upstream's text is not one).
    static func input(_ arguments: String) -> JSONValue {
        if case .object(let object)? = try? JSONParser.parse(Array(arguments.utf8)) { return .object(object) }
        return .object([:])
    }

    /// The `message` object for a whole chat completion; `model` is the client's (its alias).
    public static func message(fromChat completion: JSONObject, id: String, model: String, completionIncludesReasoning: Bool)
        -> JSONObject
    {
        let choice = completion["choices"]?.arrayValue?.first?.objectValue
        let message = choice?["message"]?.objectValue ?? [:]
        var content: [JSONValue] = []
        if let reasoning = message["reasoning_content"]?.stringValue, !reasoning.isEmpty {
            content.append(.object(["type": "thinking", "thinking": .string(reasoning), "signature": ""]))
        }
        if let text = message["content"]?.stringValue, !text.isEmpty {
            content.append(.object(["type": "text", "text": .string(text)]))
        }
        for call in message["tool_calls"]?.arrayValue ?? [] {
            guard let object = call.objectValue, let function = object["function"]?.objectValue else { continue }
            content.append(
                .object([
                    "type": "tool_use", "id": .string(object["id"]?.stringValue ?? ""),
                    "name": .string(function["name"]?.stringValue ?? ""),
                    "input": input(function["arguments"]?.stringValue ?? "{}"),
                ]))
        }
        return [
            "id": .string(id), "type": "message", "role": "assistant", "model": .string(model), "content": .array(content),
            "stop_reason": stopReason(choice?["finish_reason"]?.stringValue), "stop_sequence": .null,
            "usage": .object(usage(completion["usage"], completionIncludesReasoning: completionIncludesReasoning)),
        ]
    }

    /// The error envelope Anthropic's SDKs read: `{"type": "error", "error": {"type": ..., "message": ...}}`.
    public static func errorBody(status: Int, message: String) -> JSONValue {
        .object(["type": "error", "error": .object(["type": .string(errorType(status: status)), "message": .string(message)])])
    }

    /// Anthropic's error type for an HTTP status.
    public static func errorType(status: Int) -> String {
        switch status {
        case 400, 422: "invalid_request_error"
        case 401: "authentication_error"
        case 403: "permission_error"
        case 404: "not_found_error"
        case 413: "request_too_large"
        case 429: "rate_limit_error"
        case 503, 529: "overloaded_error"
        default: status >= 500 ? "api_error" : "invalid_request_error"
        }
    }
}

/// A Chat Completions stream as Anthropic's event sequence: `message_start`, then per block `content_block_start`,
/// its deltas (`thinking_delta`, `text_delta`, `input_json_delta`) and `content_block_stop`, then `message_delta`
/// (stop reason, usage) and `message_stop`; a broken stream ends with an `error` event. Pure.
public struct MessagesStream: Sendable {
    private let id: String
    private let model: String
    private let completionIncludesReasoning: Bool
    private var started = false
    private var ended = false
    private var blockIndex = -1
    private var open: Block?
    /// Tool calls by their chat index, and the block each one is.
    private var callBlocks: [Int: Int] = [:]
    private var usage: JSONValue?
    private var finishReason: String?

    private enum Block: Sendable, Equatable {
        case thinking, text, toolUse(chatIndex: Int)
    }

    /// A translator for one message.
    public init(id: String, model: String, completionIncludesReasoning: Bool) {
        self.id = id
        self.model = model
        self.completionIncludesReasoning = completionIncludesReasoning
    }

    /// Whether the message has ended.
    public var isEnded: Bool { ended }

    /// The events one upstream chunk makes (`message_start` first, the first time).
    public mutating func chunk(_ chunk: JSONObject) -> [JSONObject] {
        guard !ended else { return [] }
        var events = opening()
        if let value = chunk["usage"], value != .null { usage = value }
        for choice in chunk["choices"]?.arrayValue ?? [] {
            guard let object = choice.objectValue else { continue }
            let delta = object["delta"]?.objectValue ?? [:]
            if let text = delta["reasoning_content"]?.stringValue, !text.isEmpty {
                events += ensure(.thinking, start: ["type": "thinking", "thinking": "", "signature": ""])
                events.append(blockDelta(["type": "thinking_delta", "thinking": .string(text)]))
            }
            if let text = delta["content"]?.stringValue, !text.isEmpty {
                events += ensure(.text, start: ["type": "text", "text": ""])
                events.append(blockDelta(["type": "text_delta", "text": .string(text)]))
            }
            for call in delta["tool_calls"]?.arrayValue ?? [] {
                guard let call = call.objectValue else { continue }
                let chatIndex = call["index"]?.intValue ?? callBlocks.count
                let function = call["function"]?.objectValue ?? [:]
                if callBlocks[chatIndex] == nil {
                    events += close()
                    blockIndex += 1
                    callBlocks[chatIndex] = blockIndex
                    open = .toolUse(chatIndex: chatIndex)
                    events.append(
                        event(
                            "content_block_start",
                            [
                                "index": .int(blockIndex),
                                "content_block": .object([
                                    "type": "tool_use", "id": .string(call["id"]?.stringValue ?? "toolu_\(chatIndex)"),
                                    "name": .string(function["name"]?.stringValue ?? ""), "input": .object([:]),
                                ]),
                            ]))
                }
                if let arguments = function["arguments"]?.stringValue, !arguments.isEmpty, let index = callBlocks[chatIndex] {
                    events.append(
                        event(
                            "content_block_delta",
                            [
                                "index": .int(index),
                                "delta": .object(["type": "input_json_delta", "partial_json": .string(arguments)]),
                            ]))
                }
            }
            if let reason = object["finish_reason"]?.stringValue, !reason.isEmpty { finishReason = reason }
        }
        return events
    }

    /// The closing events: the open block stopped, `message_delta` with the stop reason and usage, `message_stop`.
    public mutating func finish() -> [JSONObject] {
        guard !ended else { return [] }
        var events = opening() + close()
        ended = true
        let counts = MessagesAnswer.usage(usage, completionIncludesReasoning: completionIncludesReasoning)
        events.append(
            event(
                "message_delta",
                [
                    "delta": .object(["stop_reason": MessagesAnswer.stopReason(finishReason ?? "stop"), "stop_sequence": .null]),
                    "usage": .object(counts),
                ]))
        events.append(event("message_stop", [:]))
        return events
    }

    /// The event of a stream that broke: Anthropic's `error` event.
    public mutating func fail(status: Int, message: String) -> [JSONObject] {
        guard !ended else { return [] }
        ended = true
        return [
            event(
                "error",
                [
                    "error": .object([
                        "type": .string(MessagesAnswer.errorType(status: status)), "message": .string(message),
                    ])
                ])
        ]
    }

    /// An event as SSE bytes: `event: TYPE` and its JSON on one `data:` line.
    public static func frame(_ event: JSONObject) -> [UInt8] { ResponsesStream.frame(event) }

    private mutating func opening() -> [JSONObject] {
        guard !started else { return [] }
        started = true
        return [
            event(
                "message_start",
                [
                    "message": .object([
                        "id": .string(id), "type": "message", "role": "assistant", "model": .string(model),
                        "content": .array([]), "stop_reason": .null, "stop_sequence": .null,
                        "usage": .object([
                            "input_tokens": 0, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0,
                            "output_tokens": 0,
                        ]),
                    ])
                ])
        ]
    }

    private mutating func ensure(_ block: Block, start: JSONObject) -> [JSONObject] {
        if open == block { return [] }
        var events = close()
        blockIndex += 1
        open = block
        events.append(event("content_block_start", ["index": .int(blockIndex), "content_block": .object(start)]))
        return events
    }

    private mutating func close() -> [JSONObject] {
        guard let block = open else { return [] }
        open = nil
        var events: [JSONObject] = []
        if block == .thinking {
            events.append(blockDelta(["type": "signature_delta", "signature": ""]))
        }
        events.append(event("content_block_stop", ["index": .int(blockIndex)]))
        return events
    }

    private func blockDelta(_ delta: JSONObject) -> JSONObject {
        event("content_block_delta", ["index": .int(blockIndex), "delta": .object(delta)])
    }

    private func event(_ type: String, _ fields: JSONObject) -> JSONObject {
        var object: JSONObject = ["type": .string(type)]
        for (key, value) in fields { object[key] = value }
        return object
    }
}
