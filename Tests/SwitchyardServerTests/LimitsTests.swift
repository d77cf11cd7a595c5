import Foundation
import Testing

@testable import SwitchyardCore
@testable import SwitchyardServer

/// Latency- and usage-based routing, local rpm/tpm/parallel limits, and context-window fallbacks.
@Suite struct LimitsTests {
    func deploymentsHit(_ results: [HTTPResult]) -> [String] {
        results.map { $0.headers.first(name: "x-switchyard-deployment") ?? "?" }
    }

    /// The listen backlog of a listening socket on 127.0.0.1 (`ss` prints it as the Send-Q of a LISTEN line).
    func listenBacklog(port: Int) async throws -> Int {
        let result = try await RunningCommand(
            ["ss", "-ltnH", "sport = :\(port)"], environment: ProcessInfo.processInfo.environment,
            executable: "/usr/bin/env"
        ).finish(seconds: 30)
        #expect(result.status == 0, "\(result.output)")
        let fields = try #require(result.stdout.split(separator: "\n").first).split(separator: " ")
        return try #require(fields.count > 2 ? Int(fields[2]) : nil, "\(result.stdout)")
    }

    @Test func proxyAndMockQueueAThousandConnectionsForAccept() async throws {
        // Hummingbird's default backlog (256) overflowed when 1,024 streams connected at once: the kernel dropped
        // the SYNs past it and those clients waited a second for their retry. Linux caps the value at somaxconn.
        let somaxconn =
            (try? String(contentsOfFile: "/proc/sys/net/core/somaxconn", encoding: .utf8))
            .flatMap { Int($0.trimmingCharacters(in: .whitespacesAndNewlines)) } ?? ProxyServer.listenBacklog
        let expected = min(ProxyServer.listenBacklog, somaxconn)
        try await withMockUpstream { mock in
            try await withProxy(yaml: xaiConfig(mock: mock), environment: ["GROK_API_KEY": testKey]) { proxy in
                let proxyBacklog = try await listenBacklog(port: proxy.port)
                let mockBacklog = try await listenBacklog(port: mock.port)
                #expect(proxyBacklog == expected)
                #expect(mockBacklog == expected)
            }
        }
    }

    @Test func latencyBasedRoutingMeasuresEachDeploymentThenPrefersTheFastOne() async throws {
        var slow = MockUpstreamOptions()
        // Far slower than anything a loaded CI machine adds to the fast one's first (cold) request: 1 s was not,
        // once, with the whole suite's servers sharing two event loops on two cores.
        slow.firstByteLatency = .seconds(3)
        try await withMockUpstream(slow) { slowMock in
            try await withMockUpstream { fastMock in
                let yaml = """
                    model_list:
                      - model_name: m
                        litellm_params: {model: xai/grok-4, api_base: "\(slowMock.baseURL)", api_key: \(testKey)}
                        model_info: {id: slow}
                      - model_name: m
                        litellm_params: {model: xai/grok-4, api_base: "\(fastMock.baseURL)", api_key: \(testKey)}
                        model_info: {id: fast}
                    router_settings: {routing_strategy: latency-based-routing}
                    """
                try await withProxy(yaml: yaml, logLevel: .warning) { proxy in
                    var results: [HTTPResult] = []
                    for index in 0..<8 {
                        results.append(
                            try await send(
                                .POST, proxy.url + "/v1/chat/completions", json: chat("m", "x", stream: index % 2 == 0)))
                    }
                    #expect(results.allSatisfy { $0.status == 200 })
                    let hits = deploymentsHit(results)
                    // The first two requests measure both; every later one goes to the fast deployment.
                    #expect(Set(hits.prefix(2)) == ["slow", "fast"], "\(hits)")
                    #expect(hits.dropFirst(2).allSatisfy { $0 == "fast" }, "\(hits)")
                    #expect(slowMock.recorder.requests.count == 1)
                    let deployments = try await healthDeployments(proxy.url, alias: "m")
                    let latencies = deployments.values.compactMap { $0["latency_ms"]?.doubleValue }
                    #expect(latencies.count == 2, "\(deployments)")
                    #expect((latencies.max() ?? 0) >= 3000)
                }
            }
        }
    }

