import Foundation
import Testing

@testable import SwitchyardCore
@testable import SwitchyardServer

/// `POST /v1/messages` (Anthropic's Messages API, as Claude Code speaks it) through the real proxy to the real
/// mock: keys by `x-api-key`, Claude's model names through `model_group_alias`, answers and errors in Anthropic's
/// shapes, the chat path's accounting.
@Suite struct MessagesLiveTests {
    func config(_ mock: MockHandle) -> String {
        """
        model_list:
          - model_name: coder
            litellm_params: {model: xai/grok-4.3, api_base: "\(mock.baseURL)", api_key: \(testKey)}
          - model_name: chat-coder
            litellm_params: {model: openai/grok-4.3, api_base: "\(mock.baseURL)", api_key: \(testKey)}
        router_settings:
          model_group_alias: {"claude-sonnet-4-5": coder, "claude-*": {model: coder, hidden: true}}
        litellm_settings:
          drop_params: true
        general_settings:
          master_key: \(masterKey)
        """
    }

    let anthropicHeaders = [("x-api-key", masterKey), ("anthropic-version", "2023-06-01")]

    func messages(_ model: String, _ text: String, stream: Bool = false) -> JSONValue {
        .object([
            "model": .string(model), "max_tokens": 100, "stream": .bool(stream),
            "messages": .array([.object(["role": "user", "content": .string(text)])]),
        ])
    }

