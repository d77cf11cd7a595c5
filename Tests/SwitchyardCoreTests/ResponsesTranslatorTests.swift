import Testing

@testable import SwitchyardCore

/// The Responses API over a Chat Completions upstream, translated both ways on recorded transcripts.
@Suite struct ResponsesTranslatorTests {
    let ids = ResponsesAnswer.IDs(stem: "0123abcd")

    func parse(_ text: String) throws -> JSONObject {
        try #require(try JSONParser.parse(Array(text.utf8)).objectValue)
    }

    @Test func aFullRequestBecomesTheChatRequestItMeans() throws {
        let body = try parse(
            """
            {"model":"grok-code-fast-1","instructions":"Be terse.","input":[
              {"role":"user","content":[{"type":"input_text","text":"What is 2+2?"}]},
              {"type":"function_call","call_id":"call_1","name":"add","arguments":"{\\"a\\":2,\\"b\\":2}"},
              {"type":"function_call","call_id":"call_2","name":"log","arguments":"{}"},
              {"type":"function_call_output","call_id":"call_1","output":"4"},
              {"type":"function_call_output","call_id":"call_2","output":{"ok":true}},
              {"type":"reasoning","id":"rs_1","summary":[],"encrypted_content":"opaque"},
              {"role":"assistant","content":[{"type":"output_text","text":"It is 4."}]},
              {"role":"developer","content":"Answer in words."}],
             "tools":[{"type":"function","name":"add","description":"Adds","parameters":{"type":"object"},"strict":true}],
             "tool_choice":{"type":"function","name":"add"},
             "text":{"format":{"type":"json_schema","name":"sum","schema":{"type":"object"},"strict":true}},
             "reasoning":{"effort":"high"},"max_output_tokens":500,"temperature":0.2,"store":false,"stream":true}
            """)
        let translated = try ResponsesRequest.toChat(body).get()
        #expect(translated.stream)
        let expected = try parse(
            """
            {"model":"grok-code-fast-1","messages":[
              {"role":"system","content":"Be terse."},
              {"role":"user","content":"What is 2+2?"},
              {"role":"assistant","content":null,"tool_calls":[
                {"id":"call_1","type":"function","function":{"name":"add","arguments":"{\\"a\\":2,\\"b\\":2}"}},
                {"id":"call_2","type":"function","function":{"name":"log","arguments":"{}"}}]},
              {"role":"tool","tool_call_id":"call_1","content":"4"},
              {"role":"tool","tool_call_id":"call_2","content":"{\\"ok\\":true}"},
              {"role":"assistant","content":"It is 4."},
              {"role":"system","content":"Answer in words."}],
             "tools":[{"type":"function","function":{"name":"add","description":"Adds","parameters":{"type":"object"},"strict":true}}],
             "tool_choice":{"type":"function","function":{"name":"add"}},
             "response_format":{"type":"json_schema","json_schema":{"name":"sum","schema":{"type":"object"},"strict":true}},
             "reasoning_effort":"high","max_completion_tokens":500,"temperature":0.2,"stream":true}
            """)
        #expect(translated.chat == expected, "\(JSONValue.object(translated.chat).encodedString())")
        #expect(translated.echo.store == false)
        #expect(translated.echo.instructions == "Be terse.")
    }

    @Test func aStringInputAndStoredHistoryComeInOrder() throws {
        let history: [JSONValue] = [
            .object(["role": "user", "content": "first"]),
            .object([
                "type": "message", "role": "assistant",
                "content": .array([.object(["type": "output_text", "text": "one"])]),
            ]),
        ]
        let translated = try ResponsesRequest.toChat(["model": "m", "input": "second"], history: history).get()
        let roles = translated.chat["messages"]?.arrayValue?.compactMap { $0.objectValue?["role"]?.stringValue }
        let texts = translated.chat["messages"]?.arrayValue?.compactMap { $0.objectValue?["content"]?.stringValue }
        #expect(roles == ["user", "assistant", "user"])
        #expect(texts == ["first", "one", "second"])
    }

