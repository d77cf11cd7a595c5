import Foundation
import Testing

@testable import SwitchyardCore
@testable import SwitchyardServer

/// Tests that move a lot of data and would starve the timing of the tests around them: `./test.sh` runs them
/// after the rest, on their own (`SWITCHYARD_RUN_ALONE=1 swift test --skip-build --filter RunsAloneTests`), one at a
/// time.
@Suite(
    .serialized,
    .enabled(
        if: ProcessInfo.processInfo.environment["SWITCHYARD_RUN_ALONE"] == "1",
        "run on their own by ./test.sh (SWITCHYARD_RUN_ALONE=1)"))
struct RunsAloneTests {
    @Test func aClientThatStopsReadingHoldsTheUpstreamBack() async throws {
        // 16 MB of deltas, about twice what the sockets between the mock and the client hold (7 MB was seen): a
        // proxy that read on regardless would take it all into memory and let the mock finish while the client
        // reads nothing.
        var options = MockUpstreamOptions()
        options.chunks = 250
        options.paddingBytes = 16_000_000
        let total = 16_000_000
        try await withMockUpstream(options) { mock in
            try await withProxy(yaml: xaiConfig(mock: mock), environment: ["GROK_API_KEY": testKey]) { proxy in
                let connection = try RawConnection(port: proxy.port, receiveBuffer: 4096)
                defer { connection.close() }
                try connection.send(
                    RawConnection.post(
                        "/v1/chat/completions", chat("grok-code-fast-1", "hold on", stream: true),
                        extra: "x-request-id: held-1\r\nconnection: close\r\n"))
                try await waitFor { mock.recorder.streamBytesWritten > 0 }
                // The client reads nothing: the mock's writes must stop advancing well short of the whole answer.
                var written = mock.recorder.streamBytesWritten
                var stalled = false
                for _ in 0..<120 where !stalled {
                    try await Task.sleep(for: .milliseconds(500))
                    let now = mock.recorder.streamBytesWritten
                    stalled = now == written
                    written = now
                }
                #expect(stalled, "the mock kept writing")
                #expect(written < total * 3 / 4, "the mock wrote \(written) of \(total) bytes to a client reading none")
                #expect(!proxy.logs.lines.contains { $0.contains("\"request_id\":\"held-1\"") }, "the stream is not over")
                // Once the client reads, the whole answer arrives and the stream ends as usual.
                let (count, tail) = try await offPool { try connection.drainToEnd() }
                #expect(count > total, "\(count) bytes")
                #expect(tail.hasSuffix("data: [DONE]\n\n\r\n0\r\n\r\n"), "\(tail)")
                try await waitFor {
                    proxy.logs.lines.contains { $0.contains("\"request_id\":\"held-1\"") && $0.contains("\"status\":200") }
                }
                #expect(mock.recorder.streamsCompleted == 1)
            }
        }
    }

    @Test func aJSONAnswerLargerThanTheLimitIsAClear502() async throws {
        // A chunked answer says nothing of its size: the proxy reads it until it passes the limit (64 MiB), then
        // answers 502 and drops the connection rather than reading on.
        let limit = UpstreamRelay.maxJSONBytes
        let piece = String(repeating: "x", count: 1 << 20)
        var answer = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
        answer.reserveCapacity(limit + (2 << 20))
        for _ in 0...(limit >> 20) { answer += "100000\r\n" + piece + "\r\n" }
        answer += "0\r\n\r\n"
        try await withCannedUpstream(answer: answer) { upstream in
            try await withProxy(yaml: UpstreamWireTests().yaml(upstream.port)) { proxy in
                try await UpstreamWireTests.expectRefusedAsTooLarge(proxy: proxy, upstream: upstream)
            }
        }
    }
}
