/// A Chat Completions stream made into the Responses API's event sequence, chunk by chunk. Pure: fed the upstream's
/// chunk objects, it returns the events to send, in order, each with its `sequence_number`.
///
/// `response.created` and `response.in_progress` open it; `reasoning_content` deltas make a `reasoning` item (summary
/// text events), `content` deltas a `message` item (`response.output_text.delta`), each tool call a `function_call`
/// item (`response.function_call_arguments.delta`); an item is closed (`...done`, `response.output_item.done`) when the
/// next one opens or the stream ends; `response.completed` (or `incomplete`) carries the whole response with usage.
/// A broken stream ends with `response.failed` instead.
public struct ResponsesStream: Sendable {
    private let echo: ResponsesEcho
    private let ids: ResponsesAnswer.IDs
    private let createdAt: Int
    private let completionIncludesReasoning: Bool
    private var sequence = 0
    private var model: String?
    /// Items finished, in output order.
    private var output: [JSONValue] = []
    /// The reasoning or message item open, and its text so far (kept apart from the kind so that a delta appends to
    /// it in place: rebuilding the text for each delta would copy the whole answer again with each one).
    private var open: OpenItem?
    private var openText = ""
    /// Tool calls by their chat index: output position, ids, name and arguments so far.
    private var calls: [Int: Call] = [:]
    private var callOrder: [Int] = []
    private var usage: JSONValue?
    private var finishReason: String?
    private var ended = false

    private enum OpenItem: Sendable {
        case reasoning(outputIndex: Int)
        case message(outputIndex: Int)
    }

    private struct Call: Sendable {
        var outputIndex: Int
        var id: String
        var callID: String
        var name: String
        var arguments: String
    }

    /// A translator for one response.
    public init(echo: ResponsesEcho, ids: ResponsesAnswer.IDs, createdAt: Int, completionIncludesReasoning: Bool) {
        self.echo = echo
        self.ids = ids
        self.createdAt = createdAt
        self.completionIncludesReasoning = completionIncludesReasoning
    }

    /// Whether the response has ended (completed or failed).
    public var isEnded: Bool { ended }

    /// The opening events.
    public mutating func start() -> [JSONObject] {
        let response = JSONValue.object(snapshot(status: "in_progress"))
        return [event("response.created", ["response": response]), event("response.in_progress", ["response": response])]
    }