    @Test func usageBasedRoutingSendsWorkToTheDeploymentWithFewerTokensThisMinute() async throws {
        let yaml = """
            model_list:
              - model_name: m
                litellm_params: {model: mock/echo}
                model_info: {id: one}
              - model_name: m
                litellm_params: {model: mock/echo}
                model_info: {id: two}
            router_settings: {routing_strategy: usage-based-routing-v2}
            """
        try await withProxy(yaml: yaml, logLevel: .warning) { proxy in
            let big = try await send(
                .POST, proxy.url + "/v1/chat/completions", json: chat("m", String(repeating: "long prompt ", count: 200)))
            #expect(big.status == 200)
            let first = deploymentsHit([big])[0]
            var small: [HTTPResult] = []
            for _ in 0..<4 { small.append(try await send(.POST, proxy.url + "/v1/chat/completions", json: chat("m", "hi"))) }
            let hits = deploymentsHit(small)
            #expect(hits.allSatisfy { $0 != first }, "the deployment that served ~600 tokens waits: \(first) then \(hits)")
            let deployments = try await healthDeployments(proxy.url, alias: "m")
            let tokens = deployments.values.compactMap { $0["tokens_last_minute"]?.intValue }
            #expect(tokens.count == 2 && tokens.allSatisfy { $0 > 0 }, "\(deployments)")
        }
    }

    @Test func requestsPerMinuteLimitAnswers429WithRateLimitHeaders() async throws {
        let yaml = """
            model_list:
              - model_name: capped
                litellm_params: {model: mock/echo, rpm: 2}
                model_info: {id: capped-1}
            """
        try await withProxy(yaml: yaml, logLevel: .warning) { proxy in
            for _ in 0..<2 {
                let result = try await send(.POST, proxy.url + "/v1/chat/completions", json: chat("capped", "hi"))
                #expect(result.status == 200)
            }
            let limited = try await send(.POST, proxy.url + "/v1/chat/completions", json: chat("capped", "hi"))
            #expect(limited.status == 429, "\(limited.text)")
            #expect(limited.errorCode == "rate_limit_exceeded")
            #expect(limited.error?["type"]?.stringValue == "rate_limit_error")
            #expect(limited.errorMessage.contains("local limit") && limited.errorMessage.contains("capped-1"))
            #expect(limited.headers.first(name: "x-ratelimit-limit-requests") == "2")
            #expect(limited.headers.first(name: "x-ratelimit-remaining-requests") == "0")
            let retryAfter = Int(limited.headers.first(name: "retry-after") ?? "") ?? 0
            #expect((1...60).contains(retryAfter))
            #expect(limited.headers.first(name: "x-ratelimit-reset-requests") == "\(retryAfter)s")
        }
    }

    @Test func aLimitedDeploymentHandsOverToAnotherDeploymentThenToAFallback() async throws {
        let yaml = """
            model_list:
              - model_name: m
                litellm_params: {model: mock/echo, rpm: 1}
                model_info: {id: first}
              - model_name: m
                litellm_params: {model: mock/echo, rpm: 1}
                model_info: {id: second}
              - model_name: spare
                litellm_params: {model: mock/echo}
                model_info: {id: spare-1}
            router_settings: {fallbacks: [{m: [spare]}]}
            """
        try await withProxy(yaml: yaml, logLevel: .warning) { proxy in
            var results: [HTTPResult] = []
            for _ in 0..<3 { results.append(try await send(.POST, proxy.url + "/v1/chat/completions", json: chat("m", "hi"))) }
            #expect(results.allSatisfy { $0.status == 200 }, "\(results.map(\.text))")
            #expect(Set(deploymentsHit(results)) == ["first", "second", "spare-1"])
            #expect(results[2].headers.first(name: "x-switchyard-attempted-fallbacks") == "1")
        }
    }

