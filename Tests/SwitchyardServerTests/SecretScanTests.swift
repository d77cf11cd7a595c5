import Foundation
import Testing

@testable import SwitchyardCore
@testable import SwitchyardServer

/// Drives every failure path with known fake keys and checks that none appears in a response or a log line.
@Suite struct SecretScanTests {
    let upstreamKey = "xai-scan-upstream-key-5555aaaa"
    let otherKey = "sk-scan-openai-key-7777bbbb"
    let masterKey = "sk-scan-master-key-9999cccc"

    @Test func noKeyEverAppearsInResponsesOrLogs() async throws {
        try await withMockUpstream { mock in
            let yaml = """
                model_list:
                  - model_name: grok
                    litellm_params: {model: xai/grok-4, api_base: "\(mock.baseURL)", api_key: \(upstreamKey)}
                  - model_name: other
                    litellm_params: {model: openai/grok-3, api_base: "\(mock.baseURL)?key=\(otherKey)", api_key: \(otherKey)}
                  - model_name: slow
                    litellm_params: {model: xai/grok-4, api_base: "\(mock.baseURL)", api_key: \(upstreamKey), first_byte_timeout: 0.2}
                  - model_name: dead
                    litellm_params: {model: xai/grok-4, api_base: "http://127.0.0.1:1/v1", api_key: \(upstreamKey)}
                  - model_name: off
                    litellm_params: {model: xai/grok-4, api_key: os.environ/NOT_SET}
                litellm_settings: {drop_params: false}
                general_settings: {master_key: \(masterKey)}
                """
            try await withProxy(yaml: yaml, logLevel: .trace) { proxy in
                let auth = [("authorization", "Bearer \(masterKey)")]
                var responses: [HTTPResult] = []
                let prompts = [
                    "FAULT:echo-key", "FAULT:non-json", "FAULT:500", "FAULT:429", "FAULT:html", "FAULT:error-event",
                    "FAULT:abrupt", "ok",
                ]
                for alias in ["grok", "other"] {
                    for prompt in prompts {
                        for stream in [false, true] {
                            responses.append(
                                try await send(
                                    .POST, proxy.url + "/v1/chat/completions", json: chat(alias, prompt, stream: stream),
                                    headers: auth))
                        }
                    }
                }
                // The other surfaces: Responses (native to the xai/ deployment, translated for the openai/ one) and
                // Anthropic Messages (translated), streamed and not.
                for alias in ["grok", "other"] {
                    for prompt in prompts {
                        for stream in [false, true] {
                            responses.append(
                                try await send(
                                    .POST, proxy.url + "/v1/responses",
                                    json: .object(["model": .string(alias), "input": .string(prompt), "stream": .bool(stream)]),
                                    headers: auth))
                            responses.append(
                                try await send(
                                    .POST, proxy.url + "/v1/messages",
                                    json: .object([
                                        "model": .string(alias), "max_tokens": 50, "stream": .bool(stream),
                                        "messages": .array([.object(["role": "user", "content": .string(prompt)])]),
                                    ]), headers: [("x-api-key", masterKey)]))
                        }
                    }
                }
                responses.append(
                    try await send(.POST, proxy.url + "/v1/chat/completions", json: chat("slow", "FAULT:slow"), headers: auth))
                responses.append(
                    try await send(.POST, proxy.url + "/v1/chat/completions", json: chat("dead", "x"), headers: auth))
                responses.append(try await send(.POST, proxy.url + "/v1/chat/completions", json: chat("off", "x"), headers: auth))
                responses.append(
                    try await send(
                        .POST, proxy.url + "/v1/chat/completions", json: chat("grok", "x", extra: ["stop": "y"]), headers: auth))
                responses.append(
                    try await send(
                        .POST, proxy.url + "/v1/chat/completions", json: chat("grok", "x"),
                        headers: [("authorization", "Bearer \(upstreamKey)")]))
                responses.append(
                    try await send(.POST, proxy.url + "/v1/chat/completions", raw: "{\"key\": \"\(upstreamKey)\"", headers: auth))
                responses.append(try await send(.GET, proxy.url + "/health?probe=true", headers: auth))
                #expect(responses.contains { $0.status >= 400 })
                #expect(responses.contains { $0.text.contains(Redactor.mask) }, "the echo-key fault must have been masked")
                // Every completion request writes one request-log line; wait for all of them (the health probe writes none).
                let expected = responses.count - 1
                try await waitFor { proxy.logs.lines.filter { $0.contains("\"msg\":\"request\"") }.count >= expected }
                let logs = proxy.logs.lines.joined(separator: "\n")
                #expect(logs.contains("request"), "logs were captured")
                for secret in [upstreamKey, otherKey, masterKey] {
                    for response in responses {
                        #expect(!response.text.contains(secret), "\(secret) in a response: \(response.text.prefix(300))")
                        #expect(!response.headers.description.contains(secret))
                    }
                    #expect(!logs.contains(secret), "\(secret) in the logs")
                }
            }
        }
    }
}
