import Testing

@testable import SwitchyardCore

/// Anthropic's Messages API over a Chat Completions upstream, translated both ways on recorded transcripts.
@Suite struct MessagesTranslatorTests {
    func parse(_ text: String) throws -> JSONObject {
        try #require(try JSONParser.parse(Array(text.utf8)).objectValue)
    }

    /// A Claude Code turn: system blocks, an assistant's thinking and tool use, the user's tool result and text.
    @Test func aClaudeCodeTurnBecomesTheChatRequestItMeans() throws {
        let body = try parse(
            """
            {"model":"claude-sonnet-4-5","max_tokens":1024,"stream":true,
             "system":[{"type":"text","text":"You are Claude Code."},{"type":"text","text":"Be terse.","cache_control":{"type":"ephemeral"}}],
             "messages":[
               {"role":"user","content":"List files"},
               {"role":"assistant","content":[{"type":"thinking","thinking":"I should call ls.","signature":"sig"},
                 {"type":"text","text":"Listing."},{"type":"tool_use","id":"toolu_1","name":"bash","input":{"command":"ls"}}]},
               {"role":"user","content":[{"type":"tool_result","tool_use_id":"toolu_1","content":[{"type":"text","text":"a.swift"}]},
                 {"type":"text","text":"Now read it."}]},
               {"role":"user","content":[{"type":"image","source":{"type":"base64","media_type":"image/png","data":"AAAA"}},
                 {"type":"text","text":"And this?"}]}],
             "tools":[{"name":"bash","description":"Runs a command","input_schema":{"type":"object","properties":{"command":{"type":"string"}}}}],
             "tool_choice":{"type":"any","disable_parallel_tool_use":true},
             "thinking":{"type":"enabled","budget_tokens":10000},
             "stop_sequences":["END"],"temperature":0.5,"top_k":5,"metadata":{"user_id":"u-1"}}
            """)
        let translated = try MessagesRequest.toChat(body).get()
        #expect(translated.stream)
        #expect(translated.model == "claude-sonnet-4-5")
        let expected = try parse(
            """
            {"model":"claude-sonnet-4-5","max_tokens":1024,"messages":[
              {"role":"system","content":"You are Claude Code.\\nBe terse."},
              {"role":"user","content":"List files"},
              {"role":"assistant","content":"Listing.","tool_calls":[{"id":"toolu_1","type":"function","function":{"name":"bash","arguments":"{\\"command\\":\\"ls\\"}"}}]},
              {"role":"tool","tool_call_id":"toolu_1","content":"a.swift"},
              {"role":"user","content":"Now read it."},
              {"role":"user","content":[{"type":"image_url","image_url":{"url":"data:image/png;base64,AAAA"}},{"type":"text","text":"And this?"}]}],
             "tools":[{"type":"function","function":{"name":"bash","description":"Runs a command","parameters":{"type":"object","properties":{"command":{"type":"string"}}}}}],
             "tool_choice":"required","parallel_tool_calls":false,"reasoning_effort":"medium","stop":["END"],
             "temperature":0.5,"user":"u-1","stream":true}
            """)
        #expect(translated.chat == expected, "\(JSONValue.object(translated.chat).encodedString())")
    }