    /// The events one upstream chunk makes.
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
        var events: [JSONObject] = []
        if model == nil, let name = chunk.model { model = name }
        if let value = chunk.usage, value != .null { usage = value }
        for choice in chunk.choices {
            if let text = choice.reasoning, !text.isEmpty { events += reasoning(text) }
            if let text = choice.content, !text.isEmpty { events += content(text) }
            for call in choice.toolCalls?.arrayValue ?? [] {
                if let call = call.objectValue { events += toolCall(call) }
            }
            if let reason = choice.finishReason, !reason.isEmpty { finishReason = reason }
        }
        return events
    }

    /// The closing events: open items closed, then `response.completed` (or `incomplete` when the length ran out).
    public mutating func finish() -> [JSONObject] {
        guard !ended else { return [] }
        var events = closeOpen()
        events += closeCalls()
        ended = true
        let status = finishReason == "length" ? "incomplete" : "completed"
        let response = ResponsesAnswer.envelope(
            echo: echo, ids: ids, createdAt: createdAt, status: status, output: output,
            usage: ResponsesAnswer.usage(usage, completionIncludesReasoning: completionIncludesReasoning), model: model)
        events.append(
            event(status == "completed" ? "response.completed" : "response.incomplete", ["response": .object(response)]))
        return events
    }

    /// The events of a stream that broke: `response.failed` with the error (what was relayed stays relayed).
    public mutating func fail(code: String, message: String) -> [JSONObject] {
        guard !ended else { return [] }
        ended = true
        let error = JSONValue.object(["code": .string(code), "message": .string(message)])
        let response = ResponsesAnswer.envelope(
            echo: echo, ids: ids, createdAt: createdAt, status: "failed", output: output,
            usage: ResponsesAnswer.usage(usage, completionIncludesReasoning: completionIncludesReasoning), model: model,
            error: error)
        return [event("response.failed", ["response": .object(response)])]
    }

    /// An event as SSE bytes: `event: TYPE` and its JSON on one `data:` line.
    public static func frame(_ event: JSONObject) -> [UInt8] {
        var bytes = Array("event: ".utf8)
        bytes += Array((event["type"]?.stringValue ?? "message").utf8)
        bytes += Array("\ndata: ".utf8)
        JSONValue.object(event).encode(into: &bytes)
        bytes += Array("\n\n".utf8)
        return bytes
    }

    // MARK: Items

    private mutating func reasoning(_ text: String) -> [JSONObject] {
        var events: [JSONObject] = []
        if case .reasoning(let index)? = open {
            openText += text
            return [
                event(
                    "response.reasoning_summary_text.delta",
                    ["item_id": .string(ids.reasoning), "output_index": .int(index), "summary_index": 0, "delta": .string(text)])
            ]
        }
        events += closeOpen() + closeCalls()
        let index = nextOutputIndex
        open = .reasoning(outputIndex: index)
        openText = text
        events.append(
            event(
                "response.output_item.added",
                ["output_index": .int(index), "item": ResponsesAnswer.reasoningItem(id: ids.reasoning, text: "")]))
        events.append(
            event(
                "response.reasoning_summary_part.added",
                [
                    "item_id": .string(ids.reasoning), "output_index": .int(index), "summary_index": 0,
                    "part": .object(["type": "summary_text", "text": ""]),
                ]))
        events.append(
            event(
                "response.reasoning_summary_text.delta",
                ["item_id": .string(ids.reasoning), "output_index": .int(index), "summary_index": 0, "delta": .string(text)]))
        return events
    }

    private mutating func content(_ text: String) -> [JSONObject] {
        var events: [JSONObject] = []
        let index: Int
        if case .message(let at)? = open {
            index = at
            openText += text
        } else {
            events += closeOpen() + closeCalls()
            index = nextOutputIndex
            open = .message(outputIndex: index)
            openText = text
            events.append(
                event(
                    "response.output_item.added",
                    [
                        "output_index": .int(index),
                        "item": .object([
                            "type": "message", "id": .string(ids.message), "status": "in_progress", "role": "assistant",
                            "content": .array([]),
                        ]),
                    ]))
            events.append(
                event(
                    "response.content_part.added",
                    [
                        "item_id": .string(ids.message), "output_index": .int(index), "content_index": 0,
                        "part": ResponsesAnswer.textPart(""),
                    ]))
        }
        events.append(
            event(
                "response.output_text.delta",
                [
                    "item_id": .string(ids.message), "output_index": .int(index), "content_index": 0, "delta": .string(text),
                    "logprobs": .array([]),
                ]))
        return events
    }

    private mutating func toolCall(_ call: JSONObject) -> [JSONObject] {
        let position = call["index"]?.intValue ?? callOrder.count
        let function = call["function"]?.objectValue ?? [:]
        var events: [JSONObject] = []
        if calls[position] == nil {
            events += closeOpen()
            let index = nextOutputIndex
            let id = ids.functionCall(callOrder.count)
            let entry = Call(
                outputIndex: index, id: id, callID: call["id"]?.stringValue ?? id,
                name: function["name"]?.stringValue ?? "", arguments: "")
            calls[position] = entry
            callOrder.append(position)
            events.append(
                event(
                    "response.output_item.added",
                    [
                        "output_index": .int(index),
                        "item": ResponsesAnswer.functionCallItem(
                            id: id, callID: entry.callID, name: entry.name, arguments: "", status: "in_progress"),
                    ]))
        }
        if let arguments = function["arguments"]?.stringValue, !arguments.isEmpty,
            let (id, outputIndex) = calls[position].map({ ($0.id, $0.outputIndex) })
        {
            // Appended in place: a copy of the call held meanwhile would make the append copy the arguments so far.
            calls[position]?.arguments += arguments
            events.append(
                event(
                    "response.function_call_arguments.delta",
                    ["item_id": .string(id), "output_index": .int(outputIndex), "delta": .string(arguments)]))
        }
        return events
    }

    /// The output index the next item takes.
    private var nextOutputIndex: Int { output.count + (open == nil ? 0 : 1) + calls.count }

    private mutating func closeOpen() -> [JSONObject] {
        guard let item = open else { return [] }
        open = nil
        let text = openText
        openText = ""
        switch item {
        case .reasoning(let index):
            let done = ResponsesAnswer.reasoningItem(id: ids.reasoning, text: text)
            output.append(done)
            return [
                event(
                    "response.reasoning_summary_text.done",
                    ["item_id": .string(ids.reasoning), "output_index": .int(index), "summary_index": 0, "text": .string(text)]),
                event(
                    "response.reasoning_summary_part.done",
                    [
                        "item_id": .string(ids.reasoning), "output_index": .int(index), "summary_index": 0,
                        "part": .object(["type": "summary_text", "text": .string(text)]),
                    ]),
                event("response.output_item.done", ["output_index": .int(index), "item": done]),
            ]
        case .message(let index):
            let done = ResponsesAnswer.messageItem(id: ids.message, text: text, status: "completed")
            output.append(done)
            return [
                event(
                    "response.output_text.done",
                    [
                        "item_id": .string(ids.message), "output_index": .int(index), "content_index": 0, "text": .string(text),
                        "logprobs": .array([]),
                    ]),
                event(
                    "response.content_part.done",
                    [
                        "item_id": .string(ids.message), "output_index": .int(index), "content_index": 0,
                        "part": ResponsesAnswer.textPart(text),
                    ]),
                event("response.output_item.done", ["output_index": .int(index), "item": done]),
            ]
        }
    }

    private mutating func closeCalls() -> [JSONObject] {
        var events: [JSONObject] = []
        for position in callOrder {
            guard let call = calls[position] else { continue }
            let done = ResponsesAnswer.functionCallItem(
                id: call.id, callID: call.callID, name: call.name, arguments: call.arguments, status: "completed")
            output.append(done)
            events.append(
                event(
                    "response.function_call_arguments.done",
                    ["item_id": .string(call.id), "output_index": .int(call.outputIndex), "arguments": .string(call.arguments)]))
            events.append(event("response.output_item.done", ["output_index": .int(call.outputIndex), "item": done]))
        }
        calls = [:]
        callOrder = []
        return events
    }

    private func snapshot(status: String) -> JSONObject {
        ResponsesAnswer.envelope(echo: echo, ids: ids, createdAt: createdAt, status: status, output: [], usage: .null)
    }

    private mutating func event(_ type: String, _ fields: JSONObject) -> JSONObject {
        // The fields' keys are the translator's own, distinct from these two: joined without looking any up.
        let object = JSONObject([("type", .string(type)), ("sequence_number", .int(sequence))] + fields.members)
        sequence += 1
        return object
    }
}

