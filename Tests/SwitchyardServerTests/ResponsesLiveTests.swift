import Foundation
import SwitchyardStorage
import Testing

@testable import SwitchyardCore
@testable import SwitchyardServer

/// `POST /v1/responses` through the real proxy to the real mock: natively to an `xai/` deployment (the mock speaks
/// xAI's Responses API), translated both ways for an `openai/` one (any OpenAI-compatible server, Chat Completions
/// only), with the chat path's accounting, limits and errors either way.
@Suite struct ResponsesLiveTests {
    func config(_ mock: MockHandle) -> String {
        """
        model_list:
          - model_name: g
            litellm_params: {model: openai/grok-4.3, api_base: "\(mock.baseURL)", api_key: \(testKey)}
          - model_name: native
            litellm_params: {model: xai/grok-4.3, api_base: "\(mock.baseURL)", api_key: \(testKey)}
          - model_name: echo
            litellm_params: {model: mock/echo}
        litellm_settings:
          drop_params: true
        """
    }

    func responsesEvents(_ result: HTTPResult) -> [JSONObject] {
        result.events.compactMap { event in
            guard let data = event.data else { return nil }
            return (try? JSONParser.parse(data))?.objectValue
        }
    }

    @Test func aResponsesRequestIsTranslatedForAChatUpstreamAndBack() async throws {
        try await withMockUpstream { mock in
            try await withProxy(yaml: config(mock)) { proxy in
                let body: JSONValue = .object([
                    "model": "g", "instructions": "Be brief.",
                    "input": .array([.object(["role": "user", "content": "what is a proxy?"])]),
                    "reasoning": .object(["effort": "low"]), "max_output_tokens": 300,
                    "text": .object([
                        "format": .object(["type": "json_schema", "name": "a", "schema": .object(["type": "object"])])
                    ]),
                ])
                let answer = try await send(.POST, proxy.url + "/v1/responses", json: body)
                #expect(answer.status == 200, "\(answer.text)")
                let response = try #require(answer.json)
                #expect(response["object"] == "response")
                #expect(response["status"] == "completed")
                #expect(response["instructions"] == "Be brief.")
                let output = response["output"]?.arrayValue ?? []
                #expect(output.compactMap { $0.objectValue?["type"]?.stringValue } == ["reasoning", "message"])
                let text = output.last?.objectValue?["content"]?.arrayValue?.first?.objectValue?["text"]
                #expect(text == "You said: what is a proxy?")
                let usage = try #require(response["usage"]?.objectValue)
                #expect((usage["output_tokens_details"]?.objectValue?["reasoning_tokens"]?.intValue ?? 0) > 0)

                // What reached the chat upstream: the chat request the Responses one means, normalized for grok-4.3.
                let sent = try #require(mock.recorder.requests.last?.body?.objectValue)
                #expect(mock.recorder.requests.last?.path == "/v1/chat/completions")
                let messages = sent["messages"]?.arrayValue ?? []
                #expect(messages.first == .object(["role": "system", "content": "Be brief."]))
                #expect(sent["reasoning_effort"] == "low")
                #expect(sent["max_completion_tokens"] == 300)
                #expect(sent["include"] == nil, "Responses-only fields stay out of the chat request")
                #expect(sent["response_format"]?.objectValue?["type"] == "json_schema")
                #expect(sent["model"] == "grok-4.3")
                // The request was accounted as any other: its log line, with xAI's cost.
                #expect(
                    try await eventually {
                        proxy.logs.lines.contains {
                            $0.contains("\"route\":\"/v1/responses\"") && $0.contains("\"cost_source\":\"upstream\"")
                        }
                    })
                // Without /v1 too, and on the built-in mock.
                let plain = try await send(.POST, proxy.url + "/responses", json: .object(["model": "echo", "input": "hi"]))
                #expect(plain.status == 200)
                #expect(plain.json?["output"]?.arrayValue?.last?.objectValue?["type"] == "message")
            }
        }
    }

    @Test func aStreamedResponseIsTheResponsesEventSequenceWithUsage() async throws {
        try await withMockUpstream { mock in
            try await withProxy(yaml: config(mock)) { proxy in
                let answer = try await send(
                    .POST, proxy.url + "/v1/responses", json: .object(["model": "g", "input": "stream me", "stream": true]))
                #expect(answer.status == 200)
                #expect(answer.headers.first(name: "content-type") == "text/event-stream")
                let events = responsesEvents(answer)
                let types = events.compactMap { $0["type"]?.stringValue }
                #expect(types.first == "response.created")
                #expect(types.last == "response.completed", "\(types)")
                #expect(types.contains("response.reasoning_summary_text.delta"))
                let deltas = events.filter { $0["type"] == "response.output_text.delta" }.compactMap { $0["delta"]?.stringValue }
                #expect(deltas.joined() == "You said: stream me")
                let usage = events.last?["response"]?.objectValue?["usage"]?.objectValue
                #expect((usage?["input_tokens"]?.intValue ?? 0) > 0, "the usage chunk the proxy asked for")
                #expect(!answer.text.contains("[DONE]"), "no chat framing reaches a Responses client")
                #expect(
                    try await eventually {
                        proxy.logs.lines.contains {
                            $0.contains("\"route\":\"/v1/responses\"") && $0.contains("\"prompt_tokens\"")
                                && !$0.contains("usage_estimated")
                        }
                    })
            }
        }
    }

    @Test func aFunctionToolRoundTripRunsThroughTheTranslation() async throws {
        try await withMockUpstream { mock in
            try await withProxy(yaml: config(mock)) { proxy in
                let tools: JSONValue = .array([
                    .object([
                        "type": "function", "name": "lookup",
                        "parameters": .object([
                            "type": "object", "properties": .object(["term": .object(["type": "string"])]),
                        ]),
                    ])
                ])
                for stream in [false, true] {
                    let first = try await send(
                        .POST, proxy.url + "/v1/responses",
                        json: .object(["model": "g", "input": "swift", "tools": tools, "stream": .bool(stream)]))
                    let call: JSONObject
                    if stream {
                        let done = responsesEvents(first).last?["response"]?.objectValue
                        call = try #require(
                            done?["output"]?.arrayValue?.compactMap(\.objectValue).first { $0["type"] == "function_call" })
                    } else {
                        call = try #require(
                            first.json?["output"]?.arrayValue?.compactMap(\.objectValue).first { $0["type"] == "function_call" })
                    }
                    #expect(call["name"] == "lookup")
                    #expect(call["arguments"] == "{\"term\":\"swift\"}")
                    let callID = try #require(call["call_id"]?.stringValue)
                    let second = try await send(
                        .POST, proxy.url + "/v1/responses",
                        json: .object([
                            "model": "g", "tools": tools,
                            "input": .array([
                                .object(["role": "user", "content": "swift"]),
                                .object([
                                    "type": "function_call", "call_id": .string(callID), "name": "lookup",
                                    "arguments": "{\"term\":\"swift\"}",
                                ]),
                                .object(["type": "function_call_output", "call_id": .string(callID), "output": "a language"]),
                            ]),
                        ]))
                    let text = second.json?["output"]?.arrayValue?.last?.objectValue?["content"]?.arrayValue?.first?.objectValue?[
                        "text"]
                    #expect(text == "Tool said: a language", "\(second.text)")
                }
            }
        }
    }

    @Test func failuresKeepTheirMeaningOnTheResponsesSurface() async throws {
        try await withMockUpstream { mock in
            try await withProxy(yaml: config(mock)) { proxy in
                let url = proxy.url + "/v1/responses"
                // Before the answer: the upstream's status in OpenAI's envelope, which the Responses API shares.
                let limited = try await send(.POST, url, json: .object(["model": "g", "input": "FAULT:429"]))
                #expect(limited.status == 429)
                #expect(limited.error?["type"] != nil)
                // A stream that breaks after it began ends with response.failed, not a chat error chunk.
                let broken = try await send(
                    .POST, url, json: .object(["model": "g", "input": "FAULT:abrupt", "stream": true]))
                #expect(broken.status == 200)
                let last = responsesEvents(broken).last
                #expect(last?["type"] == "response.failed", "\(broken.text)")
                #expect(last?["response"]?.objectValue?["error"]?.objectValue?["code"] == "upstream_stream_truncated")
                // What a chat upstream cannot run, and malformed input, are the client's 400s naming the field.
                let search = try await send(
                    .POST, url, json: .object(["model": "g", "input": "x", "tools": .array([.object(["type": "web_search"])])]))
                #expect(search.status == 400)
                #expect(search.error?["param"] == "tools[0]")
                let bad = try await send(.POST, url, json: .object(["model": "g", "input": 7]))
                #expect(bad.status == 400)
                #expect(bad.error?["param"] == "input")
                let unknown = try await send(.POST, url, json: .object(["model": "nope", "input": "x"]))
                #expect(unknown.status == 404)
                let previous = try await send(
                    .POST, url, json: .object(["model": "g", "input": "x", "previous_response_id": "resp_unknown"]))
                #expect(previous.status == 404)
                #expect(previous.error?["param"] == "previous_response_id")
                #expect(try await send(.POST, proxy.url + "/v1/chat/completions", json: chat("g", "still serving")).status == 200)
            }
        }
    }

    /// An `xai/` deployment gets the Responses request as it is (model rewritten, effort mapped by the catalog) and
    /// its answer and events come back unchanged, encrypted reasoning included; usage and xAI's cost are read from
    /// the answer or `response.completed`.
    @Test func aNativeUpstreamGetsTheResponsesRequestAsItIs() async throws {
        try await withMockUpstream { mock in
            try await withProxy(yaml: config(mock)) { proxy in
                let url = proxy.url + "/v1/responses"
                let body: JSONValue = .object([
                    "model": "native", "input": "native please", "reasoning": .object(["effort": "xhigh"]),
                    "include": .array(["reasoning.encrypted_content"]), "store": false,
                ])
                let answer = try await send(.POST, url, json: body)
                #expect(answer.status == 200, "\(answer.text)")
                let sent = try #require(mock.recorder.requests.last)
                #expect(sent.path == "/v1/responses")
                #expect(sent.body?.objectValue?["model"] == "grok-4.3")
                #expect(
                    sent.body?.objectValue?["reasoning"]?.objectValue?["effort"] == "high",
                    "xhigh is mapped to what grok-4.3 takes")
                #expect(sent.body?.objectValue?["include"] == .array(["reasoning.encrypted_content"]))
                let reasoning = answer.json?["output"]?.arrayValue?.first?.objectValue
                #expect(reasoning?["encrypted_content"]?.stringValue?.hasPrefix("xai-mock-encrypted-") == true)
                // `store: false`: nobody keeps it, and the upstream is not asked.
                let asked = mock.recorder.requests.count
                let unkept = try #require(answer.json?["id"]?.stringValue)
                #expect(try await send(.GET, url + "/" + unkept).status == 404)
                #expect(mock.recorder.requests.count == asked)
                #expect(
                    try await eventually {
                        proxy.logs.lines.contains {
                            $0.contains("\"alias\":\"native\"") && $0.contains("\"cost_source\":\"upstream\"")
                                && $0.contains("\"reasoning_tokens\"")
                        }
                    })

                let streamed = try await send(
                    .POST, url, json: .object(["model": "native", "input": "stream natively", "stream": true]))
                #expect(streamed.status == 200)
                let events = responsesEvents(streamed)
                #expect(events.last?["type"] == "response.completed", "relayed as the upstream sent it, with no error added")
                #expect(events.allSatisfy { $0["type"] != nil && $0["error"] == nil })
                #expect(
                    try await eventually {
                        proxy.logs.lines.filter { $0.contains("\"alias\":\"native\"") && $0.contains("\"stream\":\"true\"") }
                            .contains { $0.contains("\"prompt_tokens\"") && !$0.contains("usage_estimated") }
                    })
                // A stream that breaks ends with the Responses API's error event.
                let broken = try await send(
                    .POST, url, json: .object(["model": "native", "input": "FAULT:abrupt", "stream": true]))
                #expect(responsesEvents(broken).last?["type"] == "error", "\(broken.text)")
                // The upstream's keep-alives (the mock's first, the fault's two) are relayed as they are, natively;
                // translated, as comments.
                for model in ["native", "g"] {
                    let kept = try await send(
                        .POST, url, json: .object(["model": .string(model), "input": "FAULT:keepalive", "stream": true]))
                    #expect(kept.text.components(separatedBy: ": keepalive\n\n").count == 4, "\(model): \(kept.text)")
                    #expect(responsesEvents(kept).last?["type"] == "response.completed", "\(model): \(kept.text)")
                }
            }
        }
    }

    /// An OpenAI-compatible server that has the Responses API is told so per deployment, as in LiteLLM
    /// (`model_info.supported_endpoints`): Responses and Messages requests go there natively; a name that is no API
    /// disables that model alone, with a message naming it.
    @Test func supportedEndpointsMakeAnOpenAICompatibleServersResponsesAPINative() async throws {
        try await withMockUpstream { mock in
            let yaml = """
                model_list:
                  - model_name: compatible
                    litellm_params: {model: openai/grok-4.3, api_base: "\(mock.baseURL)", api_key: \(testKey)}
                    model_info: {supported_endpoints: ["/v1/chat/completions", "/v1/responses", "/v1/messages"]}
                  - model_name: typo
                    litellm_params: {model: openai/grok-4.3, api_base: "\(mock.baseURL)", api_key: \(testKey)}
                    model_info: {supported_endpoints: ["/v1/respones"]}
                """
            try await withProxy(yaml: yaml) { proxy in
                let answer = try await send(
                    .POST, proxy.url + "/v1/responses", json: .object(["model": "compatible", "input": "as it is"]))
                #expect(answer.status == 200, "\(answer.text)")
                #expect(mock.recorder.requests.last?.path == "/v1/responses")
                #expect(mock.recorder.requests.last?.body?.objectValue?["input"] == "as it is")
                let message = try await send(
                    .POST, proxy.url + "/v1/messages",
                    json: .object([
                        "model": "compatible", "max_tokens": 50,
                        "messages": .array([.object(["role": "user", "content": "hi"])]),
                    ]))
                #expect(message.status == 200, "\(message.text)")
                #expect(mock.recorder.requests.last?.path == "/v1/responses")
                let plain = try await send(.POST, proxy.url + "/v1/chat/completions", json: chat("compatible", "still chat"))
                #expect(plain.status == 200)
                let disabled = try await send(.POST, proxy.url + "/v1/chat/completions", json: chat("typo", "x"))
                #expect(disabled.status == 503, "\(disabled.text)")
                #expect(disabled.error?["message"]?.stringValue?.contains("'/v1/respones'") == true, "\(disabled.text)")
            }
        }
    }

    /// A translated response is kept (SQLite here, with the request log's retention): a follow-up by
    /// `previous_response_id` carries the conversation, even on a proxy started afterwards; another key cannot read
    /// it; `GET`, `input_items` and `DELETE` work on it; `store: false` keeps nothing.
    @Test func aKeptResponseContinuesAConversationAcrossRestarts() async throws {
        let database = try await Backend.sqlite.newURL()
        try await withMockUpstream { mock in
            let yaml = config(mock) + "\ngeneral_settings:\n  master_key: \(masterKey)\n  database_url: \"\(database)\"\n"
            let first = try await withProxy(yaml: yaml) { proxy in
                let answer = try await send(
                    .POST, proxy.url + "/v1/responses", json: .object(["model": "g", "input": "My name is Ada."]),
                    headers: master)
                let unkept = try await send(
                    .POST, proxy.url + "/v1/responses", json: .object(["model": "g", "input": "forget me", "store": false]),
                    headers: master)
                let unkeptID = try #require(unkept.json?["id"]?.stringValue)
                #expect(try await send(.GET, proxy.url + "/v1/responses/" + unkeptID, headers: master).status == 404)
                return try #require(answer.json?["id"]?.stringValue)
            }
            // A new proxy on the same database: the response is read from it.
            try await withProxy(yaml: yaml) { proxy in
                let (key, _) = try await generateKey(proxy)
                #expect(
                    try await send(.GET, proxy.url + "/v1/responses/" + first, headers: bearer(key)).status == 404,
                    "another key does not see it")
                let follow = try await send(
                    .POST, proxy.url + "/v1/responses",
                    json: .object(["model": "g", "input": "What is my name?", "previous_response_id": .string(first)]),
                    headers: master)
                #expect(follow.status == 200, "\(follow.text)")
                let sent = try #require(mock.recorder.requests.last?.body?.objectValue?["messages"]?.arrayValue)
                let contents = sent.compactMap { $0.objectValue?["content"]?.stringValue }
                #expect(contents == ["My name is Ada.", "You said: My name is Ada.", "What is my name?"], "\(contents)")
                let followID = try #require(follow.json?["id"]?.stringValue)
                let items = try await send(.GET, proxy.url + "/v1/responses/\(followID)/input_items", headers: master)
                #expect(items.json?["data"]?.arrayValue?.count == 4, "\(items.text)")
                let fetched = try await send(.GET, proxy.url + "/v1/responses/" + first, headers: master)
                #expect(fetched.json?["id"]?.stringValue == first)
                let deleted = try await send(.DELETE, proxy.url + "/responses/" + first, headers: master)
                #expect(deleted.json?["deleted"] == true)
                #expect(try await send(.GET, proxy.url + "/v1/responses/" + first, headers: master).status == 404)
            }
        }
    }

    /// An alias with two native deployments (two upstreams, each keeping only its own responses, as xAI keeps them
    /// for the key that made them): every follow-up by `previous_response_id` goes back to the deployment that made
    /// the response; without that, about half would be the other upstream's 404.
    @Test func aFollowUpToANativeResponseGoesBackToItsDeployment() async throws {
        try await withMockUpstream { first in
            try await withMockUpstream { second in
                let yaml = """
                    model_list:
                      - model_name: both
                        litellm_params: {model: xai/grok-4.3, api_base: "\(first.baseURL)", api_key: \(testKey)}
                        model_info: {id: first}
                      - model_name: both
                        litellm_params: {model: xai/grok-4.3, api_base: "\(second.baseURL)", api_key: \(testKey)}
                        model_info: {id: second}
                    """
                try await withProxy(yaml: yaml) { proxy in
                    let url = proxy.url + "/v1/responses"
                    var lastNative = ""
                    var lastDeployment = ""
                    for conversation in 0..<4 {
                        let start = try await send(
                            .POST, url, json: .object(["model": "both", "input": .string("start \(conversation)")]))
                        let made = try #require(start.headers.first(name: "x-switchyard-deployment"))
                        var previous = try #require(start.json?["id"]?.stringValue)
                        for turn in 0..<5 {
                            let follow = try await send(
                                .POST, url,
                                json: .object([
                                    "model": "both", "input": .string("turn \(turn)"), "previous_response_id": .string(previous),
                                    "stream": .bool(turn.isMultiple(of: 2)),
                                ]))
                            #expect(follow.status == 200, "\(follow.text)")
                            #expect(follow.headers.first(name: "x-switchyard-deployment") == made)
                            let next =
                                follow.json?["id"]?.stringValue
                                ?? responsesEvents(follow).last?["response"]?.objectValue?["id"]?.stringValue
                            previous = try #require(next)
                        }
                        lastNative = previous
                        lastDeployment = made
                    }
                    // A native response is read and deleted where it is kept: at the deployment that made it, with
                    // that deployment's key; a deleted one is gone here too.
                    let keeper = lastDeployment == "first" ? first : second
                    let read = try await send(.GET, url + "/" + lastNative)
                    #expect(read.status == 200, "\(read.text)")
                    #expect(read.json?["id"] == .string(lastNative))
                    #expect(read.json?["status"] == "completed")
                    #expect(read.headers.first(name: "x-switchyard-deployment") == lastDeployment)
                    let asked = try #require(keeper.recorder.requests.last)
                    #expect(asked.path == "/v1/responses/" + lastNative)
                    #expect(asked.body == .object(["method": "GET"]))
                    #expect(asked.headers["authorization"] == "Bearer \(testKey)")
                    let deleted = try await send(.DELETE, proxy.url + "/responses/" + lastNative)
                    #expect(deleted.status == 200, "\(deleted.text)")
                    #expect(deleted.json?["deleted"] == true)
                    #expect(keeper.recorder.requests.last?.body == .object(["method": "DELETE"]))
                    #expect(try await send(.GET, url + "/" + lastNative).status == 404)
                    let again = try await send(
                        .POST, url, json: .object(["model": "both", "input": "x", "previous_response_id": .string(lastNative)]))
                    #expect(again.status == 404, "the upstream forgot it too: \(again.text)")
                }
            }
        }
    }
}

