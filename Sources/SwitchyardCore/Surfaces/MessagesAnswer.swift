/// Anthropic's Messages API answer from a Chat Completions one, whole or streamed. Pure.
///
/// `reasoning_content` becomes a `thinking` block (with an empty signature: a chat upstream signs nothing), the
/// message's text a `text` block, each tool call a `tool_use` block (its arguments parsed into `input`);
/// `finish_reason` becomes `stop_reason` (`stop` end_turn, `length` max_tokens, `tool_calls` tool_use,
/// `content_filter` refusal); usage counts
/// the uncached prompt as `input_tokens`, the cached part as `cache_read_input_tokens`, and completion plus
/// reasoning as `output_tokens`.
public enum MessagesAnswer {
    /// Anthropic's `usage` from a chat usage object.
    public static func usage(_ chatUsage: JSONValue?, completionIncludesReasoning: Bool) -> JSONObject {
        var writer = JSONWriter(capacity: 128)
        writeUsage(Usage(json: chatUsage, completionIncludesReasoning: completionIncludesReasoning), into: &writer)
        return (try? JSONParser.parse(array: writer.bytes))?.objectValue ?? [:]
    }

    /// `stop_reason` for a chat `finish_reason`.
    public static func stopReason(_ finish: String?) -> JSONValue {
        guard let finish else { return .null }
        return .string(stopReason(ModelTurn.finish(chat: finish, hasCalls: false)))
    }

    /// `stop_reason` for a finished turn.
    public static func stopReason(_ finish: ModelTurn.Finish) -> String {
        switch finish {
        case .stop: "end_turn"
        case .length: "max_tokens"
        case .toolCalls: "tool_use"
        case .contentFilter: "refusal"
        }
    }

    /// A tool call's arguments as the `input` object (an object even when the upstream's text is not one).
    static func input(_ arguments: String) -> JSONValue {
        if case .object(let object)? = try? JSONParser.parse(Array(arguments.utf8)) { return .object(object) }
        return .object([:])
    }

    /// The `message` object's JSON for a whole model turn, written straight to bytes; `model` is the client's (its
    /// alias).
    public static func render(_ turn: ModelTurn, id: String, model: String) -> [UInt8] {
        var writer = JSONWriter(capacity: 512 + turn.text.utf8.count + turn.reasoning.utf8.count)
        writer.beginObject()
        writer.key("id")
        writer.string(id)
        writer.key("type")
        writer.literal("\"message\"")
        writer.key("role")
        writer.literal("\"assistant\"")
        writer.key("model")
        writer.string(model)
        writer.key("content")
        writer.beginArray()
        if !turn.reasoning.isEmpty {
            writer.beginObject()
            writer.key("type")
            writer.literal("\"thinking\"")
            writer.key("thinking")
            writer.string(turn.reasoning)
            writer.key("signature")
            writer.literal("\"\"")
            writer.endObject()
        }
        if let text = turn.text.isEmpty ? turn.refusal : turn.text {
            writer.beginObject()
            writer.key("type")
            writer.literal("\"text\"")
            writer.key("text")
            writer.string(text)
            writer.endObject()
        }
        for call in turn.toolCalls {
            writer.beginObject()
            writer.key("type")
            writer.literal("\"tool_use\"")
            writer.key("id")
            writer.string(call.id)
            writer.key("name")
            writer.string(call.name)
            writer.key("input")
            writer.value(input(call.arguments))
            writer.endObject()
        }
        writer.endArray()
        writer.key("stop_reason")
        writer.string(stopReason(turn.finish))
        writer.key("stop_sequence")
        writer.literal("null")
        writer.key("usage")
        writeUsage(turn.usage, into: &writer)
        writer.endObject()
        return writer.bytes
    }

    /// Writes Anthropic's `usage`: the uncached prompt as `input_tokens`, the cached part as
    /// `cache_read_input_tokens`, completion plus reasoning as `output_tokens`.
    static func writeUsage(_ read: Usage?, into writer: inout JSONWriter) {
        let read = read ?? Usage()
        writer.beginObject()
        writer.key("input_tokens")
        writer.int(max(0, read.promptTokens - read.cachedTokens))
        writer.key("cache_creation_input_tokens")
        writer.int(0)
        writer.key("cache_read_input_tokens")
        writer.int(read.cachedTokens)
        writer.key("output_tokens")
        writer.int(read.completionTokens + read.reasoningTokens)
        writer.endObject()
    }

