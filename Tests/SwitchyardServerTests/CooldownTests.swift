import Foundation
import Testing

@testable import SwitchyardCore
@testable import SwitchyardServer

@Suite struct CooldownTests {
    @Test func failingDeploymentCoolsDownAndTrafficMovesToTheOther() async throws {
        try await withMockUpstream { mock in
            let yaml = """
                model_list:
                  - model_name: pair
                    litellm_params: {model: xai/grok-4, api_base: "http://127.0.0.1:1/v1", api_key: \(testKey), weight: 1}
                    model_info: {id: dead}
                  - model_name: pair
                    litellm_params: {model: xai/grok-4, api_base: "\(mock.baseURL)", api_key: \(testKey), weight: 0}
                    model_info: {id: live}
                router_settings: {allowed_fails: 2, cooldown_time: 60}
                """
            try await withProxy(yaml: yaml) { proxy in
                for _ in 0..<2 {
                    #expect(try await send(.POST, proxy.url + "/v1/chat/completions", json: chat("pair", "x")).status == 502)
                }
                for _ in 0..<3 {
                    let result = try await send(.POST, proxy.url + "/v1/chat/completions", json: chat("pair", "x"))
                    #expect(result.status == 200)
                    #expect(result.headers.first(name: "x-switchyard-deployment") == "live")
                }
                let health = try await send(.GET, proxy.url + "/health")
                let deployments = health.json?["models"]?.objectValue?["pair"]?.objectValue?["deployments"]?.arrayValue
                #expect(deployments?.first?.objectValue?["breaker"] == "cooldown")
                #expect(deployments?.last?.objectValue?["breaker"] == "closed")
                try await waitFor { proxy.logs.lines.contains { $0.contains("deployment cooling down") } }
            }
        }
    }

    @Test func whenEveryDeploymentCoolsDownTheAnswerIs503WithRetryAfter() async throws {
        let yaml = """
            model_list:
              - model_name: dead
                litellm_params: {model: xai/grok-4, api_base: "http://127.0.0.1:1/v1", api_key: \(testKey)}
            router_settings: {allowed_fails: 1, cooldown_time: 30}
            """
        try await withProxy(yaml: yaml) { proxy in
            #expect(try await send(.POST, proxy.url + "/v1/chat/completions", json: chat("dead", "x")).status == 502)
            let result = try await send(.POST, proxy.url + "/v1/chat/completions", json: chat("dead", "x"))
            #expect(result.status == 503)
            #expect(result.errorCode == "deployment_cooldown")
            let retryAfter = Int(result.headers.first(name: "retry-after") ?? "")
            #expect((1...30).contains(retryAfter ?? 0))
        }
    }

    @Test func afterTheCooldownOneProbeDecides() async throws {
        let yaml = """
            model_list:
              - model_name: dead
                litellm_params: {model: xai/grok-4, api_base: "http://127.0.0.1:1/v1", api_key: \(testKey)}
            router_settings: {allowed_fails: 1, cooldown_time: 6}
            """
        // Six seconds, not less: on a machine loaded by the other suites two requests can be seconds apart.
        try await withProxy(yaml: yaml) { proxy in
            let url = proxy.url + "/v1/chat/completions"
            func breaker() async throws -> String? {
                let health = try await send(.GET, proxy.url + "/health")
                return health.json?["models"]?.objectValue?["dead"]?.objectValue?["deployments"]?.arrayValue?.first?
                    .objectValue?["breaker"]?.stringValue
            }
            #expect(try await send(.POST, url, json: chat("dead", "x")).status == 502)
            #expect(try await breaker() == "cooldown")
            #expect(try await send(.POST, url, json: chat("dead", "x")).status == 503)
            // The cooldown is a span of time: let it pass; the next request is then the probe.
            try await Task.sleep(for: .milliseconds(6100))
            #expect(try await breaker() == "half-open")
            #expect(try await send(.POST, url, json: chat("dead", "x")).status == 502, "the probe reaches the upstream")
            #expect(try await breaker() == "cooldown", "a failed probe starts another cooldown")
        }
    }

    @Test func rejectedKeyOpensTheBreakerAtOnce() async throws {
        var options = MockUpstreamOptions()
        options.requiredKey = "xai-the-right-key-000"
        try await withMockUpstream(options) { mock in
            let yaml = """
                model_list:
                  - model_name: m
                    litellm_params: {model: xai/grok-4, api_base: "\(mock.baseURL)", api_key: xai-the-wrong-key-000, weight: 1}
                    model_info: {id: wrong}
                  - model_name: m
                    litellm_params: {model: xai/grok-4, api_base: "\(mock.baseURL)", api_key: xai-the-right-key-000, weight: 0}
                    model_info: {id: right}
                """
            try await withProxy(yaml: yaml) { proxy in
                let first = try await send(.POST, proxy.url + "/v1/chat/completions", json: chat("m", "x"))
                #expect(first.status == 401)
                let second = try await send(.POST, proxy.url + "/v1/chat/completions", json: chat("m", "x"))
                #expect(second.status == 200)
                #expect(second.headers.first(name: "x-switchyard-deployment") == "right")
            }
        }
    }
}

@Suite struct BreakerUnitTests {
    func deployment(_ id: String) -> Deployment {
        Deployment(
            id: id, alias: "a", providerName: "mock", provider: .mock, upstreamModel: "echo", baseURL: nil, apiKey: nil,
            status: .enabled, dropParams: false)
    }

    @Test func failuresBelowTheLimitKeepItClosedAndASuccessForgetsThem() {
        let router = DeploymentRouter(strategy: .simpleShuffle, allowedFails: 3, cooldownSeconds: 60)
        let slot = router.slot(for: deployment("a"))
        #expect(!router.recordFailure(slot))
        #expect(!router.recordFailure(slot))
        slot.recordSuccess(latency: nil)
        #expect(!router.recordFailure(slot))
        #expect(slot.breakerState == .closed)
        #expect(!router.recordFailure(slot))
        #expect(router.recordFailure(slot))
        #expect(slot.breakerState == .cooldown)
        guard case .coolingDown = router.pick([deployment("a")]) else {
            Issue.record("a cooling deployment must not be picked")
            return
        }
    }

    @Test func inFlightCountsRiseAndFall() {
        let router = DeploymentRouter(strategy: .leastBusy)
        guard case .deployment(_, let slot) = router.pick([deployment("a")]) else {
            Issue.record("expected a deployment")
            return
        }
        #expect(slot.inFlight == 1)
        slot.end()
        #expect(slot.inFlight == 0)
    }
}
