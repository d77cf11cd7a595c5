import Foundation
import Testing

@testable import SwitchyardCore
@testable import SwitchyardServer

/// `GET /metrics` and W3C trace context.
@Suite struct MetricsTests {
    /// Scrapes until `expected` is in the text (the request log records metrics off the request path).
    func scrape(_ url: String, until expected: [String], headers: [(String, String)] = []) async throws -> String {
        var text = ""
        for _ in 0..<200 {
            let result = try await send(.GET, url + "/metrics", headers: headers)
            text = result.text
            if expected.allSatisfy(text.contains) { return text }
            try await Task.sleep(for: .milliseconds(20))
        }
        return text
    }

    @Test func requestsTokensErrorsRetriesAndBreakersAreCounted() async throws {
        try await withMockUpstream { mock in
            let yaml = """
                model_list:
                  - model_name: m
                    litellm_params: {model: xai/grok-code-fast-1, api_base: "\(mock.baseURL)", api_key: \(testKey)}
                    model_info: {id: m-1, input_cost_per_token: 0.000001, output_cost_per_token: 0.000002}
                  - model_name: flaky
                    litellm_params: {model: xai/grok-4, api_base: "http://127.0.0.1:1/v1", api_key: \(testKey)}
                    model_info: {id: flaky-1}
                router_settings: {num_retries: 1, retry_after: 0.01, allowed_fails: 2, cooldown_time: 60, fallbacks: [{flaky: [m]}]}
                litellm_settings: {drop_params: true}
                """
            try await withProxy(yaml: yaml, logLevel: .warning) { proxy in
                let plain = try await send(
                    .POST, proxy.url + "/v1/chat/completions", json: chat("m", "hi", extra: ["presence_penalty": 0.5]))
                #expect(plain.status == 200)
                let stream = try await send(.POST, proxy.url + "/v1/chat/completions", json: chat("m", "hi", stream: true))
                #expect(stream.status == 200)
                let unknown = try await send(.POST, proxy.url + "/v1/chat/completions", json: chat("secret-alias-x", "hi"))
                #expect(unknown.status == 404)
                let failing = try await send(.POST, proxy.url + "/v1/chat/completions", json: chat("flaky", "hi"))
                #expect(failing.status == 200, "falls back to m: \(failing.text)")
                let text = try await scrape(
                    proxy.url,
                    until: [
                        #"switchyard_requests_total{alias="m",deployment="m-1",status="200"} 2"#,
                        #"switchyard_requests_total{alias="flaky",deployment="m-1",status="200"} 1"#,
                        #"switchyard_requests_total{alias="unknown",deployment="none",status="404"} 1"#,
                    ])
                #expect(text.contains(#"switchyard_requests_total{alias="m",deployment="m-1",status="200"} 2"#), "\(text)")
                #expect(text.contains(#"switchyard_requests_total{alias="flaky",deployment="m-1",status="200"} 1"#))
                #expect(text.contains(#"switchyard_requests_total{alias="unknown",deployment="none",status="404"} 1"#))
                #expect(!text.contains("secret-alias-x"), "label values are bounded")
                #expect(text.contains(#"switchyard_tokens_total{alias="m",kind="prompt"}"#))
                #expect(text.contains(#"switchyard_tokens_total{alias="m",kind="reasoning"}"#))
                #expect(text.contains(#"switchyard_spend_usd_total{alias="m"}"#))
                #expect(text.contains(#"switchyard_request_duration_seconds_bucket{alias="m",stream="false",le="0.005"}"#))
                #expect(text.contains(#"switchyard_time_to_first_token_seconds_count{alias="m"} 1"#))
                #expect(text.contains(#"switchyard_dropped_params_total{deployment="m-1",param="presence_penalty"} 1"#))
                #expect(text.contains(#"switchyard_retries_total{alias="flaky"} 1"#))
                #expect(text.contains(#"switchyard_fallbacks_total{alias="flaky"} 1"#))
                #expect(text.contains(#"switchyard_deployment_state{deployment="flaky-1",state="cooldown"} 1"#))
                #expect(text.contains(#"switchyard_deployment_state{deployment="m-1",state="closed"} 1"#))
                #expect(text.contains("switchyard_requests_in_flight 0"))
                #expect(!text.contains(testKey) && !text.contains("chatcmpl-"), "no keys, no request or response ids")
            }
        }
    }