    @Test func aMessagesRequestIsAnsweredInAnthropicsShape() async throws {
        try await withMockUpstream { mock in
            try await withProxy(yaml: config(mock)) { proxy in
                let answer = try await send(
                    .POST, proxy.url + "/v1/messages", json: messages("claude-sonnet-4-5", "hello"), headers: anthropicHeaders)
                #expect(answer.status == 200, "\(answer.text)")
                let message = try #require(answer.json)
                #expect(message["type"] == "message")
                #expect(message["model"] == "claude-sonnet-4-5")
                #expect(message["content"]?.arrayValue?.last?.objectValue?["text"] == "You said: hello")
                #expect(message["stop_reason"] == "end_turn")
                // xAI has the Responses API: the request goes there, translated.
                let request = try #require(mock.recorder.requests.last)
                #expect(request.path == "/v1/responses")
                let sent = try #require(request.body?.objectValue)
                #expect(sent["model"] == "grok-4.3")
                #expect(sent["max_output_tokens"] == 100)
                #expect(sent["store"] == false, "the client sends the whole conversation each turn")
                #expect(sent["input"] == .array([.object(["role": "user", "content": "hello"])]))
                // A pattern in model_group_alias covers the other Claude names; without /v1 too.
                let other = try await send(
                    .POST, proxy.url + "/messages", json: messages("claude-opus-4-1", "hi"), headers: anthropicHeaders)
                #expect(other.status == 200)
                #expect(
                    try await eventually {
                        proxy.logs.lines.contains {
                            $0.contains("\"route\":\"/v1/messages\"") && $0.contains("\"alias\":\"coder\"")
                        }
                    })
            }
        }
    }

    /// A tool round trip, streamed and not, to an upstream with the Responses API (xai) and to a chat-only one: the
    /// call comes back as a `tool_use` block, the result goes up as the upstream's own kind of tool output.
    @Test(arguments: [("coder", "/v1/responses"), ("chat-coder", "/v1/chat/completions")])
    func aToolRoundTripWorksOverEitherUpstreamAPI(_ alias: String, _ path: String) async throws {
        try await withMockUpstream { mock in
            try await withProxy(yaml: config(mock)) { proxy in
                let tools: JSONValue = .array([
                    .object([
                        "name": "add", "description": "Adds two numbers.",
                        "input_schema": .object([
                            "type": "object",
                            "properties": .object(["a": .object(["type": "number"]), "b": .object(["type": "number"])]),
                        ]),
                    ])
                ])
                for stream in [false, true] {
                    let question: JSONValue = .object([
                        "model": .string(alias), "max_tokens": 200, "stream": .bool(stream), "tools": tools,
                        "messages": .array([.object(["role": "user", "content": "What is 2 + 2?"])]),
                    ])
                    let first = try await send(.POST, proxy.url + "/v1/messages", json: question, headers: anthropicHeaders)
                    #expect(first.status == 200, "\(first.text)")
                    #expect(mock.recorder.requests.last?.path == path)
                    let call: JSONObject
                    if stream {
                        let events = first.events.compactMap { $0.data.flatMap { try? JSONParser.parse($0).objectValue } }
                        let start = try #require(
                            events.first { $0["content_block"]?.objectValue?["type"] == "tool_use" }?["content_block"]?
                                .objectValue, "\(first.text)")
                        let json = events.compactMap { $0["delta"]?.objectValue?["partial_json"]?.stringValue }.joined()
                        var whole = start
                        whole["input"] = try JSONParser.parse(json)
                        call = whole
                        let stop = events.first { $0["type"] == "message_delta" }?["delta"]?.objectValue?["stop_reason"]
                        #expect(stop == "tool_use")
                        #expect(events.last?["type"] == "message_stop")
                    } else {
                        let message = try #require(first.json)
                        #expect(message["stop_reason"] == "tool_use", "\(first.text)")
                        call = try #require(
                            message["content"]?.arrayValue?.compactMap(\.objectValue).first { $0["type"] == "tool_use" })
                    }
                    #expect(call["name"] == "add")
                    #expect(call["input"]?.objectValue?["a"] == 2, "\(call)")
                    let id = try #require(call["id"]?.stringValue)
                    let answer: JSONValue = .object([
                        "model": .string(alias), "max_tokens": 200, "tools": tools,
                        "messages": .array([
                            .object(["role": "user", "content": "What is 2 + 2?"]),
                            .object(["role": "assistant", "content": .array([.object(call)])]),
                            .object([
                                "role": "user",
                                "content": .array([.object(["type": "tool_result", "tool_use_id": .string(id), "content": "4"])]),
                            ]),
                        ]),
                    ])
                    let second = try await send(.POST, proxy.url + "/v1/messages", json: answer, headers: anthropicHeaders)
                    #expect(second.status == 200, "\(second.text)")
                    #expect(second.json?["stop_reason"] == "end_turn")
                    let text = second.json?["content"]?.arrayValue?.compactMap { $0.objectValue?["text"]?.stringValue }
                    #expect(text?.last == "Tool said: 4", "\(second.text)")
                    let sent = try #require(mock.recorder.requests.last?.body?.objectValue)
                    if path == "/v1/responses" {
                        let output = sent["input"]?.arrayValue?.last?.objectValue
                        #expect(output?["type"] == "function_call_output" && output?["call_id"] == .string(id))
                    } else {
                        let tool = sent["messages"]?.arrayValue?.last?.objectValue
                        #expect(tool?["role"] == "tool" && tool?["tool_call_id"] == .string(id))
                    }
                }
            }
        }
    }

    @Test func aStreamIsAnthropicsEventSequence() async throws {
        try await withMockUpstream { mock in
            try await withProxy(yaml: config(mock)) { proxy in
                let answer = try await send(
                    .POST, proxy.url + "/v1/messages", json: messages("claude-sonnet-4-5", "stream it", stream: true),
                    headers: anthropicHeaders)
                #expect(answer.status == 200)
                let events = answer.events
                let names = answer.text.split(separator: "\n").filter { $0.hasPrefix("event: ") }.map { $0.dropFirst(7) }
                #expect(names.first == "message_start")
                #expect(names.last == "message_stop")
                #expect(names.contains("content_block_delta"))
                let objects = events.compactMap { $0.data.flatMap { try? JSONParser.parse($0).objectValue } }
                let text = objects.compactMap { $0["delta"]?.objectValue?["text"]?.stringValue }.joined()
                #expect(text == "You said: stream it")
                let usage = objects.first { $0["type"] == "message_delta" }?["usage"]?.objectValue
                #expect((usage?["output_tokens"]?.intValue ?? 0) > 0)
                // A stream that breaks ends with Anthropic's error event.
                let broken = try await send(
                    .POST, proxy.url + "/v1/messages", json: messages("claude-sonnet-4-5", "FAULT:abrupt", stream: true),
                    headers: anthropicHeaders)
                let last = broken.events.last?.data.flatMap { try? JSONParser.parse($0).objectValue }
                #expect(last?["type"] == "error", "\(broken.text)")
                #expect(last?["error"]?.objectValue?["type"] == "api_error")
            }
        }
    }

    /// The upstream's keep-alives (comments, during a long think) reach an Anthropic client as `ping` events, over
    /// either upstream API, after `message_start`; the message ends as usual. (The mock sends one before every
    /// stream, as xAI sometimes does; this fault two more.)
    @Test(arguments: ["coder", "chat-coder"]) func upstreamKeepAlivesArePings(_ alias: String) async throws {
        try await withMockUpstream { mock in
            try await withProxy(yaml: config(mock)) { proxy in
                let answer = try await send(
                    .POST, proxy.url + "/v1/messages", json: messages(alias, "FAULT:keepalive", stream: true),
                    headers: anthropicHeaders)
                #expect(answer.status == 200)
                let names = answer.text.split(separator: "\n").filter { $0.hasPrefix("event: ") }.map { $0.dropFirst(7) }
                #expect(names.filter { $0 == "ping" }.count == 3, "\(answer.text)")
                #expect(names.first == "message_start" && names.last == "message_stop", "\(answer.text)")
                #expect(!answer.text.contains(": keepalive"))
            }
        }
    }

    @Test func errorsAreInAnthropicsEnvelopeWithItsStatuses() async throws {
        try await withMockUpstream { mock in
            try await withProxy(yaml: config(mock)) { proxy in
                let url = proxy.url + "/v1/messages"
                func check(_ result: HTTPResult, _ status: Int, _ type: String) {
                    #expect(result.status == status, "\(result.text)")
                    #expect(result.json?["type"] == "error")
                    #expect(result.json?["error"]?.objectValue?["type"]?.stringValue == type, "\(result.text)")
                }
                check(try await send(.POST, url, json: messages("claude-sonnet-4-5", "x")), 401, "authentication_error")
                check(
                    try await send(.POST, url, json: messages("gpt-nothing", "x"), headers: anthropicHeaders), 404,
                    "not_found_error")
                check(
                    try await send(
                        .POST, url, json: .object(["model": "claude-sonnet-4-5", "messages": .array([])]),
                        headers: anthropicHeaders), 400, "invalid_request_error")
                check(
                    try await send(.POST, url, json: messages("claude-sonnet-4-5", "FAULT:429"), headers: anthropicHeaders), 429,
                    "rate_limit_error")
                check(try await send(.POST, url, raw: "{not json", headers: anthropicHeaders), 400, "invalid_request_error")
            }
        }
    }

    @Test func countTokensEstimatesWithoutCallingTheUpstream() async throws {
        try await withMockUpstream { mock in
            try await withProxy(yaml: config(mock)) { proxy in
                let before = mock.recorder.requests.count
                let counted = try await send(
                    .POST, proxy.url + "/v1/messages/count_tokens",
                    json: .object([
                        "model": "claude-sonnet-4-5",
                        "messages": .array([.object(["role": "user", "content": .string(String(repeating: "word ", count: 40))])]
                        ),
                    ]), headers: anthropicHeaders)
                #expect(counted.status == 200, "\(counted.text)")
                #expect((counted.json?["input_tokens"]?.intValue ?? 0) >= 50)
                #expect(mock.recorder.requests.count == before)
                let unknown = try await send(
                    .POST, proxy.url + "/v1/messages/count_tokens",
                    json: .object(["model": "nope", "messages": .array([])]), headers: anthropicHeaders)
                #expect(unknown.status == 404)
                #expect(unknown.json?["type"] == "error")
            }
        }
    }
}