/// Which native Responses events the relay parses: those that end the stream or carry an error, not the deltas.
@Suite struct ResponsesEventScanTests {
    @Test(arguments: [
        (#"{"type":"response.completed","response":{}}"#, true),
        (#"{"type": "response.incomplete"}"#, true),
        (#"{"sequence_number":9,"type":"response.failed"}"#, true),
        (#"{"type":"error","code":"x","message":"y"}"#, true),
        (#"{"type":"response.output_text.delta","delta":"the response.com"}"#, false),
        (#"{"type":"response.created","response":{"error":null}}"#, true),
        (#"{"type":"response.output_item.added","item":{"type":"message"}}"#, false),
        (#"{"type":"response.in_progress"}"#, false),
        (#"response.faile"#, false),
    ])
    func onlyEndsAndErrorsAreParsed(_ event: String, _ parsed: Bool) {
        #expect(SSERelay.mayEndOrFail(Array(event.utf8)) == parsed, "\(event)")
        // As the Responses API frames it: an `event:` line, then the data; other shapes are not read in place.
        let framed = Array("event: x\ndata: \(event)\n\n".utf8)
        let data = framed.withUnsafeBufferPointer { SSERelay.namedEventData($0).map { Array($0) } }
        #expect(data == Array(event.utf8))
        for other in ["data: \(event)\n\n", "event: x\r\ndata: \(event)\n\n", "event: x\ndata: a\ndata: b\n\n"] {
            #expect(Array(other.utf8).withUnsafeBufferPointer { SSERelay.namedEventData($0) } == nil, "\(other)")
        }
    }

    /// Of the events `mayEndOrFail` cannot clear, those plainly neither ending the stream nor carrying a top-level
    /// error go on unparsed: `response.created` and `in_progress` hold `"error": null` inside the response.
    @Test(arguments: [
        (#"{"type":"response.created","response":{"id":"r","error":null,"status":"in_progress"}}"#, true),
        (#"{"type":"response.in_progress","sequence_number":1,"response":{"error":null}}"#, true),
        (#"{"type":"response.output_text.delta","error":null,"delta":"x"}"#, true),
        (#"{"type":"response.output_text.delta","error":{"message":"x"}}"#, false),
        (#"{"type":"response.output_text.delta","error":"x"}"#, false),
        (#"{"type":"response.completed","response":{"error":null}}"#, false),
        (#"{"type":"response.incomplete"}"#, false),
        (#"{"type":"response.failed","response":{}}"#, false),
        (#"{"type":"error","message":"x"}"#, false),
        (#"{"response":{"error":null}}"#, false),
        (#"{"type":"response.created","error":nul}"#, false),
        (#"{"ty\u0070e":"response.created"}"#, false),
        (#"{"type":"response.created"} x"#, false),
    ])
    func eventsThatPlainlyGoOnAreNotParsed(_ event: String, _ continues: Bool) {
        #expect(Array(event.utf8).withUnsafeBufferPointer(SSERelay.continuesResponses) == continues, "\(event)")
    }
}

/// The response store's memory: the newest `recentLimit` responses, whatever was kept or forgotten before.
@Suite struct ResponseStoreTests {
    static func response(_ number: Int) -> StoredResponse {
        StoredResponse(id: "resp_\(number)", createdAt: 0, keyHash: nil, alias: "a", input: "[]", response: "{}")
    }

    @Test func memoryKeepsTheNewestResponses() {
        let store = ResponseStore()
        let limit = ResponseStore.recentLimit
        for number in 0..<(limit / 2) { store.keep(Self.response(number), persist: false) }
        #expect(store.forget(id: "resp_10"))
        #expect(!store.forget(id: "resp_10"), "forgotten once")
        for number in (limit / 2)..<(2 * limit + limit / 2 + 3) { store.keep(Self.response(number), persist: false) }
        let newest = 2 * limit + limit / 2 + 2
        #expect(store.recent(id: "resp_\(newest)") != nil)
        #expect(store.recent(id: "resp_\(newest - limit + 1)") != nil, "the newest \(limit) are kept")
        #expect(store.recent(id: "resp_\(newest - limit)") == nil, "older ones are evicted")
        #expect(store.recent(id: "resp_0") == nil)
        #expect(store.forget(id: "resp_\(newest - 5)"))
        store.keep(Self.response(newest + 1), persist: true)
        #expect(store.recent(id: "resp_\(newest - limit + 1)") != nil, "a forgotten one leaves room for one more")
        #expect(store.takePending().map(\.id) == ["resp_\(newest + 1)"])
    }
}
