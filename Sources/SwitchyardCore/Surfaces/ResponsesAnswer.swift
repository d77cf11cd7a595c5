/// OpenAI's Responses API over an upstream that has only Chat Completions: the answer the other way. Pure.
///
/// A `chat.completion` becomes a `response` object: `reasoning_content` a `reasoning` item (its text as a summary),
/// the message's content a `message` item with one `output_text` part, each tool call a `function_call` item; usage
/// as `input_tokens` / `output_tokens` (reasoning included, as OpenAI counts it) with their details;
/// `finish_reason: length` makes the response `incomplete` (`max_output_tokens`).
public enum ResponsesAnswer {
    /// The ids one response uses: its own and its items', derived from one random part so they are unique together.
    public struct IDs: Sendable, Equatable {
        /// `resp_...`.
        public let response: String
        /// A prefix-free random part the item ids share.
        let stem: String

        /// Ids from a random stem (hex, or other letters and digits: it is written unescaped).
        public init(stem: String) {
            self.response = "resp_" + stem
            self.stem = stem
        }

        /// `msg_...`.
        public var message: String { "msg_" + stem }
        /// `rs_...`.
        public var reasoning: String { "rs_" + stem }
        /// `fc_...` for the tool call at `index`.
        public func functionCall(_ index: Int) -> String { "fc_\(stem)_\(index)" }
    }

    /// The `usage` of a response from a chat usage object; `completionIncludesReasoning` is false for xAI (whose
    /// completion tokens exclude reasoning) and true for OpenAI-compatible servers.
    public static func usage(_ chatUsage: JSONValue?, completionIncludesReasoning: Bool) -> JSONValue {
        var writer = JSONWriter(capacity: 192)
        writeUsage(
            Usage(json: chatUsage, completionIncludesReasoning: completionIncludesReasoning),
            costTicks: chatUsage?.objectValue?["cost_in_usd_ticks"].flatMap {
                if case .number(let text) = $0 { text } else { nil }
            },
            into: &writer)
        return (try? JSONParser.parse(array: writer.bytes)) ?? .null
    }

    /// Writes a response's `usage` (null without counts): `input_tokens` / `output_tokens` (reasoning included, as
    /// OpenAI counts it) with their details, and xAI's `cost_in_usd_ticks` when the upstream gave it.
    static func writeUsage(_ read: Usage?, costTicks: String?, into writer: inout JSONWriter) {
        guard let read else { return writer.literal("null") }
        let output = read.completionTokens + read.reasoningTokens
        writer.beginObject()
        writer.key("input_tokens")
        writer.int(read.promptTokens)
        writer.key("input_tokens_details")
        writer.beginObject()
        writer.key("cached_tokens")
        writer.int(read.cachedTokens)
        writer.endObject()
        writer.key("output_tokens")
        writer.int(output)
        writer.key("output_tokens_details")
        writer.beginObject()
        writer.key("reasoning_tokens")
        writer.int(read.reasoningTokens)
        writer.endObject()
        writer.key("total_tokens")
        writer.int(read.promptTokens + output)
        if let costTicks {
            writer.key("cost_in_usd_ticks")
            writer.encoded(costTicks.utf8)
        }
        writer.endObject()
    }

    /// The `response` object's JSON for a whole model turn (a chat completion's, read into a `ModelTurn`): written
    /// straight to bytes, as it goes to the client and into the response store.
    public static func render(_ turn: ModelTurn, echo: ResponsesEcho, ids: IDs, createdAt: Int) -> [UInt8] {
        var writer = JSONWriter(capacity: 1024 + turn.text.utf8.count + turn.reasoning.utf8.count)
        writeEnvelope(
            into: &writer, echo: echo, ids: ids, createdAt: createdAt,
            status: turn.finish == .length || turn.finish == .contentFilter ? "incomplete" : "completed",
            incompleteReason: turn.finish == .contentFilter ? "content_filter" : "max_output_tokens", model: turn.model,
            error: .null
        ) { writer in
            if !turn.reasoning.isEmpty {
                writer.beginObject()
                writer.key("type")
                writer.literal("\"reasoning\"")
                writer.key("id")
                writer.string(prefix: "rs_", ids.stem)
                writer.key("summary")
                writer.beginArray()
                writer.beginObject()
                writer.key("type")
                writer.literal("\"summary_text\"")
                writer.key("text")
                writer.string(turn.reasoning)
                writer.endObject()
                writer.endArray()
                writer.endObject()
            }
            if let text = turn.text.isEmpty ? turn.refusal : turn.text {
                let refused = turn.text.isEmpty
                writer.beginObject()
                writer.key("type")
                writer.literal("\"message\"")
                writer.key("id")
                writer.string(prefix: "msg_", ids.stem)
                writer.key("status")
                writer.literal("\"completed\"")
                writer.key("role")
                writer.literal("\"assistant\"")
                writer.key("content")
                writer.beginArray()
                writer.beginObject()
                writer.key("type")
                if refused {
                    writer.literal("\"refusal\"")
                    writer.key("refusal")
                    writer.string(text)
                } else {
                    writer.literal("\"output_text\"")
                    writer.key("text")
                    writer.string(text)
                    writer.key("annotations")
                    writer.literal("[]")
                }
                writer.endObject()
                writer.endArray()
                writer.endObject()
            }
            for (index, call) in turn.toolCalls.enumerated() {
                writer.beginObject()
                writer.key("type")
                writer.literal("\"function_call\"")
                writer.key("id")
                writer.string(ids.functionCall(index))
                writer.key("call_id")
                writer.string(call.id)
                writer.key("name")
                writer.string(call.name)
                writer.key("arguments")
                writer.string(call.arguments)
                writer.key("status")
                writer.literal("\"completed\"")
                writer.endObject()
            }
        } usage: { writer in
            writeUsage(turn.usage, costTicks: turn.costTicks, into: &writer)
        }
        return writer.bytes
    }

