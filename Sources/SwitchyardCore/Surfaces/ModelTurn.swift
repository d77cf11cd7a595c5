/// A model's finished answer, whichever API carried it: what a translated surface's answer is rendered from. A chat
/// completion and a Responses API `response` both read into one (`init(chat:)`, `init(response:)`); the Responses
/// and Messages renderers write one out (`ResponsesAnswer.render`, `MessagesAnswer.render`). Pure.
public struct ModelTurn: Sendable, Equatable {
    /// One function call the model made.
    public struct ToolCall: Sendable, Equatable {
        /// The call's id, as the upstream gave it (`call_...`), to be answered with.
        public var id: String
        /// The function's name.
        public var name: String
        /// The arguments' JSON text, as the model wrote it.
        public var arguments: String

        /// A call.
        public init(id: String, name: String, arguments: String) {
            self.id = id
            self.name = name
            self.arguments = arguments
        }
    }

    /// Why the model stopped.
    public enum Finish: Sendable, Equatable {
        /// It was done (chat `stop`; a Responses response `completed`).
        case stop
        /// It ran out of output tokens (chat `length`; `incomplete` for `max_output_tokens`).
        case length
        /// It called tools.
        case toolCalls
        /// A filter stopped it (chat `content_filter`; `incomplete` for `content_filter`).
        case contentFilter
    }

    /// The model the upstream says answered (nil when it says none).
    public var model: String?
    /// Reasoning text (xAI's `reasoning_content`, a Responses reasoning item's summary).
    public var reasoning = ""
    /// The answer's text.
    public var text = ""
    /// A refusal, when the model refused.
    public var refusal: String?
    /// The function calls, in order.
    public var toolCalls: [ToolCall] = []
    /// Why it stopped.
    public var finish = Finish.stop
    /// Token counts, when the upstream gave them.
    public var usage: Usage?
    /// The upstream's own cost in its ticks (xAI's `cost_in_usd_ticks`), as the number's text, passed on as it is.
    public var costTicks: String?

    /// An empty turn.
    public init() {}

    /// The first choice of a Chat Completions answer; `completionIncludesReasoning` says how its usage counts.
    public init(chat completion: JSONObject, completionIncludesReasoning: Bool) {
        let choice = completion["choices"]?.arrayValue?.first?.objectValue
        let message = choice?["message"]?.objectValue ?? [:]
        model = completion["model"]?.stringValue
        reasoning = message["reasoning_content"]?.stringValue ?? ""
        text = message["content"]?.stringValue ?? ""
        refusal = message["refusal"]?.stringValue.flatMap { $0.isEmpty ? nil : $0 }
        toolCalls = Self.toolCalls(message["tool_calls"])
        finish = Self.finish(chat: choice?["finish_reason"]?.stringValue, hasCalls: !toolCalls.isEmpty)
        usage = Usage(json: completion["usage"], completionIncludesReasoning: completionIncludesReasoning)
        costTicks = Self.ticks(completion["usage"])
    }

    /// A Responses API `response` object (xAI's or OpenAI's): its reasoning summaries, output text, refusals and
    /// function calls in order; `incomplete` says why it stopped early.
    public init(response: JSONObject) {
        model = response["model"]?.stringValue
        for item in response["output"]?.arrayValue ?? [] {
            guard let item = item.objectValue else { continue }
            switch item["type"]?.stringValue {
            case "reasoning":
                // The summary where there is one; else the reasoning text itself, where the upstream shows it.
                let summary = item["summary"]?.arrayValue ?? []
                for part in summary.isEmpty ? item["content"]?.arrayValue ?? [] : summary {
                    if let text = part.objectValue?["text"]?.stringValue { reasoning += text }
                }
            case "message":
                for part in item["content"]?.arrayValue ?? [] {
                    guard let part = part.objectValue else { continue }
                    if part["type"] == "output_text", let text = part["text"]?.stringValue { self.text += text }
                    if let refusal = part["refusal"]?.stringValue { self.refusal = (self.refusal ?? "") + refusal }
                }
            case "function_call":
                toolCalls.append(
                    ToolCall(
                        id: item["call_id"]?.stringValue ?? item["id"]?.stringValue ?? "call_\(toolCalls.count)",
                        name: item["name"]?.stringValue ?? "", arguments: item["arguments"]?.stringValue ?? ""))
            default: continue
            }
        }
        if response["status"] == "incomplete" {
            let reason = response["incomplete_details"]?.objectValue?["reason"]?.stringValue
            finish = reason == "content_filter" ? .contentFilter : .length
        } else {
            finish = toolCalls.isEmpty ? .stop : .toolCalls
        }
        usage = Usage(json: response["usage"], completionIncludesReasoning: true)
        costTicks = Self.ticks(response["usage"])
    }

    /// A chat `finish_reason` as a finish (tool calls make one `toolCalls` whatever the upstream said).
    public static func finish(chat reason: String?, hasCalls: Bool) -> Finish {
        switch reason {
        case "length"?: .length
        case "content_filter"?: .contentFilter
        case "tool_calls"?, "function_call"?: .toolCalls
        default: hasCalls ? .toolCalls : .stop
        }
    }

