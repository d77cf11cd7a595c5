import AsyncHTTPClient
import Foundation
import Testing

@testable import SwitchyardCore
@testable import SwitchyardServer

@Suite struct ChatCompletionTests {
    @Test func promptsSmallAndLargeReachTheUpstreamWhole() async throws {
        try await withMockUpstream { mock in
            try await withProxy(yaml: xaiConfig(mock: mock), environment: ["GROK_API_KEY": testKey]) { proxy in
                // Up to 16 KiB the body is written in one buffer behind the head; above, after it: both whole.
                for size in [10, 16 * 1024 - 200, 16 * 1024, 300_000] {
                    let prompt = String(repeating: "abcdefghij", count: size / 10)
                    let result = try await send(.POST, proxy.url + "/v1/chat/completions", json: chat("grok-code-fast-1", prompt))
                    #expect(result.status == 200, "\(size): \(result.text.prefix(200))")
                    let seen = try #require(mock.recorder.requests.last?.body?.objectValue)
                    let content = seen["messages"]?.arrayValue?.last?.objectValue?["content"]?.stringValue
                    #expect(content == prompt, "\(size): the prompt arrived with \(content?.utf8.count ?? -1) bytes")
                }
            }
        }
    }

    /// A body with 100,000 members in one object is parsed in linear time and relayed whole, and a repeated key
    /// is read as its last value (as most JSON parsers do) both by the proxy and by what it sends on.
    @Test func aBodyWithManyKeysAndARepeatedOneIsRelayedWhole() async throws {
        try await withMockUpstream { mock in
            try await withProxy(yaml: xaiConfig(mock: mock), environment: ["GROK_API_KEY": testKey]) { proxy in
                let keys = (0..<100_000).map { "\"k\($0)\":\($0)" }.joined(separator: ",")
                let raw =
                    #"{"model":"no-such-alias","messages":[{"role":"user","content":"hi"}],"metadata":{"#
                    + keys + #"},"model":"grok-code-fast-1"}"#
                let result = try await send(.POST, proxy.url + "/v1/chat/completions", raw: raw, timeout: .seconds(120))
                #expect(result.status == 200, "\(result.text.prefix(300))")
                let seen = try #require(mock.recorder.requests.last?.body?.objectValue)
                #expect(seen["model"] == "grok-code-fast-1")
                let metadata = try #require(seen["metadata"]?.objectValue)
                #expect(metadata.members.count == 100_000)
                #expect(metadata["k99999"] == .int(99_999))
                #expect(seen.keys == ["model", "messages", "metadata"])
            }
        }
    }

    @Test func jsonChatIsProxiedWithTheDeploymentKeyAndLogged() async throws {
        try await withMockUpstream { mock in
            try await withProxy(yaml: xaiConfig(mock: mock), environment: ["GROK_API_KEY": testKey]) { proxy in
                let result = try await send(
                    .POST, proxy.url + "/v1/chat/completions", json: chat("grok-code-fast-1", "hello"),
                    headers: [("authorization", "Bearer client-key-should-not-pass"), ("x-request-id", "req-123")])
                #expect(result.status == 200, "\(result.text)")
                #expect(result.json?["object"] == "chat.completion")
                let message = result.json?["choices"]?.arrayValue?.first?.objectValue?["message"]?.objectValue
                #expect(message?["content"] == "You said: hello")
                #expect(result.headers.first(name: "x-request-id") == "req-123")
                #expect(result.headers.first(name: "x-ratelimit-limit-requests") == "480")
                #expect(result.headers.first(name: "x-switchyard-attempted-retries") == "0")
                #expect(result.headers.first(name: "x-switchyard-attempted-fallbacks") == "0")
                #expect(result.headers.first(name: "x-switchyard-deployment") != nil)
                let seen = try #require(mock.recorder.requests.last)
                #expect(seen.headers["authorization"] == "Bearer \(testKey)")
                #expect(seen.headers["x-request-id"] == "req-123")
                #expect(seen.body?.objectValue?["model"] == "grok-code-fast-1")
                try await waitFor { proxy.logs.lines.contains { $0.contains("\"request_id\":\"req-123\"") } }
                let line = try #require(proxy.logs.lines.first { $0.contains("\"request_id\":\"req-123\"") })
                for field in [
                    "\"alias\":\"grok-code-fast-1\"", "\"status\":200", "\"reasoning_tokens\":", "\"cost_usd\":", "ttfb_ms",
                ] {
                    #expect(line.contains(field), "\(field) missing from \(line)")
                }
            }
        }
    }

