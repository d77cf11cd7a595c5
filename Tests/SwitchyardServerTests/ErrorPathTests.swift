import AsyncHTTPClient
import Foundation
import NIOCore
import Testing

@testable import SwitchyardCore
@testable import SwitchyardServer

@Suite struct ErrorPathTests {
    @Test(arguments: [
        ("FAULT:500", 502, "api_error"), ("FAULT:503", 503, "api_error"), ("FAULT:429", 429, "rate_limit_error"),
        ("FAULT:html", 502, "api_error"), ("FAULT:non-json", 502, "api_error"),
    ])
    func upstreamFailuresBecomeOpenAIErrors(_ prompt: String, _ status: Int, _ type: String) async throws {
        try await withMockUpstream { mock in
            try await withProxy(yaml: xaiConfig(mock: mock), environment: ["GROK_API_KEY": testKey]) { proxy in
                let result = try await send(.POST, proxy.url + "/v1/chat/completions", json: chat("grok-4", prompt))
                #expect(result.status == status)
                #expect(result.error?["type"]?.stringValue == type)
                #expect(result.errorCode?.isEmpty == false)
                #expect(result.error.map { Set($0.keys) } == ["message", "type", "param", "code"])
                #expect(!result.text.contains(testKey))
                #expect(!result.text.contains("<body>"))
            }
        }
    }

    @Test func upstreamRejectionOfAParameterIsPassedOnAs400() async throws {
        try await withMockUpstream { mock in
            // additional table rows off: call the mock through an openai-compatible entry, which has no xAI rules.
            let yaml =
                "model_list:\n  - model_name: raw\n    litellm_params: {model: openai/grok-code-fast-1, api_base: \"\(mock.baseURL)\", api_key: \(testKey)}\n"
            try await withProxy(yaml: yaml) { proxy in
                let result = try await send(
                    .POST, proxy.url + "/v1/chat/completions", json: chat("raw", "hi", extra: ["presence_penalty": 1]))
                #expect(result.status == 400)
                #expect(result.errorMessage.contains("presencePenalty"))
            }
        }
    }

    @Test func unreachableUpstreamIs502() async throws {
        let yaml =
            "model_list:\n  - model_name: dead\n    litellm_params: {model: xai/grok-4, api_base: \"http://127.0.0.1:1/v1\", api_key: k}\n"
        try await withProxy(yaml: yaml) { proxy in
            let result = try await send(.POST, proxy.url + "/v1/chat/completions", json: chat("dead", "hi"))
            #expect(result.status == 502)
            #expect(result.errorCode == "upstream_unreachable")
        }
    }

    /// A JSON answer is read whole on the event loop; its body is still bound by the total and idle timeouts, and
    /// one that arrives slowly but within them is relayed whole.
    @Test(arguments: [
        ("timeout: 1", 504, "total"), ("idle_timeout: 0.1", 504, "idle"), ("timeout: 30", 200, ""),
    ])
    func aSlowJSONBodyIsBoundByTheTotalAndIdleTimeouts(_ setting: String, _ status: Int, _ which: String) async throws {
        try await withMockUpstream { mock in
            let yaml = """
                model_list:
                  - model_name: drip
                    litellm_params: {model: xai/grok-4, api_base: "\(mock.baseURL)", \(setting), num_retries: 0}
                """
            try await withProxy(yaml: yaml, environment: ["GROK_API_KEY": testKey]) { proxy in
                let result = try await send(.POST, proxy.url + "/v1/chat/completions", json: chat("drip", "FAULT:drip"))
                #expect(result.status == status, "\(result.text)")
                if status == 200 {
                    #expect(result.json?["usage"]?.objectValue?["total_tokens"]?.intValue ?? 0 > 0)
                    #expect(result.json?["choices"]?.arrayValue?.count == 1)
                } else {
                    #expect(result.errorCode == "upstream_timeout")
                    #expect(result.error?["message"]?.stringValue?.contains(which) == true, "\(result.text)")
                }
            }
        }
    }

    @Test func firstByteTimeoutIs504() async throws {
        try await withMockUpstream { mock in
            let yaml =
                "model_list:\n  - model_name: slow\n    litellm_params: {model: xai/grok-4, api_base: \"\(mock.baseURL)\", first_byte_timeout: 0.3}\n"
            try await withProxy(yaml: yaml, environment: ["GROK_API_KEY": testKey]) { proxy in
                let result = try await send(.POST, proxy.url + "/v1/chat/completions", json: chat("slow", "FAULT:slow"))
                #expect(result.status == 504)
                #expect(result.errorCode == "upstream_timeout")
                #expect(result.error?["type"] == "timeout_error")
            }
        }
    }

