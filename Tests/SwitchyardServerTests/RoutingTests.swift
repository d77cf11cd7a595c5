import Foundation
import Testing

@testable import SwitchyardCore
@testable import SwitchyardServer

@Suite struct RoutingTests {
    func pair(_ mock: MockHandle, router: String, liveWeight: String = "0") -> String {
        """
        model_list:
          - model_name: pair
            litellm_params: {model: xai/grok-4, api_base: "http://127.0.0.1:1/v1", api_key: \(testKey), weight: 1000}
            model_info: {id: dead}
          - model_name: pair
            litellm_params: {model: xai/grok-4, api_base: "\(mock.baseURL)", api_key: \(testKey), weight: \(liveWeight)}
            model_info: {id: live}
        router_settings: {\(router)}
        """
    }

    @Test func connectionErrorIsRetriedOnAnotherDeployment() async throws {
        try await withMockUpstream { mock in
            try await withProxy(yaml: pair(mock, router: "num_retries: 1, retry_after: 0.01")) { proxy in
                for stream in [false, true] {
                    let result = try await send(
                        .POST, proxy.url + "/v1/chat/completions", json: chat("pair", "hi", stream: stream))
                    #expect(result.status == 200, "\(result.text)")
                    #expect(result.headers.first(name: "x-switchyard-deployment") == "live")
                    #expect(result.headers.first(name: "x-switchyard-attempted-retries") == "1")
                }
                #expect(mock.recorder.requests.count == 2)
            }
        }
    }

    @Test func withoutRetriesTheFirstFailureIsTheAnswer() async throws {
        try await withMockUpstream { mock in
            try await withProxy(yaml: pair(mock, router: "num_retries: 0")) { proxy in
                let result = try await send(.POST, proxy.url + "/v1/chat/completions", json: chat("pair", "hi"))
                #expect(result.status == 502)
                #expect(mock.recorder.requests.isEmpty)
            }
        }
    }

    @Test func clientErrorsAreNeverRetried() async throws {
        try await withMockUpstream { mock in
            let yaml = """
                model_list:
                  - model_name: raw
                    litellm_params: {model: openai/grok-code-fast-1, api_base: "\(mock.baseURL)", api_key: \(testKey)}
                router_settings: {num_retries: 3, retry_after: 0.01}
                """
            try await withProxy(yaml: yaml) { proxy in
                let result = try await send(
                    .POST, proxy.url + "/v1/chat/completions", json: chat("raw", "hi", extra: ["presence_penalty": 1]))
                #expect(result.status == 400)
                #expect(mock.recorder.requests.count == 1)
            }
        }
    }

    @Test func serverErrorsAreRetriedUntilTheLimitThenAnswered() async throws {
        try await withMockUpstream { mock in
            let yaml = xaiConfig(mock: mock, settings: "router_settings: {num_retries: 2, retry_after: 0.01}\n")
            try await withProxy(yaml: yaml, environment: ["GROK_API_KEY": testKey]) { proxy in
                let result = try await send(.POST, proxy.url + "/v1/chat/completions", json: chat("grok-4", "FAULT:500"))
                #expect(result.status == 502)
                #expect(mock.recorder.requests.count == 3)
            }
        }
    }

    @Test func perModelNumRetriesOverridesTheRouter() async throws {
        try await withMockUpstream { mock in
            let yaml = """
                model_list:
                  - model_name: g
                    litellm_params: {model: xai/grok-4, api_base: "\(mock.baseURL)", api_key: \(testKey), num_retries: 1}
                router_settings: {num_retries: 5, retry_after: 0.01}
                """
            try await withProxy(yaml: yaml) { proxy in
                _ = try await send(.POST, proxy.url + "/v1/chat/completions", json: chat("g", "FAULT:503"))
                #expect(mock.recorder.requests.count == 2)
            }
        }
    }

    @Test func aStreamIsNotRetriedAfterItsFirstByte() async throws {
        try await withMockUpstream { mock in
            let yaml = xaiConfig(mock: mock, settings: "router_settings: {num_retries: 2, retry_after: 0.01}\n")
            try await withProxy(yaml: yaml, environment: ["GROK_API_KEY": testKey]) { proxy in
                let result = try await send(
                    .POST, proxy.url + "/v1/chat/completions", json: chat("grok-4", "FAULT:abrupt", stream: true))
                #expect(result.status == 200)
                #expect(result.chunks.last?["error"] != nil)
                #expect(mock.recorder.requests.count == 1)
            }
        }
    }

    @Test func simpleShuffleFollowsWeights() async throws {
        let yaml = """
            model_list:
              - model_name: m
                litellm_params: {model: mock/echo, weight: 3}
                model_info: {id: heavy}
              - model_name: m
                litellm_params: {model: mock/echo, weight: 1}
                model_info: {id: light}
            """
        try await withProxy(yaml: yaml, logLevel: .warning) { proxy in
            var counts: [String: Int] = [:]
            for _ in 0..<400 {
                let result = try await send(.POST, proxy.url + "/v1/chat/completions", json: chat("m", "x"))
                counts[result.headers.first(name: "x-switchyard-deployment") ?? "?", default: 0] += 1
            }
            let heavy = Double(counts["heavy", default: 0])
            let light = Double(max(counts["light", default: 0], 1))
            #expect(heavy / light > 2.0 && heavy / light < 4.5, "\(counts)")
        }
    }

    @Test func leastBusySpreadsConcurrentRequests() async throws {
        var options = MockUpstreamOptions()
        options.firstByteLatency = .seconds(1)
        try await withMockUpstream(options) { mock in
            let yaml = """
                model_list:
                  - model_name: m
                    litellm_params: {model: xai/grok-4, api_base: "\(mock.baseURL)", api_key: \(testKey)}
                    model_info: {id: one}
                  - model_name: m
                    litellm_params: {model: xai/grok-4, api_base: "\(mock.baseURL)", api_key: \(testKey)}
                    model_info: {id: two}
                router_settings: {routing_strategy: least-busy}
                """
            try await withProxy(yaml: yaml, logLevel: .warning) { proxy in
                let deployments = try await withThrowingTaskGroup(of: String.self) { group in
                    for _ in 0..<10 {
                        group.addTask {
                            try await send(.POST, proxy.url + "/v1/chat/completions", json: chat("m", "x"))
                                .headers.first(name: "x-switchyard-deployment") ?? "?"
                        }
                    }
                    return try await group.reduce(into: [String]()) { $0.append($1) }
                }
                #expect(deployments.filter { $0 == "one" }.count >= 3, "\(deployments)")
                #expect(deployments.filter { $0 == "two" }.count >= 3, "\(deployments)")
            }
        }
    }
}