    @Test func droppedParametersNeverReachTheUpstream() async throws {
        try await withMockUpstream { mock in
            try await withProxy(yaml: xaiConfig(mock: mock), environment: ["GROK_API_KEY": testKey]) { proxy in
                var messages: [JSONValue] = [.object(["role": "system", "name": "s", "content": "be brief"])]
                messages.append(.object(["role": "user", "content": "hi"]))
                let body: JSONValue = .object([
                    "model": "grok-code-fast-1", "messages": .array(messages), "presence_penalty": 0.5,
                    "frequency_penalty": 0.5, "stop": ["x"], "reasoning_effort": "high", "logit_bias": .object([:]),
                    "max_tokens": 20, "stream_options": .object(["include_usage": true]),
                ])
                let result = try await send(.POST, proxy.url + "/v1/chat/completions", json: body)
                #expect(result.status == 200, "\(result.text)")
                let seen = try #require(mock.recorder.requests.last?.body?.objectValue)
                for dropped in [
                    "presence_penalty", "frequency_penalty", "stop", "reasoning_effort", "logit_bias", "max_tokens",
                    "stream_options",
                ] {
                    #expect(seen[dropped] == nil, "\(dropped) reached the upstream")
                }
                #expect(seen["max_completion_tokens"] == 20)
                #expect(seen["messages"]?.arrayValue?.first?.objectValue?["name"] == nil)
            }
        }
    }

    @Test func withoutDropParamsTheProxyAnswers400NamingTheParameter() async throws {
        try await withMockUpstream { mock in
            let yaml = xaiConfig(mock: mock, settings: "litellm_settings:\n  drop_params: false\n")
            try await withProxy(yaml: yaml, environment: ["GROK_API_KEY": testKey]) { proxy in
                let result = try await send(
                    .POST, proxy.url + "/v1/chat/completions",
                    json: chat("grok-4", "hi", extra: ["presence_penalty": 1]))
                #expect(result.status == 400)
                #expect(result.error?["param"] == "presence_penalty")
                #expect(result.errorCode == "unsupported_parameter")
                #expect(result.errorMessage.contains("drop_params"))
                #expect(mock.recorder.requests.isEmpty, "a rejected request must not reach the upstream")
            }
        }
    }

    @Test func perModelDropParamsOverridesTheGlobalSetting() async throws {
        try await withMockUpstream { mock in
            let yaml = """
                model_list:
                  - model_name: strict-grok
                    litellm_params: {model: xai/grok-4, api_base: "\(mock.baseURL)", drop_params: false}
                  - model_name: lenient-grok
                    litellm_params: {model: xai/grok-4, api_base: "\(mock.baseURL)"}
                litellm_settings: {drop_params: true}
                """
            try await withProxy(yaml: yaml, environment: ["GROK_API_KEY": testKey]) { proxy in
                let extra: JSONObject = ["presence_penalty": 1]
                let strict = try await send(
                    .POST, proxy.url + "/v1/chat/completions", json: chat("strict-grok", "x", extra: extra))
                let lenient = try await send(
                    .POST, proxy.url + "/v1/chat/completions", json: chat("lenient-grok", "x", extra: extra))
                #expect(strict.status == 400)
                #expect(lenient.status == 200)
            }
        }
    }

    @Test func unknownAliasIs404ModelNotFound() async throws {
        try await withProxy(yaml: "model_list:\n  - model_name: m\n    litellm_params: {model: mock/echo}\n") { proxy in
            let result = try await send(.POST, proxy.url + "/v1/chat/completions", json: chat("nope", "hi"))
            #expect(result.status == 404)
            #expect(result.errorCode == "model_not_found")
            #expect(result.errorMessage.contains("/v1/models"))
        }
    }