/// What the stream translations (`ResponsesStream`, `MessagesStream`) read of one Chat Completions stream chunk:
/// `model`, `usage`, and each choice's delta text, reasoning text, tool calls and finish reason.
struct ChatChunk {
    struct Choice {
        var reasoning: String?
        var content: String?
        var toolCalls: JSONValue?
        var finishReason: String?
    }

    var model: String?
    var usage: JSONValue?
    var choices: [Choice] = []

    init() {}

    /// The fields of a parsed chunk.
    init(_ object: JSONObject) {
        model = object["model"]?.stringValue
        usage = object["usage"]
        for choice in object["choices"]?.arrayValue ?? [] {
            guard let choice = choice.objectValue else { continue }
            let delta = choice["delta"]?.objectValue ?? [:]
            choices.append(
                Choice(
                    reasoning: delta["reasoning_content"]?.stringValue, content: delta["content"]?.stringValue,
                    toolCalls: delta["tool_calls"], finishReason: choice["finish_reason"]?.stringValue))
        }
    }

    /// The fields read straight from a chunk's bytes, as `ResponsesStream.chunk(_:)` reads the parsed object (a field
    /// of another type counts as absent); only `usage` and `tool_calls` are parsed, as values of their own. Nil when
    /// the bytes are not plainly one JSON object (a key with an escape, anything malformed).
    init?(bytes: UnsafeBufferPointer<UInt8>) {
        var reader = JSONByteReader(bytes: bytes)
        var chunk = ChatChunk()
        func parsed(_ reader: inout JSONByteReader, depth: Int) -> JSONValue?? {
            guard let range = reader.valueRange(depth: depth) else { return nil }
            guard let value = try? JSONParser.parse(array: Array(bytes[range])) else { return nil }
            return .some(value)
        }
        let read = reader.members { reader, key in
            if reader.keyIs(key, "model") { return reader.string(into: &chunk.model) }
            if reader.keyIs(key, "usage") {
                guard let value = parsed(&reader, depth: 1) else { return false }
                chunk.usage = value
                return true
            }
            guard reader.keyIs(key, "choices") else { return reader.skipValue(depth: 1) }
            chunk.choices = []
            guard reader.peek(UInt8(ascii: "[")) else { return reader.skipValue(depth: 1) }
            return reader.elements { reader, _ in
                guard reader.peek(UInt8(ascii: "{")) else { return reader.skipValue(depth: 2) }
                var choice = Choice()
                let read = reader.members { reader, key in
                    if reader.keyIs(key, "finish_reason") { return reader.string(into: &choice.finishReason) }
                    guard reader.keyIs(key, "delta") else { return reader.skipValue(depth: 3) }
                    (choice.reasoning, choice.content, choice.toolCalls) = (nil, nil, nil)
                    guard reader.peek(UInt8(ascii: "{")) else { return reader.skipValue(depth: 3) }
                    return reader.members { reader, key in
                        if reader.keyIs(key, "content") { return reader.string(into: &choice.content) }
                        if reader.keyIs(key, "reasoning_content") { return reader.string(into: &choice.reasoning) }
                        guard reader.keyIs(key, "tool_calls") else { return reader.skipValue(depth: 4) }
                        guard let value = parsed(&reader, depth: 4) else { return false }
                        choice.toolCalls = value
                        return true
                    }
                }
                chunk.choices.append(choice)
                return read
            }
        }
        guard read, reader.atEnd else { return nil }
        self = chunk
    }
}