    @Test func metricsCanRequireTheMasterKey() async throws {
        let yaml = """
            model_list:
              - model_name: e
                litellm_params: {model: mock/echo}
            general_settings: {master_key: sk-test-master-123456}
            litellm_settings: {require_auth_for_metrics_endpoint: true}
            """
        try await withProxy(yaml: yaml, logLevel: .warning) { proxy in
            let denied = try await send(.GET, proxy.url + "/metrics")
            #expect(denied.status == 401)
            let allowed = try await send(
                .GET, proxy.url + "/metrics", headers: [("authorization", "Bearer sk-test-master-123456")])
            #expect(allowed.status == 200)
            #expect(allowed.headers.first(name: "content-type")?.hasPrefix("text/plain; version=0.0.4") == true)
            #expect(allowed.text.contains("switchyard_models_enabled 1"))
        }
        try await withProxy(yaml: "model_list:\n  - model_name: e\n    litellm_params: {model: mock/echo}\n") { proxy in
            let open = try await send(.GET, proxy.url + "/metrics")
            #expect(open.status == 200, "open by default, as LiteLLM's")
        }
    }

    @Test func traceparentIsContinuedUpstreamAndLogged() async throws {
        try await withMockUpstream { mock in
            let yaml = """
                model_list:
                  - model_name: g
                    litellm_params: {model: xai/grok-4, api_base: "\(mock.baseURL)", api_key: \(testKey)}
                """
            try await withProxy(yaml: yaml, logLevel: .info) { proxy in
                let traceID = "4bf92f3577b34da6a3ce929d0e0e4736"
                let incoming = "00-\(traceID)-00f067aa0ba902b7-01"
                let result = try await send(
                    .POST, proxy.url + "/v1/chat/completions", json: chat("g", "hi"), headers: [("traceparent", incoming)])
                #expect(result.status == 200)
                let sent = try #require(mock.recorder.requests.last?.headers["traceparent"])
                let continued = try #require(TraceParent(header: sent))
                #expect(continued.traceID == traceID)
                #expect(continued.flags == "01")
                #expect(continued.parentID != "00f067aa0ba902b7", "the proxy's hop is its own span")
                let bad = try await send(
                    .POST, proxy.url + "/v1/chat/completions", json: chat("g", "hi"), headers: [("traceparent", "garbage")])
                #expect(bad.status == 200)
                #expect(mock.recorder.requests.last?.headers["traceparent"] == nil, "an invalid traceparent is not passed on")
                for _ in 0..<100 where !proxy.logs.lines.contains(where: { $0.contains(traceID) }) {
                    try await Task.sleep(for: .milliseconds(20))
                }
                #expect(proxy.logs.lines.contains { $0.contains("\"trace_id\":\"\(traceID)\"") })
            }
        }
    }
}

@Suite struct TraceParentTests {
    @Test func parsesOnlyValidHeaders() {
        #expect(TraceParent(header: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01") != nil)
        #expect(TraceParent(header: "00-00000000000000000000000000000000-00f067aa0ba902b7-01") == nil)
        #expect(TraceParent(header: "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01") == nil)
        #expect(TraceParent(header: "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01") == nil)
        #expect(TraceParent(header: "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01") == nil)
        #expect(TraceParent(header: "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra") != nil)
        #expect(TraceParent(header: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra") == nil)
        let continued = TraceParent(header: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")?.continued()
        #expect(continued?.header.count == 55)
        #expect(continued.map { TraceParent(header: $0.header) != nil } == true)
    }
}