    @Test func tokensPerMinuteLimitCountsWhatTheUpstreamReported() async throws {
        let yaml = """
            model_list:
              - model_name: m
                litellm_params: {model: mock/echo, tpm: 100}
                model_info: {id: m-1}
            """
        try await withProxy(yaml: yaml, logLevel: .warning) { proxy in
            let first = try await send(
                .POST, proxy.url + "/v1/chat/completions", json: chat("m", String(repeating: "word ", count: 100)))
            #expect(first.status == 200, "an empty minute takes any one request")
            let second = try await send(.POST, proxy.url + "/v1/chat/completions", json: chat("m", "hi", stream: true))
            #expect(second.status == 429, "\(second.text)")
            #expect(second.headers.first(name: "x-ratelimit-limit-tokens") == "100")
            #expect(second.headers.first(name: "x-ratelimit-remaining-tokens") == "0")
            #expect(second.errorMessage.contains("tokens per minute"))
        }
    }

    @Test func maxParallelRequestsCapsConcurrency() async throws {
        // The two first requests wait upstream until the next three are answered (`FAULT:hold`): the order is set
        // by waiting, not by a delay a loaded machine could outlast.
        try await withMockUpstream { mock in
            let yaml = """
                model_list:
                  - model_name: m
                    litellm_params:
                      {model: xai/grok-4, api_base: "\(mock.baseURL)", api_key: \(testKey), max_parallel_requests: 2}
                    model_info: {id: m-1}
                """
            try await withProxy(yaml: yaml, logLevel: .warning) { proxy in
                let url = proxy.url + "/v1/chat/completions"
                async let first = send(.POST, url, json: chat("m", "FAULT:hold"))
                async let second = send(.POST, url, json: chat("m", "FAULT:hold"))
                try await waitFor { mock.recorder.requests.count == 2 }
                let limited = try await withThrowingTaskGroup(of: HTTPResult.self) { group in
                    for _ in 0..<3 { group.addTask { try await send(.POST, url, json: chat("m", "x")) } }
                    return try await group.reduce(into: [HTTPResult]()) { $0.append($1) }
                }
                #expect(limited.map(\.status) == [429, 429, 429], "\(limited.map(\.text))")
                #expect(limited.allSatisfy { $0.headers.first(name: "x-ratelimit-limit-parallel-requests") == "2" })
                #expect(limited.allSatisfy { $0.headers.first(name: "retry-after") == "1" })
                await mock.held.open()
                let held = try await [first, second]
                #expect(held.map(\.status) == [200, 200], "\(held.map(\.text))")
                #expect(mock.recorder.requests.count == 2, "a limited request never reaches the upstream")
                let after = try await send(.POST, url, json: chat("m", "x"))
                #expect(after.status == 200, "slots free up when requests end")
            }
        }
    }

    func contextConfig(small: MockHandle, big: MockHandle, settings: String, smallInfo: String = "{id: small-1}") -> String {
        """
        model_list:
          - model_name: small
            litellm_params: {model: xai/grok-3, api_base: "\(small.baseURL)", api_key: \(testKey)}
            model_info: \(smallInfo)
          - model_name: big
            litellm_params: {model: xai/grok-4-fast-reasoning, api_base: "\(big.baseURL)", api_key: \(testKey)}
            model_info: {id: big-1}
        \(settings)
        """
    }

    @Test func contextWindowErrorsFallBackToTheContextWindowFallbacks() async throws {
        var tight = MockUpstreamOptions()
        tight.contextWindow = 50
        let longPrompt = String(repeating: "many words here ", count: 40)
        try await withMockUpstream(tight) { small in
            try await withMockUpstream { big in
                let yaml = contextConfig(
                    small: small, big: big, settings: "router_settings: {context_window_fallbacks: [{small: [big]}]}")
                try await withProxy(yaml: yaml, logLevel: .warning) { proxy in
                    for stream in [false, true] {
                        let result = try await send(
                            .POST, proxy.url + "/v1/chat/completions", json: chat("small", longPrompt, stream: stream))
                        #expect(result.status == 200, "\(result.text)")
                        #expect(result.headers.first(name: "x-switchyard-deployment") == "big-1")
                        #expect(result.headers.first(name: "x-switchyard-attempted-fallbacks") == "1")
                    }
                    #expect(small.recorder.requests.count == 2, "the upstream said the prompt was too long, each time")
                    let short = try await send(.POST, proxy.url + "/v1/chat/completions", json: chat("small", "hi"))
                    #expect(short.headers.first(name: "x-switchyard-deployment") == "small-1")
                    let failing = try await send(.POST, proxy.url + "/v1/chat/completions", json: chat("small", "FAULT:500"))
                    #expect(failing.status == 502, "other errors do not use context_window_fallbacks: \(failing.text)")
                }
            }
        }
    }

