import AsyncHTTPClient
import Foundation
import Logging
import ServiceLifecycle
import Testing

@testable import SwitchyardCore
@testable import SwitchyardServer

/// Graceful shutdown: stop accepting, let requests and streams finish for the grace period, then end what is
/// left with a clean error (an error event on a stream, a 503 otherwise).
@Suite struct ShutdownTests {
    /// Runs the proxy on `yaml`, handing `body` its URL and a way to start the graceful shutdown.
    func withStoppableProxy(
        yaml: String, _ body: (String, ServiceGroup, LogSink) async throws -> Void
    ) async throws {
        let result = ConfigLoader.parse(yaml, path: "test.yaml")
        let config = try #require(result.config)
        let table = ModelTable(config: config, environment: EnvironmentSnapshot([:]))
        let sink = LogSink(capturing: true)
        let redactors = RedactorStore()
        let logger = Logger(label: "switchyard") { label in
            ProxyLogHandler(label: label, level: .info, format: .json, redactors: redactors, sink: sink)
        }
        let server = ProxyServer(table: table, logger: logger, redactors: redactors)
        try await withServiceGroup({ onRunning in server.services(host: "127.0.0.1", port: 0, onRunning: onRunning) }) {
            port, group in
            try await body("http://127.0.0.1:\(port)", group, sink)
        }
    }

    /// A prompt long enough that the mock's answer really has as many deltas as asked for (it splits the
    /// echoed text, so a short prompt gives a short stream).
    static let longPrompt = String(repeating: "a long prompt for a long stream ", count: 20)

    func config(_ mock: MockHandle, grace: Double) -> String {
        """
        model_list:
          - model_name: m
            litellm_params: {model: xai/grok-4, api_base: "\(mock.baseURL)", api_key: \(testKey)}
        general_settings: {shutdown_grace_period: \(grace)}
        """
    }

    @Test func requestsStillRunningAfterTheGracePeriodEndWithACleanError() async throws {
        var options = MockUpstreamOptions()
        options.chunks = 60
        options.chunkInterval = .milliseconds(100)
        try await withMockUpstream(options) { mock in
            try await withStoppableProxy(yaml: config(mock, grace: 0.5)) { url, group, logs in
                let streamed = try await streamStarted(
                    url + "/v1/chat/completions", json: chat("m", Self.longPrompt, stream: true))
                async let plain = send(.POST, url + "/v1/chat/completions", json: chat("m", "FAULT:slow"))
                while mock.recorder.requests.count < 2 { try await Task.sleep(for: .milliseconds(10)) }
                await group.triggerGracefulShutdown()
                let stream = try await streamed.value
                #expect(stream.status == 200)
                #expect(stream.events.last?.isDone == false, "\(stream.chunks.count) chunks")
                #expect(stream.chunks.count < 60, "the stream was cut, not finished")
                let last = try #require(stream.chunks.last?["error"]?.objectValue)
                #expect(last["code"]?.stringValue == "server_shutting_down", "\(stream.text)")
                #expect(last["message"]?.stringValue?.contains("0.5 s grace period") == true)
                let answer = try await plain
                #expect(answer.status == 503, "\(answer.text)")
                #expect(answer.errorCode == "server_shutting_down")
                #expect(answer.headers.first(name: "retry-after") == "1")
                #expect(logs.lines.contains { $0.contains("grace period over") })
                #expect(!stream.text.contains("Fatal") && !answer.text.contains("Fatal"))
            }
        }
    }

    @Test func requestsThatFinishWithinTheGracePeriodCompleteAndNewConnectionsAreRefused() async throws {
        var options = MockUpstreamOptions()
        options.chunks = 12
        options.chunkInterval = .milliseconds(50)
        try await withMockUpstream(options) { mock in
            try await withStoppableProxy(yaml: config(mock, grace: 20)) { url, group, logs in
                async let streamed = send(.POST, url + "/v1/chat/completions", json: chat("m", "hi", stream: true))
                while mock.recorder.requests.isEmpty { try await Task.sleep(for: .milliseconds(10)) }
                await group.triggerGracefulShutdown()
                // The listener closes as draining starts: a new connection is refused.
                let fresh = HTTPClient(eventLoopGroupProvider: .singleton)
                var refused = false
                for _ in 0..<100 where !refused {
                    do {
                        _ = try await send(.GET, url + "/health/liveliness", timeout: .seconds(5), client: fresh)
                        try await Task.sleep(for: .milliseconds(20))
                    } catch {
                        refused = true
                    }
                }
                try await fresh.shutdown()
                #expect(refused, "the listener is closed while draining")
                let stream = try await streamed
                #expect(stream.status == 200)
                #expect(stream.events.last?.isDone == true, "\(stream.text)")
                #expect(stream.chunks.filter { $0["error"] != nil }.isEmpty)
                #expect(!logs.lines.contains { $0.contains("grace period over") })
            }
        }
    }
}

/// SIGTERM on the real binary: exit 0 after the grace period, streams ended with an error event.
@Suite(.serialized) struct ShutdownCLITests {
    @Test func sigtermEndsStreamsAfterTheGracePeriodAndExitsZero() async throws {
        var options = MockUpstreamOptions()
        options.chunks = 100
        options.chunkInterval = .milliseconds(100)
        try await withMockUpstream(options) { mock in
            let path = try temporaryFile(
                """
                model_list:
                  - model_name: m
                    litellm_params: {model: xai/grok-4, api_base: "\(mock.baseURL)", api_key: \(testKey)}
                """)
            let proxy = try RunningCommand(["serve", "--config", path, "--port", "0", "--grace-period", "0.3"])
            let url = try await proxy.line(startingWith: "listening on ").replacingOccurrences(of: "listening on ", with: "")
            let streamed = try await streamStarted(
                url + "/v1/chat/completions", json: chat("m", ShutdownTests.longPrompt, stream: true))
            let result = await proxy.stop()
            let stream = try await streamed.value
            #expect(result.status == 0, "\(result.stderr)")
            #expect(result.stderr.contains("grace period over"))
            #expect(stream.chunks.last?["error"]?.objectValue?["code"]?.stringValue == "server_shutting_down", "\(stream.text)")
        }
    }
}