    /// A chat message's `tool_calls` (function calls; others are skipped).
    static func toolCalls(_ value: JSONValue?) -> [ToolCall] {
        var calls: [ToolCall] = []
        for call in value?.arrayValue ?? [] {
            guard let object = call.objectValue, let function = object["function"]?.objectValue else { continue }
            calls.append(
                ToolCall(
                    id: object["id"]?.stringValue ?? "call_\(calls.count)", name: function["name"]?.stringValue ?? "",
                    arguments: function["arguments"]?.stringValue ?? ""))
        }
        return calls
    }

    private static func ticks(_ usage: JSONValue?) -> String? {
        if case .number(let text)? = usage?.objectValue?["cost_in_usd_ticks"] { return text }
        return nil
    }
}

extension ModelTurn {
    /// A Chat Completions answer read straight from its bytes, as `init(chat:completionIncludesReasoning:)` reads the
    /// parsed object (the last of repeated keys wins, a field of another type counts as absent), without building
    /// the value: parsing the whole answer cost more than the rest of a translated request. Only `tool_calls` and an
    /// unusual `usage` are parsed, as values of their own. Nil when the bytes are not plainly one JSON object (a key
    /// with an escape, anything malformed): the caller parses them then.
    public init?(chatBytes bytes: UnsafeBufferPointer<UInt8>, completionIncludesReasoning: Bool) {
        var reader = JSONByteReader(bytes: bytes)
        var turn = ModelTurn()
        var model: String?
        var choice = ChoiceFields()
        var usage: (usage: Usage?, ticks: String?)?
        let read = reader.members { reader, key in
            if reader.keyIs(key, "model") { return reader.string(into: &model) }
            if reader.keyIs(key, "usage") {
                usage = Self.usage(&reader, completionIncludesReasoning: completionIncludesReasoning)
                return usage != nil
            }
            guard reader.keyIs(key, "choices") else { return reader.skipValue(depth: 1) }
            choice = ChoiceFields()
            guard reader.peek(UInt8(ascii: "[")) else { return reader.skipValue(depth: 1) }
            return reader.elements { reader, position in
                guard position == 0, reader.peek(UInt8(ascii: "{")) else { return reader.skipValue(depth: 2) }
                return choice.read(&reader)
            }
        }
        guard read, reader.atEnd else { return nil }
        turn.model = model
        turn.reasoning = choice.reasoning ?? ""
        turn.text = choice.content ?? ""
        turn.refusal = choice.refusal.flatMap { $0.isEmpty ? nil : $0 }
        if let range = choice.toolCalls {
            guard let calls = try? JSONParser.parse(array: Array(bytes[range])) else { return nil }
            turn.toolCalls = Self.toolCalls(calls)
        }
        turn.finish = Self.finish(chat: choice.finishReason, hasCalls: !turn.toolCalls.isEmpty)
        if let usage {
            turn.usage = usage.usage
            turn.costTicks = usage.ticks
        }
        self = turn
    }

    /// The usage value at the reader's cursor (consumed): an object read in place, anything else parsed (nil usage for
    /// one that is not an object). Nil when the value is not well formed.
    private static func usage(_ reader: inout JSONByteReader, completionIncludesReasoning: Bool) -> (
        usage: Usage?, ticks: String?
    )? {
        if reader.peek(UInt8(ascii: "{")) {
            let rest = UnsafeBufferPointer(rebasing: reader.bytes[reader.index...])
            if let read = Usage.readWithTicks(
                object: rest, completionIncludesReasoning: completionIncludesReasoning, allowingTrailingBytes: true)
            {
                reader.index += read.end
                return (read.usage, read.ticksText)
            }
        }
        guard let range = reader.valueRange(depth: 1),
            let value = try? JSONParser.parse(array: Array(reader.bytes[range]))
        else { return nil }
        return (Usage(json: value, completionIncludesReasoning: completionIncludesReasoning), ticks(value))
    }

    /// The fields of a choice `init(chatBytes:)` keeps.
    private struct ChoiceFields {
        var content: String?
        var reasoning: String?
        var refusal: String?
        var toolCalls: Range<Int>?
        var finishReason: String?

        /// Reads a choice object: its `finish_reason` and its `message`'s fields (the last `message` counts).
        mutating func read(_ reader: inout JSONByteReader) -> Bool {
            reader.members { reader, key in
                if reader.keyIs(key, "finish_reason") { return reader.string(into: &finishReason) }
                guard reader.keyIs(key, "message") else { return reader.skipValue(depth: 3) }
                (content, reasoning, refusal, toolCalls) = (nil, nil, nil, nil)
                guard reader.peek(UInt8(ascii: "{")) else { return reader.skipValue(depth: 3) }
                return reader.members { reader, key in
                    if reader.keyIs(key, "content") { return reader.string(into: &content) }
                    if reader.keyIs(key, "reasoning_content") { return reader.string(into: &reasoning) }
                    if reader.keyIs(key, "refusal") { return reader.string(into: &refusal) }
                    guard reader.keyIs(key, "tool_calls") else { return reader.skipValue(depth: 4) }
                    toolCalls = reader.valueRange(depth: 4)
                    return toolCalls != nil
                }
            }
        }
    }
}