    @Test func contextWindowErrorWithoutFallbacksIsTheClientsOpenAIShapedError() async throws {
        var tight = MockUpstreamOptions()
        tight.contextWindow = 50
        try await withMockUpstream(tight) { small in
            try await withMockUpstream { big in
                let yaml = contextConfig(small: small, big: big, settings: "")
                try await withProxy(yaml: yaml, logLevel: .warning) { proxy in
                    let result = try await send(
                        .POST, proxy.url + "/v1/chat/completions",
                        json: chat("small", String(repeating: "many words here ", count: 40)))
                    #expect(result.status == 400)
                    #expect(result.errorCode == "context_length_exceeded", "\(result.text)")
                    #expect(result.errorMessage.contains("maximum prompt length is 50"))
                }
            }
        }
    }

    @Test func maxInputTokensIsCheckedBeforeTheUpstreamIsCalled() async throws {
        try await withMockUpstream { small in
            try await withMockUpstream { big in
                let yaml = contextConfig(
                    small: small, big: big, settings: "litellm_settings: {context_window_fallbacks: [{small: [big]}]}",
                    smallInfo: "{id: small-1, max_input_tokens: 20}")
                try await withProxy(yaml: yaml, logLevel: .warning) { proxy in
                    let prompt = String(repeating: "many words here ", count: 40)
                    let result = try await send(.POST, proxy.url + "/v1/chat/completions", json: chat("small", prompt))
                    #expect(result.status == 200, "\(result.text)")
                    #expect(result.headers.first(name: "x-switchyard-deployment") == "big-1")
                    #expect(small.recorder.requests.isEmpty)
                }
            }
        }
        let yaml = """
            model_list:
              - model_name: small
                litellm_params: {model: mock/echo}
                model_info: {max_input_tokens: 20}
            """
        try await withProxy(yaml: yaml, logLevel: .warning) { proxy in
            let result = try await send(
                .POST, proxy.url + "/v1/chat/completions", json: chat("small", String(repeating: "many words here ", count: 40)))
            #expect(result.status == 400)
            #expect(result.errorCode == "context_length_exceeded")
            #expect(result.errorMessage.contains("max_input_tokens 20"))
        }
    }
}

@Suite struct MinuteWindowTests {
    @Test func countsTheLastSixtySecondsAndSaysWhenRoomFreesUp() {
        var window = MinuteWindow()
        window.add(3, second: 100)
        window.add(2, second: 130)
        #expect(window.total(second: 130) == 5)
        #expect(window.total(second: 159) == 5)
        #expect(window.total(second: 160) == 2, "second 100 left the window")
        #expect(window.total(second: 190) == 0)
        #expect(window.seconds(untilAtMost: 2, second: 140) == 20)
        #expect(window.seconds(untilAtMost: 0, second: 140) == 50)
        #expect(window.seconds(untilAtMost: 5, second: 140) == 0)
        window.add(1, second: 160)
        #expect(window.total(second: 160) == 3, "a reused bucket starts from zero")
    }

    @Test func tokenEstimateCountsEveryTextPart() {
        let body: JSONObject = [
            "messages": .array([
                .object(["role": "system", "content": "12345678"]),
                .object(["role": "user", "content": .array([.object(["type": "text", "text": "1234"])])]),
            ])
        ]
        #expect(TokenEstimate.prompt(of: body) == 4 + 2 + 4 + 1)
        #expect(TokenEstimate.prompt(of: ["input": .array(["abcd", "efgh"])]) == 2)
    }
}
