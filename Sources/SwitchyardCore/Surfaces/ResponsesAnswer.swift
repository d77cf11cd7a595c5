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

        /// Ids from a random stem (hex).
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
        guard let read = Usage(json: chatUsage, completionIncludesReasoning: completionIncludesReasoning) else {
            return .null
        }
        let output = read.completionTokens + read.reasoningTokens
        var object: JSONObject = [
            "input_tokens": .int(read.promptTokens),
            "input_tokens_details": .object(["cached_tokens": .int(read.cachedTokens)]),
            "output_tokens": .int(output),
            "output_tokens_details": .object(["reasoning_tokens": .int(read.reasoningTokens)]),
            "total_tokens": .int(read.promptTokens + output),
        ]
        if let ticks = chatUsage?.objectValue?["cost_in_usd_ticks"] { object["cost_in_usd_ticks"] = ticks }
        return .object(object)
    }

    /// The `response` object for a whole chat completion.
    public static func response(
        fromChat completion: JSONObject, echo: ResponsesEcho, ids: IDs, createdAt: Int, completionIncludesReasoning: Bool
    ) -> JSONObject {
        let choice = completion["choices"]?.arrayValue?.first?.objectValue
        let message = choice?["message"]?.objectValue ?? [:]
        var output: [JSONValue] = []
        if let reasoning = message["reasoning_content"]?.stringValue, !reasoning.isEmpty {
            output.append(reasoningItem(id: ids.reasoning, text: reasoning))
        }
        if let text = message["content"]?.stringValue, !text.isEmpty {
            output.append(messageItem(id: ids.message, text: text, status: "completed"))
        } else if let refusal = message["refusal"]?.stringValue, !refusal.isEmpty {
            output.append(
                .object([
                    "type": "message", "id": .string(ids.message), "status": "completed", "role": "assistant",
                    "content": .array([.object(["type": "refusal", "refusal": .string(refusal)])]),
                ]))
        }
        for (index, call) in (message["tool_calls"]?.arrayValue ?? []).enumerated() {
            guard let object = call.objectValue, let function = object["function"]?.objectValue else { continue }
            output.append(
                functionCallItem(
                    id: ids.functionCall(index), callID: object["id"]?.stringValue ?? ids.functionCall(index),
                    name: function["name"]?.stringValue ?? "", arguments: function["arguments"]?.stringValue ?? "",
                    status: "completed"))
        }
        let finish = choice?["finish_reason"]?.stringValue
        return envelope(
            echo: echo, ids: ids, createdAt: createdAt, status: finish == "length" ? "incomplete" : "completed",
            output: output, usage: usage(completion["usage"], completionIncludesReasoning: completionIncludesReasoning),
            model: completion["model"]?.stringValue)
    }

    /// The `response` object around `output`, with the request's settings echoed.
    public static func envelope(
        echo: ResponsesEcho, ids: IDs, createdAt: Int, status: String, output: [JSONValue], usage: JSONValue,
        model: String? = nil, error: JSONValue = .null
    ) -> JSONObject {
        [
            "id": .string(ids.response), "object": "response", "created_at": .int(createdAt), "status": .string(status),
            "error": error,
            "incomplete_details": status == "incomplete" ? .object(["reason": "max_output_tokens"]) : .null,
            "instructions": echo.instructions, "max_output_tokens": echo.maxOutputTokens,
            "model": .string(model ?? echo.model), "output": .array(output),
            "parallel_tool_calls": echo.parallelToolCalls, "previous_response_id": echo.previousResponseID,
            "reasoning": echo.reasoning, "store": echo.store, "temperature": echo.temperature, "text": echo.text,
            "tool_choice": echo.toolChoice, "tools": echo.tools, "top_p": echo.topP, "truncation": "disabled",
            "usage": usage, "user": echo.user, "metadata": echo.metadata,
        ]
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