    /// The `message` object for a whole chat completion (tests): `render`'s, parsed.
    public static func message(fromChat completion: JSONObject, id: String, model: String, completionIncludesReasoning: Bool)
        -> JSONObject
    {
        let turn = ModelTurn(chat: completion, completionIncludesReasoning: completionIncludesReasoning)
        return (try? JSONParser.parse(array: render(turn, id: id, model: model)))?.objectValue ?? [:]
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

/// A Chat Completions stream (or a Responses API one, `responsesEvent`) as Anthropic's event sequence: `message_start`, then per block `content_block_start`,
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
    /// Responses tool calls whose arguments came as deltas (the others get theirs whole at `output_item.done`).
    private var streamedArguments: Set<Int> = []
    /// Whether reasoning came as summary text (then reasoning text events, if any, are not shown twice).
    private var summaryReasoning = false

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
        return apply(ChatChunk(chunk))
    }

    /// The events one upstream chunk makes, read from its bytes without building the chunk's value (`ChatChunk`);
    /// nil when the bytes are not plainly one JSON object, for the caller to parse and pass to `chunk(_:)`.
    public mutating func chunk(bytes: UnsafeBufferPointer<UInt8>) -> [JSONObject]? {
        guard !ended else { return [] }
        guard let fields = ChatChunk(bytes: bytes) else { return nil }
        return apply(fields)
    }

    private mutating func apply(_ chunk: ChatChunk) -> [JSONObject] {
        var events = opening()
        if let value = chunk.usage, value != .null { usage = value }
        for choice in chunk.choices {
            if let text = choice.reasoning, !text.isEmpty {
                events += ensure(.thinking, start: ["type": "thinking", "thinking": "", "signature": ""])
                events.append(blockDelta(["type": "thinking_delta", "thinking": .string(text)]))
            }
            if let text = choice.content, !text.isEmpty {
                events += ensure(.text, start: ["type": "text", "text": ""])
                events.append(blockDelta(["type": "text_delta", "text": .string(text)]))
            }
            for call in choice.toolCalls?.arrayValue ?? [] {
                guard let call = call.objectValue else { continue }
                let chatIndex = call["index"]?.intValue ?? callBlocks.count
                let function = call["function"]?.objectValue ?? [:]
                if callBlocks[chatIndex] == nil {
                    events += startToolUse(
                        key: chatIndex, id: call["id"]?.stringValue ?? "toolu_\(chatIndex)",
                        name: function["name"]?.stringValue ?? "")
                }
                if let arguments = function["arguments"]?.stringValue, !arguments.isEmpty, let index = callBlocks[chatIndex] {
                    events.append(inputDelta(index: index, arguments))
                }
            }
            if let reason = choice.finishReason, !reason.isEmpty { finishReason = reason }
        }
        return events
    }

    /// The Responses API events `responsesEvent` needs parsed whole (an item, or the whole response); the others it
    /// reads from their bytes (`type`, `delta`, `output_index`), or only opens the message for.
    static let parsedResponsesEvents: Set<String> = [
        "response.output_item.added", "response.output_item.done", "response.completed", "response.incomplete",
        "response.failed", "error",
    ]

    /// The events one Responses API event makes, from its bytes: a delta is read without building the event's value,
    /// and an event of a type `responsesEvent` does not act on (`response.created` and `in_progress` carry the whole
    /// request's settings) is not parsed at all. Nil for an event to parse whole, or whose bytes are not plainly one
    /// JSON object: the caller parses it then.
    public mutating func responsesEvent(bytes: UnsafeBufferPointer<UInt8>) -> [JSONObject]? {
        guard !ended else { return [] }
        var reader = JSONByteReader(bytes: bytes)
        var type: String?
        var delta: String?
        var outputIndex: Int?
        // A field of another type reads as absent, as `stringValue` and `intValue` read it in the parsed event.
        let read = reader.members { reader, key in
            if reader.keyIs(key, "type") { return reader.string(into: &type) }
            if reader.keyIs(key, "delta") { return reader.string(into: &delta) }
            if reader.keyIs(key, "output_index") { return reader.integer(into: &outputIndex) }
            return reader.skipValue(depth: 1)
        }
        guard read, reader.atEnd, let type, !Self.parsedResponsesEvents.contains(type) else { return nil }
        var event: JSONObject = ["type": .string(type)]
        if let delta { event["delta"] = .string(delta) }
        if let outputIndex { event["output_index"] = .int(outputIndex) }
        return responsesEvent(event)
    }

