import Foundation
import NIOCore
import Testing

@testable import SwitchyardCore
@testable import SwitchyardServer

@Suite struct HeaderIsolationTests {
    /// 200 concurrent requests alternate between two providers with different keys and headers; at the
    /// upstream, each must carry only its own provider's key and headers.
    @Test func concurrentRequestsToTwoProvidersNeverShareHeaders() async throws {
        try await withMockUpstream { mock in
            let yaml = """
                model_list:
                  - model_name: via-xai
                    litellm_params:
                      model: xai/grok-4
                      api_base: \(mock.baseURL)
                      api_key: xai-key-provider-a-000000
                      extra_headers: {x-team: alpha}
                  - model_name: via-openai
                    litellm_params:
                      model: openai/grok-3-mini
                      api_base: \(mock.baseURL)
                      api_key: sk-key-provider-b-111111
                      extra_headers: {x-team: beta, x-only-b: "yes"}
                """
            try await withProxy(yaml: yaml, logLevel: .info) { proxy in
                let statuses = try await withThrowingTaskGroup(of: Int.self) { group in
                    for index in 0..<200 {
                        let alias = index.isMultiple(of: 2) ? "via-xai" : "via-openai"
                        group.addTask {
                            try await send(
                                .POST, proxy.url + "/v1/chat/completions", json: chat(alias, "request \(index)"),
                                headers: [("x-grok-conv-id", "conv-\(index)"), ("authorization", "Bearer client-\(index)")]
                            ).status
                        }
                    }
                    return try await group.reduce(into: [Int]()) { $0.append($1) }
                }
                #expect(statuses.allSatisfy { $0 == 200 })
                let requests = mock.recorder.requests
                #expect(requests.count == 200)
                for request in requests {
                    let body = try #require(request.body?.objectValue)
                    let prompt = MockCompletion.lastUserText(in: body)
                    let index = try #require(Int(prompt.split(separator: " ").last ?? ""))
                    if body["model"] == "grok-4" {
                        #expect(index.isMultiple(of: 2))
                        #expect(request.headers["authorization"] == "Bearer xai-key-provider-a-000000")
                        #expect(request.headers["x-team"] == "alpha")
                        #expect(request.headers["x-only-b"] == nil)
                        #expect(request.headers["x-grok-conv-id"] == "conv-\(index)")
                    } else {
                        #expect(!index.isMultiple(of: 2))
                        #expect(request.headers["authorization"] == "Bearer sk-key-provider-b-111111")
                        #expect(request.headers["x-team"] == "beta")
                        #expect(request.headers["x-only-b"] == "yes")
                        #expect(request.headers["x-grok-conv-id"] == nil, "xAI's conv id is not for other providers")
                    }
                }
            }
        }
    }

    /// The upstream request head is rendered as bytes by the proxy itself: exact framing, and no header with a
    /// line break (a key pasted with its newline, say) ever reaches the wire.
    @Test func upstreamRequestHeadIsRenderedExactlyAndRefusesLineBreaks() throws {
        let fields = [
            UpstreamHeaderSet.Field(name: "content-type", value: "application/json"),
            UpstreamHeaderSet.Field(name: "authorization", value: "Bearer xai-test-key"),
        ]
        let head = try UpstreamHTTPClient.renderHead(
            path: "/v1/chat/completions", host: "127.0.0.1:8080", headers: fields, contentLength: 42)
        #expect(
            String(buffer: head)
                == "POST /v1/chat/completions HTTP/1.1\r\nhost: 127.0.0.1:8080\r\ncontent-type: application/json\r\n"
                + "authorization: Bearer xai-test-key\r\ncontent-length: 42\r\n\r\n")
        // A body given is copied in right after the blank line, the whole request in one buffer.
        let body = "{\"model\":\"grok-code-fast-1\"}"
        let whole = try UpstreamHTTPClient.renderHead(
            path: "/v1/chat/completions", host: "h", headers: [], contentLength: body.utf8.count,
            appending: ByteBuffer(string: body))
        #expect(String(buffer: whole) == "POST /v1/chat/completions HTTP/1.1\r\nhost: h\r\ncontent-length: 28\r\n\r\n" + body)
        for bad in ["Bearer xai-test-key\n", "a\rb", "a\u{0}b"] {
            #expect(throws: UpstreamClientError.invalidHeader("authorization")) {
                _ = try UpstreamHTTPClient.renderHead(
                    path: "/", host: "h", headers: [UpstreamHeaderSet.Field(name: "authorization", value: bad)],
                    contentLength: 0)
            }
        }
        #expect(throws: UpstreamClientError.invalidURL("/a\r\nb")) {
            _ = try UpstreamHTTPClient.renderHead(path: "/a\r\nb", host: "h", headers: [], contentLength: 0)
        }
    }
}

@Suite struct PassedHeaderTests {
    @Test func onlyRateLimitAndRetryHeadersOfTheUpstreamPassInAnyCase() {
        for name in ["x-ratelimit-remaining-requests", "X-RateLimit-Limit-Tokens", "retry-after", "Retry-After", "RETRY-AFTER"] {
            #expect(UpstreamRelay.isPassed(name), "\(name)")
        }
        for name in ["", "x", "x-ratelimit", "x-request-id", "content-type", "Server", "set-cookie", "retry", "rx-ratelimit-a"] {
            #expect(!UpstreamRelay.isPassed(name), "\(name)")
        }
    }

    @Test func passedHeadersAreAppendedInLowerCaseWithTheirValues() {
        var parser = HTTPResponseParser()
        var upstream = HTTPResponseParser.Fields()
        let head =
            "HTTP/1.1 200 OK\r\nX-RateLimit-Remaining-Requests: 7\r\ncontent-type: application/json\r\n"
            + "retry-after: 2\r\nSet-Cookie: a=b\r\nX-RateLimit-Reset-Images:  3s \r\ncontent-length: 0\r\n\r\n"
        Array(head.utf8).withUnsafeBytes { raw in
            try? parser.parse(raw) { part in if case .head(let head) = part { upstream = head.fields } }
        }
        let fields = UpstreamRelay.passedHeaders(upstream, to: [.contentLength: "5"])
        #expect(
            fields.map(\.name.rawName) == [
                "Content-Length", "x-ratelimit-remaining-requests", "retry-after", "x-ratelimit-reset-images",
            ])
        #expect(fields.map(\.value) == ["5", "7", "2", "3s"])
    }

    @Test func aPassedNameIsTheSameWhetherItIsAKnownOneOrNot() {
        let names = [
            "X-RateLimit-Limit-Requests", "x-ratelimit-remaining-tokens", "RETRY-AFTER", "Retry-After-Ms",
            "x-ratelimit-reset-requestz", "X-Ratelimit-Tokens-Per-Day", "retry-after-s",
        ]
        for name in names {
            let made = Array(name.utf8).withUnsafeBytes { UpstreamRelay.passedName($0) }
            #expect(made?.rawName == name.lowercased(), "\(name)")
        }
        #expect(Array("x-ratelimit-a b".utf8).withUnsafeBytes { UpstreamRelay.passedName($0) } == nil)
    }
}