    /// The `response` object for a whole chat completion (the mock's answer; tests): `render`'s, parsed.
    public static func response(
        fromChat completion: JSONObject, echo: ResponsesEcho, ids: IDs, createdAt: Int, completionIncludesReasoning: Bool
    ) -> JSONObject {
        let turn = ModelTurn(chat: completion, completionIncludesReasoning: completionIncludesReasoning)
        return (try? JSONParser.parse(array: render(turn, echo: echo, ids: ids, createdAt: createdAt)))?.objectValue ?? [:]
    }

    /// The `response` object around `output`, with the request's settings echoed (the stream's snapshots):
    /// `writeEnvelope`'s, parsed.
    public static func envelope(
        echo: ResponsesEcho, ids: IDs, createdAt: Int, status: String, output: [JSONValue], usage: JSONValue,
        model: String? = nil, error: JSONValue = .null
    ) -> JSONObject {
        var writer = JSONWriter()
        writeEnvelope(
            into: &writer, echo: echo, ids: ids, createdAt: createdAt, status: status,
            incompleteReason: "max_output_tokens", model: model, error: error
        ) { writer in
            for item in output { writer.value(item) }
        } usage: { writer in
            writer.value(usage)
        }
        return (try? JSONParser.parse(array: writer.bytes))?.objectValue ?? [:]
    }

    /// Writes the `response` object: its own fields, the request's settings echoed, `output`'s items and `usage`.
    static func writeEnvelope(
        into writer: inout JSONWriter, echo: ResponsesEcho, ids: IDs, createdAt: Int, status: String,
        incompleteReason: String, model: String?, error: JSONValue, output: (inout JSONWriter) -> Void,
        usage: (inout JSONWriter) -> Void
    ) {
        writer.beginObject()
        writer.key("id")
        writer.string(prefix: "resp_", ids.stem)
        writer.key("object")
        writer.literal("\"response\"")
        writer.key("created_at")
        writer.int(createdAt)
        writer.key("status")
        writer.string(status)
        writer.key("error")
        writer.value(error)
        writer.key("incomplete_details")
        if status == "incomplete" {
            writer.beginObject()
            writer.key("reason")
            writer.string(incompleteReason)
            writer.endObject()
        } else {
            writer.literal("null")
        }
        writer.key("instructions")
        writer.value(echo.instructions, orLiteral: "null")
        writer.key("max_output_tokens")
        writer.value(echo.maxOutputTokens, orLiteral: "null")
        writer.key("model")
        writer.string(model ?? echo.model)
        writer.key("output")
        writer.beginArray()
        output(&writer)
        writer.endArray()
        writer.key("parallel_tool_calls")
        writer.value(echo.parallelToolCalls, orLiteral: "true")
        writer.key("previous_response_id")
        writer.value(echo.previousResponseID, orLiteral: "null")
        writer.key("reasoning")
        writer.value(echo.reasoning, orLiteral: "{\"effort\":null,\"summary\":null}")
        writer.key("store")
        writer.value(echo.store, orLiteral: "true")
        writer.key("temperature")
        writer.value(echo.temperature, orLiteral: "null")
        writer.key("text")
        writer.value(echo.text, orLiteral: "{\"format\":{\"type\":\"text\"}}")
        writer.key("tool_choice")
        writer.value(echo.toolChoice, orLiteral: "\"auto\"")
        writer.key("tools")
        writer.value(echo.tools, orLiteral: "[]")
        writer.key("top_p")
        writer.value(echo.topP, orLiteral: "null")
        writer.key("truncation")
        writer.literal("\"disabled\"")
        writer.key("usage")
        usage(&writer)
        writer.key("user")
        writer.value(echo.user, orLiteral: "null")
        writer.key("metadata")
        writer.value(echo.metadata, orLiteral: "{}")
        writer.endObject()
    }

    static func messageItem(id: String, text: String, status: String) -> JSONValue {
        .object([
            "type": "message", "id": .string(id), "status": .string(status), "role": "assistant",
            "content": .array([textPart(text)]),
        ])
    }

    static func textPart(_ text: String) -> JSONValue {
        .object(["type": "output_text", "text": .string(text), "annotations": .array([])])
    }

    static func reasoningItem(id: String, text: String) -> JSONValue {
        .object([
            "type": "reasoning", "id": .string(id),
            "summary": .array(text.isEmpty ? [] : [.object(["type": "summary_text", "text": .string(text)])]),
        ])
    }

    static func functionCallItem(id: String, callID: String, name: String, arguments: String, status: String) -> JSONValue {
        .object([
            "type": "function_call", "id": .string(id), "call_id": .string(callID), "name": .string(name),
            "arguments": .string(arguments), "status": .string(status),
        ])
    }
}