    @Test func anImageKeepsItsParts() throws {
        let body = try parse(
            """
            {"model":"m","input":[{"role":"user","content":[{"type":"input_text","text":"What is this?"},
              {"type":"input_image","image_url":"data:image/png;base64,AAAA","detail":"low"}]}]}
            """)
        let message = try ResponsesRequest.toChat(body).get().chat["messages"]?.arrayValue?.first?.objectValue
        #expect(
            message?["content"]
                == .array([
                    .object(["type": "text", "text": "What is this?"]),
                    .object(["type": "image_url", "image_url": .object(["url": "data:image/png;base64,AAAA", "detail": "low"])]),
                ]))
    }

    @Test(arguments: [
        (#"{"input":"x"}"#, "model"),
        (#"{"model":"m"}"#, "input"),
        (#"{"model":"m","input":7}"#, "input"),
        (#"{"model":"m","input":[{"type":"web_search_call","id":"w"}]}"#, "input[0].type"),
        (#"{"model":"m","input":[{"role":"tool","content":"x"}]}"#, "input[0].role"),
        (#"{"model":"m","input":[{"type":"function_call","name":"f"}]}"#, "input[0]"),
        (#"{"model":"m","input":"x","tools":[{"type":"web_search"}]}"#, "tools[0]"),
        (#"{"model":"m","input":"x","tool_choice":{"type":"file_search"}}"#, "tool_choice"),
        (#"{"model":"m","input":"x","text":{"format":{"type":"yaml"}}}"#, "text.format.type"),
        (#"{"model":"m","input":[{"role":"user","content":[{"type":"input_audio"}]}]}"#, "input[0].content[0].type"),
    ])
    func whatAChatUpstreamCannotTakeIsA400NamingTheField(_ text: String, _ param: String) throws {
        let result = ResponsesRequest.toChat(try parse(text))
        guard case .failure(let error) = result else {
            Issue.record("\(text) should be refused")
            return
        }
        #expect(error.param == param, "\(error.message)")
    }

    @Test func aChatCompletionBecomesAResponseWithReasoningMessageAndCalls() throws {
        let completion = try parse(
            """
            {"id":"chatcmpl-1","object":"chat.completion","created":1,"model":"grok-4.3","choices":[{"index":0,
              "message":{"role":"assistant","content":"Calling add.","reasoning_content":"Need a tool.",
                "tool_calls":[{"id":"call_9","type":"function","function":{"name":"add","arguments":"{\\"a\\":1}"}}]},
              "finish_reason":"tool_calls"}],
             "usage":{"prompt_tokens":20,"completion_tokens":5,"total_tokens":32,
               "prompt_tokens_details":{"cached_tokens":8},"completion_tokens_details":{"reasoning_tokens":7},
               "cost_in_usd_ticks":1234}}
            """)
        var echo = ResponsesEcho(model: "grok-code-fast-1")
        echo.instructions = "Be terse."
        let response = ResponsesAnswer.response(
            fromChat: completion, echo: echo, ids: ids, createdAt: 1_765_000_000, completionIncludesReasoning: false)
        #expect(response["id"] == "resp_0123abcd")
        #expect(response["object"] == "response")
        #expect(response["status"] == "completed")
        #expect(response["model"] == "grok-4.3")
        #expect(response["instructions"] == "Be terse.")
        let output = response["output"]?.arrayValue ?? []
        #expect(output.compactMap { $0.objectValue?["type"]?.stringValue } == ["reasoning", "message", "function_call"])
        #expect(output[1].objectValue?["content"]?.arrayValue?.first?.objectValue?["text"] == "Calling add.")
        #expect(output[2].objectValue?["call_id"] == "call_9")
        #expect(output[2].objectValue?["arguments"] == "{\"a\":1}")
        let usage = response["usage"]?.objectValue
        #expect(usage?["input_tokens"] == 20)
        #expect(usage?["output_tokens"] == 12, "xAI's completion excludes reasoning: 5 + 7")
        #expect(usage?["output_tokens_details"]?.objectValue?["reasoning_tokens"] == 7)
        #expect(usage?["input_tokens_details"]?.objectValue?["cached_tokens"] == 8)
        #expect(usage?["total_tokens"] == 32)
        #expect(usage?["cost_in_usd_ticks"] == 1234)
    }

    /// The same answer, streamed and whole, makes the same response: the stream's `response.completed` and the JSON
    /// answer are written by different code (events as they come; the whole one straight to bytes).
    @Test(arguments: [false, true]) func aStreamedAnswerEndsWithTheResponseTheWholeAnswerIs(_ withCalls: Bool) throws {
        var completion = MockCompletion(
            id: "chatcmpl-x", model: "grok-4.3", created: 1, content: "Say \"hi\"\n", reasoning: "Short.",
            reasoningInMessage: true, promptTokens: 10, contentChunks: 3)
        completion.cachedTokens = 4
        completion.costTicks = 5_000
        if withCalls {
            completion.toolCalls = [
                MockToolCall(id: "call_1", name: "add", arguments: #"{"a":1}"#),
                MockToolCall(id: "call_2", name: "log", arguments: "{}"),
            ]
        }
        var echo = ResponsesEcho(model: "fast")
        echo.instructions = "Be terse."
        echo.tools = .array([.object(["type": "function", "name": "add"])])
        var stream = ResponsesStream(echo: echo, ids: ids, createdAt: 5, completionIncludesReasoning: false)
        var events = stream.start()
        for frame in completion.streamFrames(includeUsage: true) {
            guard let data = SSEEvent(bytes: frame).data, !SSEEvent(bytes: frame).isDone,
                let chunk = try JSONParser.parse(data).objectValue
            else { continue }
            events += stream.chunk(chunk)
        }
        events += stream.finish()
        let streamed = try #require(events.last?["response"]?.objectValue)
        let whole = ResponsesAnswer.response(
            fromChat: try #require(completion.chatCompletion.objectValue), echo: echo, ids: ids, createdAt: 5,
            completionIncludesReasoning: false)
        #expect(streamed == whole)
        #expect(whole["output"]?.arrayValue?.count == (withCalls ? 3 : 2), "reasoning, then the text or the calls")
    }

    @Test func aCutAnswerIsIncomplete() throws {
        let completion = try parse(
            #"{"model":"m","choices":[{"message":{"role":"assistant","content":"Once upon"},"finish_reason":"length"}]}"#)
        let response = ResponsesAnswer.response(
            fromChat: completion, echo: ResponsesEcho(model: "m"), ids: ids, createdAt: 1, completionIncludesReasoning: true)
        #expect(response["status"] == "incomplete")
        #expect(response["incomplete_details"] == .object(["reason": "max_output_tokens"]))
    }

    /// A grok stream as the mock records it (reasoning deltas, empty deltas, content, the usage chunk) makes the
    /// Responses event sequence, items opened and closed in order, numbered from 0.
    @Test func aReasoningStreamBecomesTheResponsesEventSequence() throws {
        var completion = MockCompletion(
            id: "chatcmpl-x", model: "grok-4.3", created: 1, content: "You said: hi", reasoning: "Short.",
            promptTokens: 10, contentChunks: 3, emptyDeltas: 2)
        completion.cachedTokens = 0
        let frames = completion.streamFrames(includeUsage: true)
        var stream = ResponsesStream(
            echo: ResponsesEcho(model: "fast"), ids: ids, createdAt: 5, completionIncludesReasoning: false)
        var events = stream.start()
        for frame in frames {
            guard let data = SSEEvent(bytes: frame).data, !SSEEvent(bytes: frame).isDone,
                let chunk = try JSONParser.parse(data).objectValue
            else { continue }
            events += stream.chunk(chunk)
        }
        events += stream.finish()
        let types = events.compactMap { $0["type"]?.stringValue }
        #expect(
            types == [
                "response.created", "response.in_progress", "response.output_item.added",
                "response.reasoning_summary_part.added", "response.reasoning_summary_text.delta",
                "response.reasoning_summary_text.delta", "response.reasoning_summary_text.done",
                "response.reasoning_summary_part.done", "response.output_item.done",
                "response.output_item.added", "response.content_part.added", "response.output_text.delta",
                "response.output_text.delta", "response.output_text.delta", "response.output_text.done",
                "response.content_part.done", "response.output_item.done", "response.completed",
            ])
        #expect(events.compactMap { $0["sequence_number"]?.intValue } == Array(0..<events.count))
        let text = events.filter { $0["type"] == "response.output_text.delta" }.compactMap { $0["delta"]?.stringValue }
        #expect(text.joined() == "You said: hi")
        let done = try #require(events.last?["response"]?.objectValue)
        #expect(done["status"] == "completed")
        #expect(done["model"] == "grok-4.3")
        #expect(done["output"]?.arrayValue?.count == 2)
        #expect(done["usage"]?.objectValue?["input_tokens"] == 10)
        #expect(stream.isEnded)
        #expect(stream.finish().isEmpty)
        let frame = String(decoding: ResponsesStream.frame(events[0]), as: UTF8.self)
        #expect(frame.hasPrefix("event: response.created\ndata: {\"type\":\"response.created\",\"sequence_number\":0,"))
        #expect(frame.hasSuffix("}\n\n"))
    }

    /// A long answer in many small deltas adds up to the whole text in each item. (Each text now grows in place; it
    /// was rebuilt for every delta, quadratic in the answer's length. This checks the result, not the copying.)
    @Test func manySmallDeltasAddUpToTheWholeText() throws {
        var stream = ResponsesStream(echo: ResponsesEcho(model: "m"), ids: ids, createdAt: 5, completionIncludesReasoning: true)
        _ = stream.start()
        func chunk(_ delta: JSONValue) -> JSONObject {
            ["model": "m", "choices": .array([.object(["index": 0, "delta": delta])])]
        }
        let count = 20_000
        for index in 0..<count { _ = stream.chunk(chunk(.object(["reasoning_content": .string("r\(index % 10)")]))) }
        for index in 0..<count { _ = stream.chunk(chunk(.object(["content": .string("c\(index % 10)")]))) }
        _ = stream.chunk(
            chunk(
                .object([
                    "tool_calls": .array([
                        .object(["index": 0, "id": "call_a", "function": .object(["name": "f", "arguments": ""])])
                    ])
                ])))
        for index in 0..<count {
            _ = stream.chunk(
                chunk(
                    .object([
                        "tool_calls": .array([
                            .object(["index": 0, "function": .object(["arguments": .string("a\(index % 10)")])])
                        ])
                    ])))
        }
        let events = stream.finish()
        let output = try #require(events.last?["response"]?.objectValue?["output"]?.arrayValue)
        let expected = { (prefix: String) in (0..<count).map { "\(prefix)\($0 % 10)" }.joined() }
        #expect(output[0].objectValue?["summary"]?.arrayValue?.first?.objectValue?["text"]?.stringValue == expected("r"))
        #expect(
            output[1].objectValue?["content"]?.arrayValue?.first?.objectValue?["text"]?.stringValue == expected("c"))
        #expect(output[2].objectValue?["arguments"]?.stringValue == expected("a"))
    }

    /// Tool calls as OpenAI-compatible servers stream them (the id and name first, the arguments in pieces), two at
    /// once: two function_call items with their arguments joined.
    @Test func streamedToolCallsBecomeFunctionCallItems() throws {
        let transcript = [
            #"{"model":"m","choices":[{"index":0,"delta":{"role":"assistant","tool_calls":[{"index":0,"id":"call_a","type":"function","function":{"name":"add","arguments":""}}]}}]}"#,
            #"{"model":"m","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\"a\":"}}]}}]}"#,
            #"{"model":"m","choices":[{"index":0,"delta":{"tool_calls":[{"index":1,"id":"call_b","type":"function","function":{"name":"log","arguments":"{}"}}]}}]}"#,
            #"{"model":"m","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"1}"}}]}}]}"#,
            #"{"model":"m","choices":[{"index":0,"delta":{},"finish_reason":"tool_calls"}]}"#,
            #"{"model":"m","choices":[],"usage":{"prompt_tokens":3,"completion_tokens":4,"total_tokens":7}}"#,
        ]
        var stream = ResponsesStream(echo: ResponsesEcho(model: "m"), ids: ids, createdAt: 5, completionIncludesReasoning: true)
        var events = stream.start()
        for line in transcript { events += stream.chunk(try parse(line)) }
        events += stream.finish()
        let types = events.compactMap { $0["type"]?.stringValue }
        #expect(
            types == [
                "response.created", "response.in_progress", "response.output_item.added",
                "response.function_call_arguments.delta", "response.output_item.added",
                "response.function_call_arguments.delta", "response.function_call_arguments.delta",
                "response.function_call_arguments.done", "response.output_item.done", "response.function_call_arguments.done",
                "response.output_item.done", "response.completed",
            ])
        let output = events.last?["response"]?.objectValue?["output"]?.arrayValue ?? []
        #expect(output.compactMap { $0.objectValue?["arguments"]?.stringValue } == ["{\"a\":1}", "{}"])
        #expect(output.compactMap { $0.objectValue?["call_id"]?.stringValue } == ["call_a", "call_b"])
        let added = events.filter { $0["type"] == "response.output_item.added" }.compactMap { $0["output_index"]?.intValue }
        #expect(added == [0, 1])
        #expect(events.last?["response"]?.objectValue?["usage"]?.objectValue?["output_tokens"] == 4)
    }

    @Test func aBrokenStreamEndsWithResponseFailed() throws {
        var stream = ResponsesStream(echo: ResponsesEcho(model: "m"), ids: ids, createdAt: 5, completionIncludesReasoning: true)
        _ = stream.start()
        _ = stream.chunk(try parse(#"{"model":"m","choices":[{"index":0,"delta":{"content":"Hel"}}]}"#))
        let failed = stream.fail(code: "upstream_stream_truncated", message: "The upstream ended the stream early.")
        #expect(failed.count == 1)
        #expect(failed[0]["type"] == "response.failed")
        let response = failed[0]["response"]?.objectValue
        #expect(response?["status"] == "failed")
        #expect(response?["error"]?.objectValue?["code"] == "upstream_stream_truncated")
        #expect(stream.finish().isEmpty, "nothing after the end")
    }
}
