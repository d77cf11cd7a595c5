import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import Testing

@testable import SwitchyardCore
@testable import SwitchyardServer

/// 500 concurrent streams on an alias whose second deployment is down: every stream completes on the healthy
/// deployment (retried before its first byte), the breaker takes the dead one out, and the counts add up.
@Suite(.serialized) struct StreamsUnderFailureTests {
    @Test func fiveHundredConcurrentStreamsWhileOneOfTwoDeploymentsFails() async throws {
        var options = MockUpstreamOptions()
        options.chunks = 8
        options.chunkInterval = .milliseconds(20)
        options.keepaliveComment = false
        try await withMockUpstream(options) { mock in
            let yaml = """
                model_list:
                  - model_name: m
                    litellm_params: {model: xai/grok-4, api_base: "\(mock.baseURL)", api_key: \(testKey)}
                    model_info: {id: healthy}
                  - model_name: m
                    litellm_params: {model: xai/grok-4, api_base: "http://127.0.0.1:1/v1", api_key: \(testKey)}
                    model_info: {id: down}
                router_settings: {num_retries: 2, retry_after: 0.01, allowed_fails: 3, cooldown_time: 60}
                """
            try await withProxy(yaml: yaml, logLevel: .warning) { proxy in
                var configuration = HTTPClient.Configuration()
                configuration.connectionPool = .init(idleTimeout: .seconds(30), concurrentHTTP1ConnectionsPerHostSoftLimit: 600)
                // 500 connections opened at once into a process whose event loops also run the mock and every other
                // test: the 10 s default connect timeout is not what this test is about.
                configuration.timeout.connect = .seconds(30)
                let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
                let count = 500
                let outcome = await Result.of {
                    try await withThrowingTaskGroup(of: HTTPResult.self) { group in
                        for index in 0..<count {
                            group.addTask {
                                try await send(
                                    .POST, proxy.url + "/v1/chat/completions", json: chat("m", "stream \(index)", stream: true),
                                    timeout: .seconds(60), client: client)
                            }
                        }
                        return try await group.reduce(into: [HTTPResult]()) { $0.append($1) }
                    }
                }
                // Shut down whatever happened: a client dropped unshut traps, which would hide the failure.
                try await client.shutdown()
                let results = try outcome.get()
                #expect(results.count == count)
                let complete = results.filter { result in
                    result.status == 200 && result.events.last?.isDone == true
                        && result.chunks.allSatisfy { $0["error"] == nil }
                        && result.headers.first(name: "x-switchyard-deployment") == "healthy"
                }
                #expect(complete.count == count, "\(Set(results.map { "\($0.status) \($0.text.prefix(200))" }).prefix(5))")
                let contents = results.map { result in
                    result.chunks.compactMap {
                        $0["choices"]?.arrayValue?.first?.objectValue?["delta"]?.objectValue?["content"]?.stringValue
                    }.joined()
                }
                #expect(Set(contents).count == count, "every stream got its own answer")
                #expect(mock.recorder.requests.count == count, "the healthy upstream saw each stream exactly once")
                let retried = results.filter { $0.headers.first(name: "x-switchyard-attempted-retries") != "0" }.count
                #expect(retried >= 1 && retried < count, "the dead deployment was tried, then taken out: \(retried)")
                let deployments = try await healthDeployments(proxy.url, alias: "m")
                #expect(deployments["down"]?["breaker"]?.stringValue == "cooldown")
                let healthy = deployments["healthy"]
                #expect(healthy?["in_flight"]?.intValue == 0, "every stream ended on its slot")
                #expect(healthy?["requests_last_minute"]?.intValue == count)
            }
        }
    }
}

/// An upstream that goes away mid-test: its deployment fails over to the other and then rests.
@Suite struct UpstreamStoppedTests {
    @Test func stoppingAnUpstreamMidTestMovesTrafficToTheOther() async throws {
        try await withMockUpstream { stays in
            let leaving = MockUpstream()
            let logger = Logger(label: "mock", factory: { _ in SwiftLogNoOpLogHandler() })
            try await withServiceGroup({ onRunning in [try leaving.application(logger: logger, onRunning: onRunning)] }) {
                leavingPort, leavingGroup in
                let yaml = """
                    model_list:
                      - model_name: m
                        litellm_params: {model: xai/grok-4, api_base: "\(stays.baseURL)", api_key: \(testKey)}
                        model_info: {id: stays}
                      - model_name: m
                        litellm_params: {model: xai/grok-4, api_base: "http://127.0.0.1:\(leavingPort)/v1", api_key: \(testKey)}
                        model_info: {id: leaving}
                    router_settings: {num_retries: 1, retry_after: 0.01, allowed_fails: 2, cooldown_time: 60}
                    """
                try await withProxy(yaml: yaml, logLevel: .warning) { proxy in
                    var before: [String] = []
                    for index in 0..<20 {
                        let result = try await send(
                            .POST, proxy.url + "/v1/chat/completions", json: chat("m", "x", stream: index % 2 == 1))
                        #expect(result.status == 200)
                        before.append(result.headers.first(name: "x-switchyard-deployment") ?? "?")
                    }
                    #expect(Set(before) == ["stays", "leaving"], "both serve while both are up: \(before)")
                    await leavingGroup.triggerGracefulShutdown()
                    while (try? await send(.GET, "http://127.0.0.1:\(leavingPort)/v1/models", timeout: .seconds(2))) != nil {
                        try await Task.sleep(for: .milliseconds(20))
                    }
                    var after: [HTTPResult] = []
                    for index in 0..<20 {
                        after.append(
                            try await send(
                                .POST, proxy.url + "/v1/chat/completions", json: chat("m", "x", stream: index % 2 == 1)))
                    }
                    #expect(after.allSatisfy { $0.status == 200 }, "\(after.map(\.status))")
                    #expect(after.allSatisfy { $0.headers.first(name: "x-switchyard-deployment") == "stays" })
                    let retried = after.filter { $0.headers.first(name: "x-switchyard-attempted-retries") == "1" }.count
                    #expect(retried <= 2, "after allowed_fails failures the stopped upstream is not tried again: \(retried)")
                    let deployments = try await healthDeployments(proxy.url, alias: "m")
                    #expect(deployments["leaving"]?["breaker"]?.stringValue == "cooldown", "\(deployments)")
                }
            }
        }
    }
}

extension Result where Failure == any Error {
    /// The outcome of an async throwing call, as a value.
    static func of(_ body: () async throws -> Success) async -> Self {
        do { return .success(try await body()) } catch { return .failure(error) }
    }
}
