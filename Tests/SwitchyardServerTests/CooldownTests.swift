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

    /// The lesson of the routing round: a lone deployment is never refused for its cooldown; every request is
    /// tried and answered with what the upstream said, and its breaker still shows the failures.
    @Test func aLoneDeploymentIsTriedWhileCoolingAndTheClientGetsTheUpstreamsError() async throws {
        try await withMockUpstream { mock in
            let yaml = """
                model_list:
                  - model_name: lone
                    litellm_params: {model: xai/grok-4, api_base: "\(mock.baseURL)", api_key: \(testKey)}
                    model_info: {id: lone-1}
                router_settings: {allowed_fails: 1, cooldown_time: 60}
                """
            try await withProxy(yaml: yaml) { proxy in
                let url = proxy.url + "/v1/chat/completions"
                for round in 0..<3 {
                    let limited = try await send(.POST, url, json: chat("lone", "FAULT:429-retry-after"))
                    #expect(limited.status == 429, "round \(round): \(limited.text)")
                    #expect(limited.errorCode == "rate_limit_exceeded")
                    #expect(limited.headers.first(name: "retry-after") == "2", "the upstream's own Retry-After")
                }
                #expect(try await healthDeployments(proxy.url, alias: "lone")["lone-1"]?["breaker"] == "cooldown")
                // xAI sends no Retry-After: the client is told when the deployment may be tried again.
                let bare = try await send(.POST, url, json: chat("lone", "FAULT:429"))
                #expect(bare.status == 429)
                #expect((50...60).contains(Int(bare.headers.first(name: "retry-after") ?? "") ?? 0), "\(bare.headers)")
                let failed = try await send(.POST, url, json: chat("lone", "FAULT:503"))
                #expect(failed.status == 503)
                #expect(failed.errorCode == "upstream_unavailable", "a 5xx stays the upstream's, not deployment_cooldown")
                #expect(mock.recorder.requests.count == 5, "every request reached the upstream")
                let served = try await send(.POST, url, json: chat("lone", "hi"))
                #expect(served.status == 200, "\(served.text)")
                #expect(try await healthDeployments(proxy.url, alias: "lone")["lone-1"]?["breaker"] == "closed")
            }
        }
    }

    /// With a fallback alias to go to, a cooling deployment is skipped (no request reaches it); once the cooldown
    /// passes, one probe decides.
    @Test func aCoolingDeploymentIsSkippedForAFallbackAndOneProbeDecides() async throws {
        let yaml = """
            model_list:
              - model_name: dead
                litellm_params: {model: xai/grok-4, api_base: "http://127.0.0.1:1/v1", api_key: \(testKey)}
                model_info: {id: dead-1}
              - model_name: spare
                litellm_params: {model: mock/echo}
            router_settings: {allowed_fails: 1, cooldown_time: 6, fallbacks: [{dead: [spare]}]}
            """
        // Six seconds, not less: on a machine loaded by the other suites two requests can be seconds apart.
        try await withProxy(yaml: yaml) { proxy in
            let url = proxy.url + "/v1/chat/completions"
            func breaker() async throws -> String? {
                try await healthDeployments(proxy.url, alias: "dead")["dead-1"]?["breaker"]?.stringValue
            }
            func attempts() -> Int { proxy.logs.lines.count { $0.contains("falling back") } }
            let first = try await send(.POST, url, json: chat("dead", "x"))
            #expect(first.status == 200)
            #expect(first.headers.first(name: "x-switchyard-attempted-fallbacks") == "1")
            #expect(try await breaker() == "cooldown")
            let skipped = try await send(.POST, url, json: chat("dead", "x"))
            #expect(skipped.status == 200)
            #expect(skipped.headers.first(name: "x-switchyard-deployment")?.hasPrefix("spare") == true)
            try await Task.sleep(for: .milliseconds(6100))
            #expect(try await breaker() == "half-open")
            let probed = try await send(.POST, url, json: chat("dead", "x"))
            #expect(probed.status == 200, "the probe failed and the fallback answered")
            #expect(try await breaker() == "cooldown", "a failed probe starts another cooldown")
        }
    }

    /// Every alias of the chain cooling: the last one has nowhere else to go, so it is tried, and the client gets
    /// its real error (502), not 503 deployment_cooldown.
    @Test func whenTheWholeChainCoolsTheLastAliasIsStillTried() async throws {
        let yaml = """
            model_list:
              - model_name: first
                litellm_params: {model: xai/grok-4, api_base: "http://127.0.0.1:1/v1", api_key: \(testKey)}
              - model_name: second
                litellm_params: {model: xai/grok-4, api_base: "http://127.0.0.1:1/v1", api_key: \(testKey)}
            router_settings: {allowed_fails: 1, cooldown_time: 60, fallbacks: [{first: [second]}]}
            """
        try await withProxy(yaml: yaml) { proxy in
            for _ in 0..<3 {
                let result = try await send(.POST, proxy.url + "/v1/chat/completions", json: chat("first", "x"))
                #expect(result.status == 502, "\(result.text)")
                #expect(result.errorCode == "upstream_unreachable")
            }
        }
    }

    /// A timeout is not waited for again on the same deployment: one attempt per deployment, then 504.
    @Test func aTimedOutAttemptIsNotRetriedOnTheSameDeployment() async throws {
        try await withMockUpstream { mock in
            let yaml = """
                model_list:
                  - model_name: slow
                    litellm_params:
                      {model: xai/grok-4, api_base: "\(mock.baseURL)", api_key: \(testKey), first_byte_timeout: 0.5}
                    model_info: {id: slow-1}
                  - model_name: pair
                    litellm_params:
                      {model: xai/grok-4, api_base: "\(mock.baseURL)", api_key: \(testKey), first_byte_timeout: 0.5}
                    model_info: {id: pair-1}
                  - model_name: pair
                    litellm_params:
                      {model: xai/grok-4, api_base: "\(mock.baseURL)", api_key: \(testKey), first_byte_timeout: 0.5}
                    model_info: {id: pair-2}
                router_settings: {num_retries: 3, retry_after: 0.01}
                """
            try await withProxy(yaml: yaml) { proxy in
                let lone = try await send(.POST, proxy.url + "/v1/chat/completions", json: chat("slow", "FAULT:slow"))
                #expect(lone.status == 504)
                #expect(lone.errorCode == "upstream_timeout")
                try await waitFor { mock.recorder.requests.count >= 1 }
                #expect(mock.recorder.requests.count == 1, "one attempt, not num_retries + 1")
                mock.recorder.reset()
                let pair = try await send(.POST, proxy.url + "/v1/chat/completions", json: chat("pair", "FAULT:slow"))
                #expect(pair.status == 504)
                try await waitFor { mock.recorder.requests.count >= 2 }
                #expect(mock.recorder.requests.count == 2, "one attempt on each deployment")
                let logged = proxy.logs.lines.filter { $0.contains("retrying") }
                #expect(logged.count == 1, "the pair's one retry, the lone deployment none: \(logged)")
            }
        }
    }

    @Test func disableCooldownsKeepsEveryBreakerClosed() async throws {
        let yaml = """
            model_list:
              - model_name: pair
                litellm_params: {model: xai/grok-4, api_base: "http://127.0.0.1:1/v1", api_key: \(testKey), weight: 1}
                model_info: {id: dead}
              - model_name: pair
                litellm_params: {model: mock/echo, weight: 0}
                model_info: {id: live}
            router_settings: {allowed_fails: 1, cooldown_time: 60, disable_cooldowns: true, num_retries: 1, retry_after: 0.01}
            """
        try await withProxy(yaml: yaml) { proxy in
            for _ in 0..<3 {
                let result = try await send(.POST, proxy.url + "/v1/chat/completions", json: chat("pair", "x"))
                #expect(result.status == 200)
                #expect(result.headers.first(name: "x-switchyard-attempted-retries") == "1", "dead is tried every time")
            }
            #expect(try await healthDeployments(proxy.url, alias: "pair")["dead"]?["breaker"] == "closed")
        }
    }

    /// LiteLLM's allowed_fails_policy: each kind of failure has its own count.
    @Test func allowedFailsPolicyCountsEachKindOnItsOwn() async throws {
        try await withMockUpstream { mock in
            let yaml = """
                model_list:
                  - model_name: m
                    litellm_params: {model: xai/grok-4, api_base: "\(mock.baseURL)", api_key: \(testKey)}
                    model_info: {id: m-1}
                router_settings:
                  allowed_fails: 1
                  cooldown_time: 60
                  allowed_fails_policy: {RateLimitErrorAllowedFails: 3, BadRequestErrorAllowedFails: 2}
                """
            try await withProxy(yaml: yaml) { proxy in
                let url = proxy.url + "/v1/chat/completions"
                func breaker() async throws -> String? {
                    try await healthDeployments(proxy.url, alias: "m")["m-1"]?["breaker"]?.stringValue
                }
                func expectStatus(_ prompt: String, _ expected: Int) async throws {
                    let result = try await send(.POST, url, json: chat("m", prompt))
                    #expect(result.status == expected, "\(prompt): \(result.text)")
                }
                try await expectStatus("FAULT:429", 429)
                try await expectStatus("FAULT:429", 429)
                // One bad request: below its own count of 2, and not added to the rate limits' count.
                try await expectStatus("FAULT:400", 400)
                #expect(try await breaker() == "closed")
                try await expectStatus("FAULT:429", 429)
                #expect(try await breaker() == "cooldown", "the third rate limit opens it")
                try await expectStatus("hi", 200)
                try await expectStatus("FAULT:400", 400)
                try await expectStatus("FAULT:400", 400)
                #expect(try await breaker() == "cooldown", "the second bad request opens it")
                // The default (allowed_fails: 1) still holds for server errors.
                try await expectStatus("hi", 200)
                try await expectStatus("FAULT:500", 502)
                #expect(try await breaker() == "cooldown")
            }
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
        let router = DeploymentRouter(
            strategy: .simpleShuffle, failurePolicy: FailurePolicy(allowedFails: 3), cooldownSeconds: 60)
        let slot = router.slot(for: deployment("a"))
        #expect(!router.recordFailure(slot))
        #expect(!router.recordFailure(slot))
        slot.recordSuccess(latency: nil)
        #expect(!router.recordFailure(slot))
        #expect(slot.breakerState == .closed)
        #expect(!router.recordFailure(slot))
        #expect(router.recordFailure(slot))
        #expect(slot.breakerState == .cooldown)
        guard case .coolingDown = router.pick([deployment("a")], fallbackAvailable: true) else {
            Issue.record("a cooling deployment must not be picked while a fallback can take the request")
            return
        }
        guard case .deployment(let picked, _) = router.pick([deployment("a")]) else {
            Issue.record("a lone cooling deployment is still picked")
            return
        }
        #expect(picked.id == "a")
        guard case .deployment(let other, _) = router.pick([deployment("a"), deployment("b")]) else {
            Issue.record("the other deployment is picked")
            return
        }
        #expect(other.id == "b")
    }

    @Test func eachKindIsCountedApartAndTheClientsMistakesNotAtAll() {
        let router = DeploymentRouter(
            strategy: .simpleShuffle, failurePolicy: FailurePolicy(allowedFails: 2), cooldownSeconds: 60)
        let slot = router.slot(for: deployment("a"))
        #expect(!router.recordFailure(slot, kind: .server))
        #expect(!router.recordFailure(slot, kind: .rateLimit))
        #expect(!router.recordFailure(slot, kind: .timeout))
        #expect(slot.breakerState == .closed, "one of each kind, none twice")
        #expect(!router.recordFailure(slot, kind: .badRequest))
        #expect(!router.recordFailure(slot, kind: .badRequest))
        #expect(slot.breakerState == .closed)
        #expect(!router.recordFailure(slot, kind: .timeout))
        #expect(router.recordFailure(slot, kind: .timeout))
        #expect(router.recordFailure(router.slot(for: deployment("b")), kind: .authentication), "a rejected key at once")
        let disabled = DeploymentRouter(
            strategy: .simpleShuffle, failurePolicy: FailurePolicy(allowedFails: 1, cooldownsDisabled: true))
        #expect(!disabled.recordFailure(disabled.slot(for: deployment("a")), kind: .authentication))
    }

    @Test func failureKindsOfErrors() {
        func kind(_ status: Int, _ code: String = "x") -> FailureKind? {
            FailureKind(ProxyError(status: status, type: "t", code: code, message: "m"))
        }
        #expect(kind(429) == .rateLimit)
        #expect(kind(504, "upstream_timeout") == .timeout)
        #expect(kind(502) == .server)
        #expect(kind(503) == .server)
        #expect(kind(401) == .authentication)
        #expect(kind(403) == .authentication)
        #expect(kind(400) == .badRequest)
        #expect(kind(400, "content_filter") == .contentPolicy)
        #expect(kind(499, "client_closed_request") == nil)
        #expect(kind(503, ProxyError.shuttingDownCode) == nil)
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