    @Test func disabledAliasIs503NamingWhatToSet() async throws {
        let yaml = "model_list:\n  - model_name: grok\n    litellm_params: {model: xai/grok-4}\n"
        try await withProxy(yaml: yaml) { proxy in
            let result = try await send(.POST, proxy.url + "/v1/chat/completions", json: chat("grok", "hi"))
            #expect(result.status == 503)
            #expect(result.errorCode == "model_disabled")
            #expect(result.errorMessage.contains("GROK_API_KEY"))
            let models = try await send(.GET, proxy.url + "/v1/models")
            #expect(models.json?["data"]?.arrayValue?.isEmpty == true)
        }
    }

    @Test func builtInMockEchoesInProcess() async throws {
        try await withProxy(yaml: "model_list:\n  - model_name: m\n    litellm_params: {model: mock/echo}\n") { proxy in
            let result = try await send(.POST, proxy.url + "/chat/completions", json: chat("m", "ping pong"))
            #expect(result.status == 200)
            #expect(result.json?["choices"]?.arrayValue?.first?.objectValue?["message"]?.objectValue?["content"] == "ping pong")
            let streamed = try await send(.POST, proxy.url + "/v1/chat/completions", json: chat("m", "ping pong", stream: true))
            let text = streamed.chunks.compactMap {
                $0["choices"]?.arrayValue?.first?.objectValue?["delta"]?.objectValue?["content"]?.stringValue
            }.joined()
            #expect(text == "ping pong")
            #expect(streamed.events.last?.isDone == true)
        }
    }

    @Test func completionsAndEmbeddingsAreForwarded() async throws {
        try await withMockUpstream { mock in
            let yaml = xaiConfig(
                mock: mock,
                extraModels: "  - model_name: embed\n    litellm_params: {model: xai/grok-embed, api_base: \"\(mock.baseURL)\"}\n"
            )
            try await withProxy(yaml: yaml, environment: ["GROK_API_KEY": testKey]) { proxy in
                let completion = try await send(
                    .POST, proxy.url + "/v1/completions", json: .object(["model": "grok-3-mini", "prompt": "say hi"]))
                #expect(completion.status == 200, "\(completion.text)")
                #expect(completion.json?["object"] == "text_completion")
                let embedding = try await send(
                    .POST, proxy.url + "/v1/embeddings", json: .object(["model": "embed", "input": ["a", "b"]]))
                #expect(embedding.status == 200, "\(embedding.text)")
                #expect(embedding.json?["data"]?.arrayValue?.count == 2)
                #expect(mock.recorder.requests.map(\.path) == ["/v1/completions", "/v1/embeddings"])
            }
        }
    }

    @Test func modelsListsEnabledAliasesOnly() async throws {
        let yaml = """
            model_list:
              - model_name: on
                litellm_params: {model: mock/echo}
              - model_name: off
                litellm_params: {model: xai/grok-4}
            """
        try await withProxy(yaml: yaml) { proxy in
            let list = try await send(.GET, proxy.url + "/v1/models")
            #expect(list.json?["object"] == "list")
            #expect(list.json?["data"]?.arrayValue?.compactMap { $0.objectValue?["id"]?.stringValue } == ["on"])
            #expect(try await send(.GET, proxy.url + "/v1/models/on").json?["id"] == "on")
            #expect(try await send(.GET, proxy.url + "/v1/models/off").status == 503)
            #expect(try await send(.GET, proxy.url + "/v1/models/never").status == 404)
        }
    }
}

/// Polls `condition` (the request log is written off the response path) for up to five seconds.
func waitFor(_ condition: @Sendable () -> Bool) async throws {
    for _ in 0..<500 {
        if condition() { return }
        try await Task.sleep(for: .milliseconds(10))
    }
    Issue.record("condition not met within 5 s")
}