extension ModelTurn {
    /// A Responses API `response` read straight from its bytes, as `init(response:)` reads the parsed object (the last
    /// of repeated keys wins, a field of another type counts as absent), without building the value: an upstream's
    /// response repeats the request's settings and is mostly skipped. Nil when the bytes are not plainly one JSON
    /// object: the caller parses them then.
    public init?(responseBytes bytes: UnsafeBufferPointer<UInt8>) {
        var reader = JSONByteReader(bytes: bytes)
        var model: String?
        var status: String?
        var reason: String?
        var items: [OutputItem] = []
        var usage: (usage: Usage?, ticks: String?)?
        let read = reader.members { reader, key in
            if reader.keyIs(key, "model") { return reader.string(into: &model) }
            if reader.keyIs(key, "status") { return reader.string(into: &status) }
            if reader.keyIs(key, "usage") {
                usage = Self.usage(&reader, completionIncludesReasoning: true)
                return usage != nil
            }
            if reader.keyIs(key, "incomplete_details") {
                reason = nil
                guard reader.peek(UInt8(ascii: "{")) else { return reader.skipValue(depth: 1) }
                return reader.members { reader, key in
                    reader.keyIs(key, "reason") ? reader.string(into: &reason) : reader.skipValue(depth: 2)
                }
            }
            guard reader.keyIs(key, "output") else { return reader.skipValue(depth: 1) }
            items = []
            guard reader.peek(UInt8(ascii: "[")) else { return reader.skipValue(depth: 1) }
            return reader.elements { reader, _ in
                guard reader.peek(UInt8(ascii: "{")) else { return reader.skipValue(depth: 2) }
                var item = OutputItem()
                guard item.read(&reader) else { return false }
                items.append(item)
                return true
            }
        }
        guard read, reader.atEnd else { return nil }
        var turn = ModelTurn()
        turn.model = model
        for item in items {
            switch item.type {
            case "reasoning":
                let summary = item.summary ?? []
                for part in summary.isEmpty ? item.content ?? [] : summary {
                    if let text = part.text { turn.reasoning += text }
                }
            case "message":
                for part in item.content ?? [] where part.isObject {
                    if part.type == "output_text", let text = part.text { turn.text += text }
                    if let refusal = part.refusal { turn.refusal = (turn.refusal ?? "") + refusal }
                }
            case "function_call":
                turn.toolCalls.append(
                    ToolCall(
                        id: item.callID ?? item.id ?? "call_\(turn.toolCalls.count)", name: item.name ?? "",
                        arguments: item.arguments ?? ""))
            default: continue
            }
        }
        if status == "incomplete" {
            turn.finish = reason == "content_filter" ? .contentFilter : .length
        } else {
            turn.finish = turn.toolCalls.isEmpty ? .stop : .toolCalls
        }
        turn.usage = usage?.usage
        turn.costTicks = usage?.ticks
        self = turn
    }

    /// The fields of an output item `init(responseBytes:)` keeps.
    private struct OutputItem {
        var type: String?
        var summary: [Part]?
        var content: [Part]?
        var callID: String?
        var id: String?
        var name: String?
        var arguments: String?

        /// A summary or content part: whether it is an object, and its fields.
        struct Part {
            var isObject = false
            var type: String?
            var text: String?
            var refusal: String?
        }

        mutating func read(_ reader: inout JSONByteReader) -> Bool {
            reader.members { reader, key in
                if reader.keyIs(key, "type") { return reader.string(into: &type) }
                if reader.keyIs(key, "call_id") { return reader.string(into: &callID) }
                if reader.keyIs(key, "id") { return reader.string(into: &id) }
                if reader.keyIs(key, "name") { return reader.string(into: &name) }
                if reader.keyIs(key, "arguments") { return reader.string(into: &arguments) }
                if reader.keyIs(key, "summary") { return Self.parts(&reader, into: &summary) }
                if reader.keyIs(key, "content") { return Self.parts(&reader, into: &content) }
                return reader.skipValue(depth: 3)
            }
        }

        /// An array of parts into `slot` (nil for a value that is not an array).
        static func parts(_ reader: inout JSONByteReader, into slot: inout [Part]?) -> Bool {
            slot = nil
            guard reader.peek(UInt8(ascii: "[")) else { return reader.skipValue(depth: 3) }
            var parts: [Part] = []
            let read = reader.elements { reader, _ in
                guard reader.peek(UInt8(ascii: "{")) else {
                    parts.append(Part())
                    return reader.skipValue(depth: 4)
                }
                var part = Part(isObject: true)
                let read = reader.members { reader, key in
                    if reader.keyIs(key, "type") { return reader.string(into: &part.type) }
                    if reader.keyIs(key, "text") { return reader.string(into: &part.text) }
                    if reader.keyIs(key, "refusal") { return reader.string(into: &part.refusal) }
                    return reader.skipValue(depth: 5)
                }
                parts.append(part)
                return read
            }
            slot = parts
            return read
        }
    }
}
