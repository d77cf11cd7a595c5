import AsyncHTTPClient
import Foundation
import NIOCore
import Testing

@testable import SwitchyardCore
@testable import SwitchyardServer

@Suite struct StreamingTests {
    func content(_ result: HTTPResult) -> String {
        result.chunks.compactMap {
            $0["choices"]?.arrayValue?.first?.objectValue?["delta"]?.objectValue?["content"]?.stringValue
        }.joined()
    }

    @Test func streamIsRelayedUnchangedWithCommentsEmptyDeltasAndReasoning() async throws {
        try await withMockUpstream { mock in
            try await withProxy(yaml: xaiConfig(mock: mock), environment: ["GROK_API_KEY": testKey]) { proxy in
                let request = chat(
                    "grok-code-fast-1", "stream me", stream: true, extra: ["stream_options": .object(["include_usage": true])])
                let viaProxy = try await send(.POST, proxy.url + "/v1/chat/completions", json: request)
                #expect(viaProxy.status == 200)
                #expect(viaProxy.headers.first(name: "content-type") == "text/event-stream")
                let direct = try await send(
                    .POST, mock.baseURL + "/chat/completions", json: request, headers: [("authorization", "Bearer \(testKey)")])
                // Same frames, byte for byte, apart from the per-response id and timestamp.
                func shape(_ result: HTTPResult) -> [String] {
                    result.events.map { event in
                        String(decoding: event.data ?? Array(": comment".utf8), as: UTF8.self)
                            .replacingOccurrences(of: #""id":"[^"]*""#, with: "ID", options: .regularExpression)
                            .replacingOccurrences(of: #""created":\d+"#, with: "T", options: .regularExpression)
                    }
                }
                #expect(shape(viaProxy) == shape(direct))
                #expect(viaProxy.events.first?.isCommentOnly == true, "the keepalive comment passes through")
                let deltas = viaProxy.chunks.compactMap { $0["choices"]?.arrayValue?.first?.objectValue?["delta"]?.objectValue }
                #expect(deltas.first?["role"] == "assistant")
                #expect(deltas.first?["reasoning_content"] != nil)
                #expect(deltas.contains { $0.isEmpty }, "empty deltas pass through")
                let usageChunk = try #require(viaProxy.chunks.last)
                #expect(usageChunk["choices"]?.arrayValue?.isEmpty == true)
                #expect(usageChunk["usage"]?.objectValue?["completion_tokens_details"] != nil)
                #expect(viaProxy.events.last?.isDone == true)
            }
        }
    }

    @Test func usageChunkTheProxyAskedForIsStrippedButStillAccounted() async throws {
        try await withMockUpstream { mock in
            try await withProxy(yaml: xaiConfig(mock: mock), environment: ["GROK_API_KEY": testKey]) { proxy in
                let result = try await send(
                    .POST, proxy.url + "/v1/chat/completions", json: chat("grok-code-fast-1", "count", stream: true),
                    headers: [("x-request-id", "stream-usage")])
                #expect(content(result) == "You said: count")
                #expect(!result.chunks.contains { $0["usage"] != nil }, "the client did not ask for usage")
                let upstream = try #require(mock.recorder.requests.last?.body?.objectValue)
                #expect(upstream["stream_options"]?.objectValue?["include_usage"] == true)
                try await waitFor {
                    proxy.logs.lines.contains { $0.contains("stream-usage") && $0.contains("completion_tokens") }
                }
            }
        }
    }

    @Test func streamWithoutDoneEndsWithOneErrorEventAndAWarning() async throws {
        try await withMockUpstream { mock in
            try await withProxy(yaml: xaiConfig(mock: mock), environment: ["GROK_API_KEY": testKey]) { proxy in
                let result = try await send(
                    .POST, proxy.url + "/v1/chat/completions", json: chat("grok-4", "FAULT:abrupt", stream: true))
                #expect(result.status == 200)
                let errors = result.chunks.filter { $0["error"] != nil }
                #expect(errors.count == 1)
                #expect(errors.first?["error"]?.objectValue?["code"] == "upstream_stream_truncated")
                #expect(result.chunks.last?["error"] != nil, "the error event is the last one")
                #expect(!result.events.contains { $0.isDone })
                try await waitFor { proxy.logs.lines.contains { $0.contains("stream ended without [DONE]") } }
            }
        }
    }

    @Test func emptyStreamIsA502BeforeAnyByteIsCommitted() async throws {
        try await withMockUpstream { mock in
            try await withProxy(yaml: xaiConfig(mock: mock), environment: ["GROK_API_KEY": testKey]) { proxy in
                let result = try await send(
                    .POST, proxy.url + "/v1/chat/completions", json: chat("grok-4", "FAULT:empty-stream", stream: true))
                #expect(result.status == 502)
                #expect(result.errorCode == "upstream_empty_stream")
            }
        }
    }

    @Test func jsonAnswerToAStreamRequestIs503() async throws {
        try await withMockUpstream { mock in
            try await withProxy(yaml: xaiConfig(mock: mock), environment: ["GROK_API_KEY": testKey]) { proxy in
                let result = try await send(
                    .POST, proxy.url + "/v1/chat/completions", json: chat("grok-4", "FAULT:json-on-stream", stream: true))
                #expect(result.status == 503)
                #expect(result.errorCode == "upstream_unavailable")
                #expect(result.errorMessage.contains("Timed out waiting for first token"))
            }
        }
    }

    @Test func earlyUpstreamErrorKeepsItsStatusOnAStream() async throws {
        try await withMockUpstream { mock in
            try await withProxy(yaml: xaiConfig(mock: mock), environment: ["GROK_API_KEY": testKey]) { proxy in
                let result = try await send(
                    .POST, proxy.url + "/v1/chat/completions", json: chat("grok-4", "FAULT:429-retry-after", stream: true))
                #expect(result.status == 429)
                #expect(result.headers.first(name: "retry-after") == "2")
            }
        }
    }

    @Test func midStreamUpstreamErrorEventIsMappedAndRedacted() async throws {
        try await withMockUpstream { mock in
            try await withProxy(yaml: xaiConfig(mock: mock), environment: ["GROK_API_KEY": testKey]) { proxy in
                let result = try await send(
                    .POST, proxy.url + "/v1/chat/completions", json: chat("grok-4", "FAULT:error-event", stream: true))
                #expect(result.status == 200)
                let error = try #require(result.chunks.first { $0["error"] != nil }?["error"]?.objectValue)
                #expect(error["code"]?.stringValue != nil)
                #expect(!result.text.contains(testKey))
            }
        }
    }

    @Test func keepaliveCommentsAreNotErrors() async throws {
        try await withMockUpstream { mock in
            try await withProxy(yaml: xaiConfig(mock: mock), environment: ["GROK_API_KEY": testKey]) { proxy in
                let result = try await send(
                    .POST, proxy.url + "/v1/chat/completions", json: chat("grok-4", "FAULT:keepalive", stream: true))
                #expect(result.status == 200)
                #expect(result.events.filter(\.isCommentOnly).count >= 3)
                #expect(result.events.last?.isDone == true)
                #expect(!result.chunks.contains { $0["error"] != nil })
            }
        }
    }

    @Test func clientDisconnectCancelsTheUpstreamRequest() async throws {
        var options = MockUpstreamOptions()
        // 100 deltas 50 ms apart (the mock splits the echoed prompt, so the prompt must be long enough): the
        // stream outlasts the disconnect by seconds even on a loaded machine.
        options.chunks = 100
        options.chunkInterval = .milliseconds(50)
        try await withMockUpstream(options) { mock in
            try await withProxy(yaml: xaiConfig(mock: mock), environment: ["GROK_API_KEY": testKey]) { proxy in
                var request = HTTPClientRequest(url: proxy.url + "/v1/chat/completions")
                request.method = .POST
                request.headers.add(name: "content-type", value: "application/json")
                let prompt = String(repeating: "long answer please ", count: 20)
                request.body = .bytes(ByteBuffer(bytes: chat("grok-4", prompt, stream: true).encodedBytes()))
                let response = try await HTTPClient.shared.execute(request, timeout: .seconds(30))
                #expect(response.status.code == 200)
                var received = 0
                for try await chunk in response.body {
                    received += chunk.readableBytes
                    if received > 200 { break }
                }
                // Leaving the loop drops the body and closes the connection to the proxy.
                try await waitFor { mock.recorder.streamsCancelled == 1 }
                #expect(mock.recorder.streamsCompleted == 0)
            }
        }
    }

    @Test func idleTimeoutMidStreamEndsWithAnErrorEvent() async throws {
        try await withMockUpstream { mock in
            let yaml = """
                model_list:
                  - model_name: g
                    litellm_params: {model: xai/grok-4, api_base: "\(mock.baseURL)", idle_timeout: 2}
                """
            try await withProxy(yaml: yaml, environment: ["GROK_API_KEY": testKey]) { proxy in
                let result = try await send(
                    .POST, proxy.url + "/v1/chat/completions", json: chat("g", "FAULT:stall", stream: true))
                #expect(result.status == 200)
                #expect(result.chunks.last?["error"]?.objectValue?["code"] == "upstream_timeout")
            }
        }
    }
}