    @Test(arguments: [
        (#"{"max_tokens":1,"messages":[]}"#, "model"),
        (#"{"model":"m","messages":[]}"#, "max_tokens"),
        (#"{"model":"m","max_tokens":1}"#, "messages"),
        (#"{"model":"m","max_tokens":1,"messages":[{"role":"system","content":"x"}]}"#, "messages.0.role"),
        (
            #"{"model":"m","max_tokens":1,"messages":[{"role":"user","content":[{"type":"document"}]}]}"#,
            "messages.0.content.0.type"
        ),
        (
            #"{"model":"m","max_tokens":1,"messages":[],"tools":[{"type":"web_search_20250305","name":"web_search"}]}"#,
            "tools.0.type"
        ),
        (#"{"model":"m","max_tokens":1,"messages":[],"tool_choice":{"type":"sometimes"}}"#, "tool_choice.type"),
    ])
    func whatCannotBeTranslatedIsA400NamingTheField(_ text: String, _ param: String) throws {
        guard case .failure(let error) = MessagesRequest.toChat(try parse(text)) else {
            Issue.record("\(text) should be refused")
            return
        }
        #expect(error.param == param, "\(error.message)")
    }

    @Test func aChatCompletionBecomesAMessage() throws {
        let completion = try parse(
            """
            {"model":"grok-4.3","choices":[{"message":{"role":"assistant","content":"Running it.","reasoning_content":"Plan.",
              "tool_calls":[{"id":"call_1","type":"function","function":{"name":"bash","arguments":"{\\"command\\":\\"ls\\"}"}}]},
              "finish_reason":"tool_calls"}],
             "usage":{"prompt_tokens":100,"completion_tokens":10,"prompt_tokens_details":{"cached_tokens":40},
               "completion_tokens_details":{"reasoning_tokens":5}}}
            """)
        let message = MessagesAnswer.message(
            fromChat: completion, id: "msg_1", model: "claude-sonnet-4-5", completionIncludesReasoning: false)
        #expect(message["model"] == "claude-sonnet-4-5", "the name the client sent")
        #expect(message["stop_reason"] == "tool_use")
        let content = message["content"]?.arrayValue ?? []
        #expect(content.compactMap { $0.objectValue?["type"]?.stringValue } == ["thinking", "text", "tool_use"])
        #expect(content[2].objectValue?["input"] == .object(["command": "ls"]))
        #expect(
            message["usage"]
                == .object([
                    "input_tokens": 60, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 40, "output_tokens": 15,
                ]))
    }

    @Test(arguments: [
        (400, "invalid_request_error"), (401, "authentication_error"), (404, "not_found_error"), (429, "rate_limit_error"),
        (503, "overloaded_error"), (502, "api_error"),
    ])
    func errorsCarryAnthropicsTypes(_ status: Int, _ type: String) {
        #expect(
            MessagesAnswer.errorBody(status: status, message: "m")
                == .object(["type": "error", "error": .object(["type": .string(type), "message": "m"])]))
    }

    /// The same Claude Code turn for an upstream with the Responses API: instructions, input items (function calls and
    /// their outputs as items), flat tools, the Responses tool choice and reasoning; no stop sequences (the API has
    /// none) and nothing kept upstream.
    @Test func aClaudeCodeTurnBecomesTheResponsesRequestItMeans() throws {
        let body = try parse(
            """
            {"model":"claude-sonnet-4-5","max_tokens":1024,"stream":true,
             "system":[{"type":"text","text":"You are Claude Code."},{"type":"text","text":"Be terse."}],
             "messages":[
               {"role":"user","content":"List files"},
               {"role":"assistant","content":[{"type":"thinking","thinking":"I should call ls.","signature":"sig"},
                 {"type":"text","text":"Listing."},{"type":"tool_use","id":"toolu_1","name":"bash","input":{"command":"ls"}}]},
               {"role":"user","content":[{"type":"tool_result","tool_use_id":"toolu_1","content":[{"type":"text","text":"a.swift"}],
                 "is_error":true},{"type":"text","text":"Now read it."},
                 {"type":"image","source":{"type":"url","url":"https://example.invalid/a.png"}}]}],
             "tools":[{"name":"bash","description":"Runs a command","input_schema":{"type":"object"}}],
             "tool_choice":{"type":"tool","name":"bash","disable_parallel_tool_use":true},
             "thinking":{"type":"enabled","budget_tokens":2000},
             "stop_sequences":["END"],"temperature":0.5,"top_k":5,"metadata":{"user_id":"u-1"}}
            """)
        let translated = try MessagesRequest.toResponses(body).get()
        #expect(translated.stream && translated.model == "claude-sonnet-4-5")
        let expected = try parse(
            """
            {"model":"claude-sonnet-4-5","max_output_tokens":1024,"store":false,
             "instructions":"You are Claude Code.\\nBe terse.",
             "input":[
              {"role":"user","content":"List files"},
              {"role":"assistant","content":"Listing."},
              {"type":"function_call","call_id":"toolu_1","name":"bash","arguments":"{\\"command\\":\\"ls\\"}"},
              {"type":"function_call_output","call_id":"toolu_1","output":"Error: a.swift"},
              {"role":"user","content":[{"type":"input_text","text":"Now read it."},
                {"type":"input_image","image_url":"https://example.invalid/a.png"}]}],
             "tools":[{"type":"function","name":"bash","description":"Runs a command","parameters":{"type":"object"}}],
             "tool_choice":{"type":"function","name":"bash"},"parallel_tool_calls":false,
             "reasoning":{"effort":"low"},"temperature":0.5,"user":"u-1","stream":true}
            """)
        #expect(translated.responses == expected, "\(JSONValue.object(translated.responses).encodedString())")
        let refused = MessagesRequest.toResponses(
            try parse(#"{"model":"m","max_tokens":5,"messages":[{"role":"assistant","content":[{"type":"image","source":{}}]}]}"#)
        )
        guard case .failure(let error) = refused else { Issue.record("an assistant's image is refused"); return }
        #expect(error.param == "messages.0.content.0")
    }

    /// A keep-alive is Anthropic's `ping`, never before `message_start`, never after the end.
    @Test func keepAlivesArePingsInsideTheMessage() {
        var stream = MessagesStream(id: "m", model: "x", completionIncludesReasoning: true)
        #expect(stream.keepAlive().compactMap { $0["type"]?.stringValue } == ["message_start", "ping"])
        #expect(stream.keepAlive().compactMap { $0["type"]?.stringValue } == ["ping"])
        _ = stream.finish()
        #expect(stream.keepAlive().isEmpty)
    }

    /// A Responses API stream (as the mock speaks it: reasoning summary, text, two function calls, usage in
    /// `response.completed`) becomes Anthropic's event sequence, and ends with the message the whole answer is.
    @Test func aResponsesStreamBecomesAnthropicsEventSequence() throws {
        var completion = MockCompletion(
            id: "c", model: "grok-4.3", created: 1, content: "", reasoning: "Use tools.", reasoningInMessage: true,
            promptTokens: 9, contentChunks: 2)
        completion.cachedTokens = 3
        completion.toolCalls = [
            MockToolCall(id: "call_1", name: "add", arguments: #"{"a":2,"b":2}"#),
            MockToolCall(id: "call_2", name: "log", arguments: "{}"),
        ]
        let ids = ResponsesAnswer.IDs(stem: "abc")
        var upstream = ResponsesStream(
            echo: ResponsesEcho(model: "grok-4.3"), ids: ids, createdAt: 1, completionIncludesReasoning: false)
        var responsesEvents = upstream.start()
        for frame in completion.streamFrames(includeUsage: true) {
            let event = SSEEvent(bytes: frame)
            guard let data = event.data else { continue }
            if event.isDone {
                responsesEvents += upstream.finish()
            } else if let chunk = try JSONParser.parse(data).objectValue {
                responsesEvents += upstream.chunk(chunk)
            }
        }
        var stream = MessagesStream(id: "msg_1", model: "claude-sonnet-4-5", completionIncludesReasoning: true)
        var events: [JSONObject] = []
        for event in responsesEvents { events += stream.responsesEvent(event) }
        events += stream.finish()
        let types = events.compactMap { $0["type"]?.stringValue }
        #expect(types.first == "message_start" && types.last == "message_stop")
        #expect(types.filter { $0 == "content_block_start" }.count == 3, "thinking, then a tool_use per call")
        let starts = events.compactMap { $0["content_block"]?.objectValue }
        #expect(starts.map { $0["type"]?.stringValue } == ["thinking", "tool_use", "tool_use"])
        #expect(starts.compactMap { $0["id"]?.stringValue } == ["call_1", "call_2"])
        let deltas = events.compactMap { $0["delta"]?.objectValue }
        #expect(deltas.compactMap { $0["thinking"]?.stringValue }.joined() == "Use tools.")
        let first = events.filter { $0["index"] == 1 }.compactMap { $0["delta"]?.objectValue?["partial_json"]?.stringValue }
        #expect(first.joined() == #"{"a":2,"b":2}"#)
        let end = try #require(events.first { $0["type"] == "message_delta" })
        #expect(end["delta"]?.objectValue?["stop_reason"] == "tool_use")
        let usage = try #require(end["usage"]?.objectValue)
        // The whole answer, read from the same upstream's JSON response, says the same.
        let chat = try #require(completion.chatCompletion.objectValue)
        let response = ResponsesAnswer.response(
            fromChat: chat, echo: ResponsesEcho(model: "grok-4.3"), ids: ids, createdAt: 1, completionIncludesReasoning: false)
        let rendered = MessagesAnswer.render(ModelTurn(response: response), id: "msg_1", model: "claude-sonnet-4-5")
        let whole = try #require(try JSONParser.parse(array: rendered).objectValue)
        #expect(whole["usage"]?.objectValue == usage, "input 9 - 3 cached, output with reasoning")
        #expect(usage["cache_read_input_tokens"] == 3 && usage["input_tokens"] == 6)
        #expect(whole["stop_reason"] == "tool_use")
        let calls = whole["content"]?.arrayValue?.compactMap(\.objectValue).filter { $0["type"] == "tool_use" }
        #expect(calls?.map { $0["id"] } == ["call_1", "call_2"])
        #expect(calls?.first?["input"] == .object(["a": 2, "b": 2]))
        // A failed response ends the message with Anthropic's error event.
        var failing = MessagesStream(id: "m", model: "x", completionIncludesReasoning: true)
        let failed = failing.responsesEvent(
            try parse(#"{"type":"response.failed","response":{"status":"failed","error":{"code":"x","message":"boom"}}}"#))
        #expect(failed.last?["type"] == "error")
        #expect(failed.last?["error"]?.objectValue?["message"] == "boom")
        #expect(failing.finish().isEmpty)
    }

    /// A grok stream as the mock records it becomes Anthropic's event sequence: thinking, then text, with usage at
    /// the end.
    @Test func aReasoningStreamBecomesAnthropicsEventSequence() throws {
        let completion = MockCompletion(
            id: "c", model: "grok-4.3", created: 1, content: "Hi there", reasoning: "Greet.", promptTokens: 9,
            contentChunks: 2, emptyDeltas: 1)
        var stream = MessagesStream(id: "msg_1", model: "claude-sonnet-4-5", completionIncludesReasoning: false)
        var events: [JSONObject] = []
        for frame in completion.streamFrames(includeUsage: true) {
            let event = SSEEvent(bytes: frame)
            guard let data = event.data else { continue }
            if event.isDone {
                events += stream.finish()
            } else if let chunk = try JSONParser.parse(data).objectValue {
                events += stream.chunk(chunk)
            }
        }
        let types = events.compactMap { $0["type"]?.stringValue }
        #expect(
            types == [
                "message_start", "content_block_start", "content_block_delta", "content_block_delta", "content_block_delta",
                "content_block_stop", "content_block_start", "content_block_delta", "content_block_delta",
                "content_block_stop", "message_delta", "message_stop",
            ])
        let deltas = events.compactMap { $0["delta"]?.objectValue }
        #expect(deltas.compactMap { $0["thinking"]?.stringValue }.joined() == "Greet.")
        #expect(deltas.compactMap { $0["text"]?.stringValue }.joined() == "Hi there")
        #expect(deltas.contains { $0["type"] == "signature_delta" }, "a thinking block ends with its signature")
        let last = try #require(events.first { $0["type"] == "message_delta" })
        #expect(last["delta"]?.objectValue?["stop_reason"] == "end_turn")
        #expect(last["usage"]?.objectValue?["input_tokens"] == 9)
        #expect(events.compactMap { $0["index"]?.intValue } == [0, 0, 0, 0, 0, 1, 1, 1, 1])
    }

    @Test func streamedToolCallsBecomeToolUseBlocksWithPartialJSON() throws {
        let transcript = [
            #"{"choices":[{"index":0,"delta":{"role":"assistant","tool_calls":[{"index":0,"id":"call_a","type":"function","function":{"name":"bash","arguments":""}}]}}]}"#,
            #"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\"command\":"}}]}}]}"#,
            #"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"\"ls\"}"}}]}}]}"#,
            #"{"choices":[{"index":0,"delta":{},"finish_reason":"tool_calls"}]}"#,
        ]
        var stream = MessagesStream(id: "msg_1", model: "m", completionIncludesReasoning: true)
        var events: [JSONObject] = []
        for line in transcript { events += stream.chunk(try parse(line)) }
        events += stream.finish()
        let start = try #require(events.first { $0["type"] == "content_block_start" })
        #expect(start["content_block"]?.objectValue?["type"] == "tool_use")
        #expect(start["content_block"]?.objectValue?["id"] == "call_a")
        let json = events.compactMap { $0["delta"]?.objectValue?["partial_json"]?.stringValue }.joined()
        #expect(json == #"{"command":"ls"}"#)
        #expect(events.first { $0["type"] == "message_delta" }?["delta"]?.objectValue?["stop_reason"] == "tool_use")
        #expect(stream.isEnded)
    }

    @Test func aBrokenStreamEndsWithAnErrorEvent() throws {
        var stream = MessagesStream(id: "msg_1", model: "m", completionIncludesReasoning: true)
        _ = stream.chunk(try parse(#"{"choices":[{"index":0,"delta":{"content":"Hel"}}]}"#))
        let failed = stream.fail(status: 502, message: "The upstream ended the stream early.")
        #expect(
            failed == [
                ["type": "error", "error": .object(["type": "api_error", "message": "The upstream ended the stream early."])]
            ])
        #expect(stream.finish().isEmpty)
    }
}