    /// The events one Responses API event makes (an upstream that speaks Responses: xAI's, OpenAI's): text and
    /// reasoning deltas as text and thinking blocks, each `function_call` item a `tool_use` block with its arguments
    /// as `input_json_delta`s; `response.completed` / `incomplete` keep the usage and the stop reason for `finish()`,
    /// `response.failed` and `error` end the message with an `error` event.
    public mutating func responsesEvent(_ event: JSONObject) -> [JSONObject] {
        guard !ended else { return [] }
        var events = opening()
        let outputIndex = event["output_index"]?.intValue ?? 0
        switch event["type"]?.stringValue ?? "" {
        case "response.output_item.added":
            guard let item = event["item"]?.objectValue, item["type"] == "function_call" else { break }
            events += startToolUse(
                key: outputIndex, id: item["call_id"]?.stringValue ?? item["id"]?.stringValue ?? "toolu_\(outputIndex)",
                name: item["name"]?.stringValue ?? "")
        case "response.function_call_arguments.delta":
            guard let delta = event["delta"]?.stringValue, !delta.isEmpty, let index = callBlocks[outputIndex] else { break }
            streamedArguments.insert(outputIndex)
            events.append(inputDelta(index: index, delta))
        case "response.output_item.done":
            // A call whose arguments came whole.
            guard let item = event["item"]?.objectValue, item["type"] == "function_call",
                !streamedArguments.contains(outputIndex), let arguments = item["arguments"]?.stringValue, !arguments.isEmpty
            else { break }
            if callBlocks[outputIndex] == nil {
                events += startToolUse(
                    key: outputIndex, id: item["call_id"]?.stringValue ?? "toolu_\(outputIndex)",
                    name: item["name"]?.stringValue ?? "")
            }
            if let index = callBlocks[outputIndex] { events.append(inputDelta(index: index, arguments)) }
            streamedArguments.insert(outputIndex)
        case "response.output_text.delta", "response.refusal.delta":
            guard let text = event["delta"]?.stringValue, !text.isEmpty else { break }
            events += ensure(.text, start: ["type": "text", "text": ""])
            events.append(blockDelta(["type": "text_delta", "text": .string(text)]))
        case "response.reasoning_summary_text.delta", "response.reasoning_text.delta":
            let summary = event["type"] == "response.reasoning_summary_text.delta"
            if summary { summaryReasoning = true } else if summaryReasoning { break }
            guard let text = event["delta"]?.stringValue, !text.isEmpty else { break }
            events += ensure(.thinking, start: ["type": "thinking", "thinking": "", "signature": ""])
            events.append(blockDelta(["type": "thinking_delta", "thinking": .string(text)]))
        case "response.completed", "response.incomplete":
            let response = event["response"]?.objectValue ?? [:]
            if let value = response["usage"], value != .null { usage = value }
            let turn = ModelTurn(response: response)
            finishReason =
                switch turn.finish {
                case .stop: callBlocks.isEmpty ? "stop" : "tool_calls"
                case .toolCalls: "tool_calls"
                case .length: "length"
                case .contentFilter: "content_filter"
                }
        case "response.failed", "error":
            let error = event["response"]?.objectValue?["error"]?.objectValue ?? event
            return events + fail(status: 502, message: error["message"]?.stringValue ?? "The upstream's response failed.")
        default:
            break
        }
        return events
    }

    private mutating func startToolUse(key: Int, id: String, name: String) -> [JSONObject] {
        var events = close()
        blockIndex += 1
        callBlocks[key] = blockIndex
        open = .toolUse(chatIndex: key)
        events.append(
            event(
                "content_block_start",
                [
                    "index": .int(blockIndex),
                    "content_block": .object([
                        "type": "tool_use", "id": .string(id), "name": .string(name), "input": .object([:]),
                    ]),
                ]))
        return events
    }

    private func inputDelta(index: Int, _ json: String) -> JSONObject {
        event(
            "content_block_delta",
            ["index": .int(index), "delta": .object(["type": "input_json_delta", "partial_json": .string(json)])])
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

    /// Anthropic's keep-alive event, sent where the upstream sent one (after `message_start`, the first time: a
    /// message's stream starts with it).
    public mutating func keepAlive() -> [JSONObject] {
        guard !ended else { return [] }
        return opening() + [["type": "ping"]]
    }

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