    @Test(arguments: [
        ("{bad json", 400, "invalid_json"), ("[1,2]", 400, "invalid_json"), (#"{"messages":[]}"#, 400, "invalid_request"),
        (#"{"model":"m"}"#, 400, "invalid_request"), (#"{"model":"m","messages":[{"content":"x"}]}"#, 400, "invalid_request"),
        (#"{"model":"m","messages":"hi"}"#, 400, "invalid_request"),
        (#"{"model":7,"messages":[{"role":"user"}]}"#, 400, "invalid_request"),
        (#"{"model":"m","stream":"yes","messages":[{"role":"user","content":"x"}]}"#, 400, "invalid_request"),
    ])
    func malformedRequestsGetClear4xx(_ body: String, _ status: Int, _ code: String) async throws {
        try await withProxy(yaml: "model_list:\n  - model_name: m\n    litellm_params: {model: mock/echo}\n") { proxy in
            let result = try await send(.POST, proxy.url + "/v1/chat/completions", raw: body)
            #expect(result.status == status)
            #expect(result.errorCode == code)
            let after = try await send(.POST, proxy.url + "/v1/chat/completions", json: chat("m", "still serving"))
            #expect(after.status == 200)
        }
    }

    @Test func oversizedBodyIs413() async throws {
        let yaml =
            "model_list:\n  - model_name: m\n    litellm_params: {model: mock/echo}\ngeneral_settings: {max_request_body_bytes: 1024}\n"
        try await withProxy(yaml: yaml) { proxy in
            let result = try await send(
                .POST, proxy.url + "/v1/chat/completions", json: chat("m", String(repeating: "x", count: 4096)))
            #expect(result.status == 413)
            #expect(result.errorCode == "request_too_large")
        }
    }

    @Test func masterKeyIsRequiredWhenSet() async throws {
        let yaml =
            "model_list:\n  - model_name: m\n    litellm_params: {model: mock/echo}\ngeneral_settings: {master_key: sk-master-123456}\n"
        try await withProxy(yaml: yaml) { proxy in
            let none = try await send(.POST, proxy.url + "/v1/chat/completions", json: chat("m", "x"))
            #expect(none.status == 401)
            #expect(none.error?["type"] == "authentication_error")
            let wrong = try await send(
                .POST, proxy.url + "/v1/chat/completions", json: chat("m", "x"), headers: [("authorization", "Bearer sk-wrong")])
            #expect(wrong.status == 401)
            let bearer = try await send(
                .POST, proxy.url + "/v1/chat/completions", json: chat("m", "x"),
                headers: [("authorization", "Bearer sk-master-123456")])
            #expect(bearer.status == 200)
            let apiKey = try await send(
                .POST, proxy.url + "/v1/chat/completions", json: chat("m", "x"), headers: [("x-api-key", "sk-master-123456")])
            #expect(apiKey.status == 200)
            #expect(try await send(.GET, proxy.url + "/v1/models").status == 401)
            #expect(try await send(.GET, proxy.url + "/health/liveliness").status == 200, "probes need no key")
        }
    }

    @Test func healthEndpointsReportConfiguration() async throws {
        try await withMockUpstream { mock in
            let yaml = xaiConfig(
                mock: mock,
                extraModels: "  - model_name: off\n    litellm_params: {model: xai/grok-4, api_key: os.environ/UNSET_KEY}\n")
            try await withProxy(yaml: yaml, environment: ["GROK_API_KEY": testKey]) { proxy in
                for path in ["/health/liveliness", "/health/liveness"] {
                    #expect(try await send(.GET, proxy.url + path).status == 200)
                }
                let ready = try await send(.GET, proxy.url + "/health/readiness")
                #expect(ready.json?["status"] == "ready")
                #expect(ready.json?["models"]?.objectValue?["enabled"] == 4)
                #expect(ready.json?["models"]?.objectValue?["disabled"] == 1)
                let health = try await send(.GET, proxy.url + "/health")
                #expect(health.json?["models"]?.objectValue?["off"]?.objectValue?["status"] == "unhealthy")
                #expect(mock.recorder.requests.isEmpty, "no upstream calls without probe=true")
                let probed = try await send(.GET, proxy.url + "/health?probe=true")
                #expect(probed.json?["healthy_count"] == 4)
                #expect(mock.recorder.requests.count == 3)
            }
        }
    }
}
