import Foundation
import HTTPTypes
import NIOCore
import Testing

@testable import SwitchyardCore
@testable import SwitchyardServer

#if canImport(Glibc)
    import Glibc
#endif

/// The completion routes' own front (a channel handler ahead of Hummingbird): requests on one connection in
/// any mix with other routes, pipelined, closed, or left by the client mid-way.
@Suite struct CompletionFrontTests {
    @Test func pipelinedRequestsInAnyMixOfRoutesAreAnsweredInOrder() async throws {
        try await withMockUpstream { mock in
            try await withProxy(yaml: xaiConfig(mock: mock), environment: ["GROK_API_KEY": testKey]) { proxy in
                let connection = try RawConnection(port: proxy.port)
                defer { connection.close() }
                // Four requests in one write: the front answers completions itself and hands the rest to the
                // router, and the answers must still come back in the order asked.
                try connection.send(
                    RawConnection.post("/v1/chat/completions", chat("grok-code-fast-1", "one"))
                        + "GET /v1/models HTTP/1.1\r\nhost: x\r\n\r\n"
                        + RawConnection.post("/chat/completions/?trace=1", chat("grok-code-fast-1", "two"))
                        + RawConnection.post("/v1/chat/completions", chat("grok-code-fast-1", "three")))
                let answers = try await offPool { try connection.readResponses(4) }
                #expect(answers.map(\.status) == [200, 200, 200, 200])
                #expect(answers[0].body.contains("You said: one"))
                #expect(answers[1].body.contains("\"object\":\"list\""))
                #expect(answers[2].body.contains("You said: two"))
                #expect(answers[3].body.contains("You said: three"))
                for answer in answers {
                    #expect(answer.headers["server"] == "switchyard")
                    #expect(answer.headers["date"]?.hasSuffix(" GMT") == true)
                }
                // The same connection keeps serving, streams included.
                try connection.send(RawConnection.post("/v1/chat/completions", chat("grok-code-fast-1", "four", stream: true)))
                let stream = try #require(try await offPool { try connection.readResponses(1) }.first)
                #expect(stream.status == 200)
                #expect(stream.headers["content-type"] == "text/event-stream")
                #expect(stream.headers["x-switchyard-attempted-retries"] == "0")
                #expect(stream.headers["x-request-id"] != nil)
                #expect(stream.body.hasSuffix("data: [DONE]\n\n"), "\(stream.body)")
                let deltas = stream.body.components(separatedBy: "\n\n").filter { $0.contains("\"content\"") }
                #expect(deltas.count >= 2, "\(stream.body)")
                // The stream's chunks are framed by the front and its end by the encoder: the connection must
                // still be in step for the next answer.
                try connection.send(RawConnection.post("/v1/chat/completions", chat("grok-code-fast-1", "five")))
                let after = try #require(try await offPool { try connection.readResponses(1) }.first)
                #expect(after.status == 200)
                #expect(after.body.contains("You said: five"))
                // A stream behind a request Hummingbird answers goes to Hummingbird's router too, and is relayed
                // by its task (not on the event loop): it must end the same way.
                try connection.send(
                    "GET /v1/models HTTP/1.1\r\nhost: x\r\n\r\n"
                        + RawConnection.post("/v1/chat/completions", chat("grok-code-fast-1", "six", stream: true)))
                let routed = try await offPool { try connection.readResponses(2) }
                #expect(routed.map(\.status) == [200, 200])
                #expect(routed.last?.headers["content-type"] == "text/event-stream")
                #expect(routed.last?.body.hasSuffix("data: [DONE]\n\n") == true, "\(routed.last?.body ?? "")")
                let routedDeltas = (routed.last?.body ?? "").components(separatedBy: "\n\n").filter { $0.contains("\"content\"") }
                #expect(routedDeltas.count >= 2)
            }
        }
    }

    @Test func streamChunksAreFramedLikeHTTP1sEncoder() {
        func header(_ size: Int) -> String {
            var buffer = ByteBuffer()
            CompletionFront.writeChunkHeader(size, to: &buffer)
            return String(buffer: buffer)
        }
        #expect(header(1) == "1\r\n")
        #expect(header(15) == "f\r\n")
        #expect(header(16) == "10\r\n")
        #expect(header(0xabc) == "abc\r\n")
        #expect(header(1 << 20) == "100000\r\n")
        // The size line set in front of a chunk already written, in the room kept for it.
        for size in [1, 15, 16, 0xabc, 1 << 20, Int.max] {
            var buffer = ByteBuffer()
            buffer.writeRepeatingByte(0, count: CompletionFront.chunkSizeRoom)
            buffer.writeString("body")
            let start = CompletionFront.setChunkSize(size, endingAt: CompletionFront.chunkSizeRoom, in: &buffer)
            buffer.moveReaderIndex(to: start)
            #expect(String(buffer: buffer) == header(size) + "body", "\(size)")
        }
    }

    @Test func answerHeadsAreRenderedWithTheFramingTheyNeed() {
        func render(
            _ head: HTTPResponse, acceptsChunked: Bool = true, close: Bool = false
        ) -> (text: String, framing: CompletionFront.Framing) {
            var buffer = ByteBuffer()
            let framing = CompletionFront.renderHead(
                head, date: "Thu, 26 Nov 2026 06:30:00 GMT", server: "switchyard", acceptsChunked: acceptsChunked,
                close: close, into: &buffer)
            return (String(buffer: buffer), framing)
        }
        let json = render(
            HTTPResponse(
                status: .ok,
                headerFields: [
                    .contentType: "application/json", .contentLength: "42", HTTPField.Name("X-Request-Id")!: "r-1",
                    .date: "upstream's", .server: "upstream", .transferEncoding: "chunked", .connection: "keep-alive",
                ]))
        #expect(json.framing == .length)
        #expect(
            json.text
                == "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 42\r\nX-Request-Id: r-1\r\n"
                + "date: Thu, 26 Nov 2026 06:30:00 GMT\r\nserver: switchyard\r\n\r\n")
        let stream = render(HTTPResponse(status: .ok, headerFields: [.contentType: "text/event-stream"]))
        #expect(stream.framing == .chunked)
        #expect(stream.text.hasSuffix("server: switchyard\r\ntransfer-encoding: chunked\r\n\r\n"), "\(stream.text)")
        // An HTTP/1.0 client reads no chunks: the body ends when the connection does, and the head says so.
        let old = render(HTTPResponse(status: .ok, headerFields: [.contentType: "text/event-stream"]), acceptsChunked: false)
        #expect(old.framing == .untilClose)
        #expect(old.text.hasSuffix("server: switchyard\r\nconnection: close\r\n\r\n"), "\(old.text)")
        let closing = render(HTTPResponse(status: .tooManyRequests, headerFields: [.contentLength: "0"]), close: true)
        #expect(closing.framing == .length)
        #expect(closing.text.hasPrefix("HTTP/1.1 429 Too Many Requests\r\nContent-Length: 0\r\n"))
        #expect(closing.text.hasSuffix("connection: close\r\n\r\n"))
        // Errors made from a bare code get the standard reason phrase; a phrase of their own is kept.
        let bare = render(HTTPResponse(status: .init(code: 404), headerFields: [.contentLength: "0"]))
        #expect(bare.text.hasPrefix("HTTP/1.1 404 Not Found\r\n"), "\(bare.text)")
        let own = render(HTTPResponse(status: .init(code: 404, reasonPhrase: "Nowhere"), headerFields: [.contentLength: "0"]))
        #expect(own.text.hasPrefix("HTTP/1.1 404 Nowhere\r\n"), "\(own.text)")
        let unknown = render(HTTPResponse(status: .init(code: 599), headerFields: [.contentLength: "0"]))
        #expect(unknown.text.hasPrefix("HTTP/1.1 599 \r\n"), "\(unknown.text)")
        // No body, no length: as NIO's encoder, a 204's content-length is dropped.
        let empty = render(HTTPResponse(status: .noContent, headerFields: [.contentLength: "0"]))
        #expect(empty.framing == .none)
        #expect(!empty.text.lowercased().contains("content-length"))
        #expect(!empty.text.contains("transfer-encoding"))
        #expect(render(HTTPResponse(status: .notModified)).framing == .none)
        // A head past the first guess of its size is rendered whole.
        let long = String(repeating: "x", count: 3000)
        let big = render(HTTPResponse(status: .ok, headerFields: [HTTPField.Name("x-long")!: long, .contentLength: "0"]))
        #expect(big.text.hasPrefix("HTTP/1.1 200 OK\r\nx-long: \(long)\r\nContent-Length: 0\r\ndate: "), "\(big.text.prefix(60))")
        #expect(big.text.hasSuffix("server: switchyard\r\n\r\n"))
    }

    @Test func anHTTP10ClientGetsAStreamDelimitedByClosingTheConnection() async throws {
        try await withMockUpstream { mock in
            try await withProxy(yaml: xaiConfig(mock: mock), environment: ["GROK_API_KEY": testKey]) { proxy in
                let connection = try RawConnection(port: proxy.port)
                defer { connection.close() }
                let request = RawConnection.post("/v1/chat/completions", chat("grok-code-fast-1", "old", stream: true))
                try connection.send(request.replacingOccurrences(of: " HTTP/1.1\r\n", with: " HTTP/1.0\r\n"))
                let text = String(decoding: try await offPool { try connection.readToEnd() }, as: UTF8.self)
                let parts = text.components(separatedBy: "\r\n\r\n")
                let head = parts[0].lowercased()
                #expect(head.hasPrefix("http/1.1 200 ok"), "\(text)")
                #expect(head.contains("connection: close"))
                #expect(!head.contains("transfer-encoding"), "HTTP/1.0 has no chunked coding")
                let body = parts.dropFirst().joined(separator: "\r\n\r\n")
                let lines = body.split(separator: "\n", omittingEmptySubsequences: true)
                #expect(lines.count > 3)
                #expect(
                    lines.allSatisfy { $0.hasPrefix("data: ") || $0.hasPrefix(":") },
                    "the body is the events themselves, no chunk sizes: \(body.prefix(80))")
                #expect(body.hasSuffix("data: [DONE]\n\n"))
            }
        }
    }

    @Test func expectContinueIsAnsweredBeforeTheBodyIsSent() async throws {
        try await withMockUpstream { mock in
            try await withProxy(yaml: xaiConfig(mock: mock), environment: ["GROK_API_KEY": testKey]) { proxy in
                let connection = try RawConnection(port: proxy.port)
                defer { connection.close() }
                let request = RawConnection.post(
                    "/v1/chat/completions", chat("grok-code-fast-1", "after continue"), extra: "expect: 100-continue\r\n")
                let split = try #require(request.range(of: "\r\n\r\n"))
                // Only the head: a client that expects 100-continue waits for it before sending the body.
                try connection.send(String(request[..<split.upperBound]))
                let interim = try #require(try await offPool { try connection.readResponses(1) }.first)
                #expect(interim.status == 100)
                try connection.send(String(request[split.upperBound...]))
                let answer = try #require(try await offPool { try connection.readResponses(1) }.first)
                #expect(answer.status == 200)
                #expect(answer.body.contains("You said: after continue"))
            }
        }
    }

    @Test func connectionCloseEndsTheConnectionAfterTheAnswer() async throws {
        try await withMockUpstream { mock in
            try await withProxy(yaml: xaiConfig(mock: mock), environment: ["GROK_API_KEY": testKey]) { proxy in
                let connection = try RawConnection(port: proxy.port)
                defer { connection.close() }
                try connection.send(
                    RawConnection.post("/v1/chat/completions", chat("grok-code-fast-1", "bye"), extra: "connection: close\r\n"))
                let answer = try #require(try await offPool { try connection.readResponses(1) }.first)
                #expect(answer.status == 200)
                #expect(
                    try await offPool { try connection.readToEnd() }.isEmpty, "the proxy closes the connection after the answer")
            }
        }
    }

    @Test func aMalformedRequestBehindACompletionIsAnsweredAfterIt() async throws {
        try await withMockUpstream { mock in
            try await withProxy(yaml: xaiConfig(mock: mock), environment: ["GROK_API_KEY": testKey]) { proxy in
                let connection = try RawConnection(port: proxy.port)
                defer { connection.close() }
                try connection.send(
                    RawConnection.post("/v1/chat/completions", chat("grok-code-fast-1", "first")) + "NOT AN HTTP REQUEST\r\n\r\n")
                let answers = try await offPool { try connection.readResponses(2) }
                #expect(answers.map(\.status) == [200, 400], "the parse error's 400 waits for the answer before it")
                #expect(answers.first?.body.contains("You said: first") == true)
                #expect(try await offPool { try connection.readToEnd() }.isEmpty)
            }
        }
    }

    @Test func aBodyLargerThanTheLimitIsRefusedAndTheProxyKeepsServing() async throws {
        try await withMockUpstream { mock in
            let yaml = xaiConfig(mock: mock) + "general_settings:\n  max_request_size_mb: 0.001\n"
            try await withProxy(yaml: yaml, environment: ["GROK_API_KEY": testKey]) { proxy in
                let connection = try RawConnection(port: proxy.port)
                defer { connection.close() }
                let big = chat("grok-code-fast-1", String(repeating: "x", count: 4000))
                try connection.send(
                    RawConnection.post("/v1/chat/completions", big)
                        + RawConnection.post("/v1/chat/completions", chat("grok-code-fast-1", "small")))
                let answers = try await offPool { try connection.readResponses(2) }
                #expect(answers.first?.status == 413, "\(answers.first?.body ?? "")")
                #expect(answers.first?.body.contains("\"error\"") == true)
                #expect(answers.last?.status == 200)
            }
        }
    }

    @Test func aClientThatLeavesMidRequestIsLoggedAsClosedAndTheUpstreamCallEnds() async throws {
        try await withMockUpstream { mock in
            try await withProxy(yaml: xaiConfig(mock: mock), environment: ["GROK_API_KEY": testKey]) { proxy in
                let connection = try RawConnection(port: proxy.port)
                try connection.send(
                    RawConnection.post(
                        "/v1/chat/completions", chat("grok-code-fast-1", "FAULT:slow"), extra: "x-request-id: gone-1\r\n"))
                try await waitFor { !mock.recorder.requests.isEmpty }
                connection.close()
                // The mock would answer after 3 s (a 200 in the log); the proxy ends the call when the client leaves.
                try await waitFor {
                    proxy.logs.lines.contains { $0.contains("\"request_id\":\"gone-1\"") && $0.contains("\"status\":499") }
                }
                let result = try await send(
                    .POST, proxy.url + "/v1/chat/completions", json: chat("grok-code-fast-1", "still here"))
                #expect(result.status == 200)
            }
        }
    }

    @Test func hummingbirdsAnswersStayInStepAfterTheFrontsOwn() async throws {
        // The front's requests never reach NIO's decoder and encoder: an answer to HEAD from Hummingbird is paired
        // with the HEAD, not with a completion the encoder never saw (which dropped the body of the answer after).
        try await withMockUpstream { mock in
            try await withProxy(yaml: xaiConfig(mock: mock), environment: ["GROK_API_KEY": testKey]) { proxy in
                let connection = try RawConnection(port: proxy.port)
                defer { connection.close() }
                for round in 0..<3 {
                    try connection.send(RawConnection.post("/v1/chat/completions", chat("grok-code-fast-1", "r\(round)")))
                    #expect(try await offPool { try connection.readResponses(1) }.first?.status == 200)
                    try connection.send("HEAD /health/liveliness HTTP/1.1\r\nhost: x\r\n\r\n")
                    _ = try await offPool { try connection.readResponses(1, toHead: true) }
                    try connection.send("GET /health/liveliness HTTP/1.1\r\nhost: x\r\n\r\n")
                    let alive = try await offPool { try connection.readResponses(1) }.first
                    #expect(alive?.status == 200)
                    #expect(alive?.body == #"{"status":"alive"}"#, "round \(round)")
                }
            }
        }
    }

    @Test func aCompletionCutAnywhereIsReadTheSame() async throws {
        try await withMockUpstream { mock in
            try await withProxy(yaml: xaiConfig(mock: mock), environment: ["GROK_API_KEY": testKey]) { proxy in
                let connection = try RawConnection(port: proxy.port)
                defer { connection.close() }
                let request = RawConnection.post("/v1/chat/completions", chat("grok-code-fast-1", "in pieces"))
                let bytes = Array(request.utf8)
                for cut in stride(from: 1, to: bytes.count, by: 9) {
                    // Two sends, two segments (no Nagle delay): usually two reads for the proxy, though it may
                    // read both at once; the answer must be the same either way.
                    try connection.send(String(decoding: bytes[..<cut], as: UTF8.self))
                    try connection.send(String(decoding: bytes[cut...], as: UTF8.self))
                    let answer = try await offPool { try connection.readResponses(1) }.first
                    #expect(answer?.status == 200, "cut at \(cut)")
                    #expect(answer?.body.contains("You said: in pieces") == true, "cut at \(cut)")
                    #expect(answer?.headerLines.contains { $0.hasPrefix("date: ") } == true, "answered by the front")
                }
            }
        }
    }

    @Test func requestsTheFrontDoesNotReadGoToHummingbirdAndTheConnectionKeepsServing() async throws {
        try await withMockUpstream { mock in
            try await withProxy(yaml: xaiConfig(mock: mock), environment: ["GROK_API_KEY": testKey]) { proxy in
                let connection = try RawConnection(port: proxy.port)
                defer { connection.close() }
                // A chunked body: the decoder reads it (and the rest of the connection), Hummingbird's route answers.
                let body = String(decoding: chat("grok-code-fast-1", "chunked").encodedBytes(), as: UTF8.self)
                let split = body.index(body.startIndex, offsetBy: 10)
                let first = String(body[..<split])
                let second = String(body[split...])
                try connection.send(
                    "POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
                        + "transfer-encoding: chunked\r\n\r\n"
                        + "\(String(first.utf8.count, radix: 16))\r\n\(first)\r\n"
                        + "\(String(second.utf8.count, radix: 16))\r\n\(second)\r\n0\r\n\r\n"
                        + RawConnection.post("/v1/chat/completions", chat("grok-code-fast-1", "after")))
                let answers = try await offPool { try connection.readResponses(2) }
                #expect(answers.map(\.status) == [200, 200])
                #expect(answers.first?.body.contains("You said: chunked") == true)
                #expect(answers.first?.headerLines.contains { $0.hasPrefix("Date: ") } == true, "answered via the decoder")
                #expect(answers.last?.body.contains("You said: after") == true)
                // Differing lengths are the decoder's to refuse: a 400, and the connection closes.
                let other = try RawConnection(port: proxy.port)
                defer { other.close() }
                try other.send(
                    "POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-length: 2\r\ncontent-length: 3\r\n\r\n{}")
                #expect(try await offPool { try other.readResponses(1) }.first?.status == 400)
                #expect(try await offPool { try other.readToEnd() }.isEmpty)
            }
        }
    }

    @Test func aBodyCutShortIsTheClientsErrorNotTheUpstreams() async throws {
        try await withMockUpstream { mock in
            try await withProxy(yaml: xaiConfig(mock: mock), environment: ["GROK_API_KEY": testKey]) { proxy in
                // A chunked body (read by the decoder and Hummingbird) whose sender stops mid-chunk: a 400 naming
                // the body, where it was a 502 blaming the upstream ("could not reach the upstream"), found by
                // `mangledRequestsLeaveTheProxyServing`. Nothing reaches the upstream.
                let connection = try RawConnection(port: proxy.port)
                defer { connection.close() }
                try connection.send(
                    "POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
                        + "transfer-encoding: chunked\r\n\r\n20\r\n{\"model\":\"grok-code-fast-1\"")
                connection.finishSending()
                let answer = try #require(try await offPool { try connection.readResponses(1) }.first)
                #expect(answer.status == 400, "\(answer.body)")
                #expect(answer.body.contains("\"code\":\"invalid_request_body\""), "\(answer.body)")
                #expect(answer.body.contains("\"type\":\"invalid_request_error\""), "\(answer.body)")
                #expect(mock.recorder.requests.isEmpty)
            }
        }
    }

    @Test func mangledRequestsLeaveTheProxyServing() async throws {
        try await withMockUpstream { mock in
            try await withProxy(yaml: xaiConfig(mock: mock), environment: ["GROK_API_KEY": testKey]) { proxy in
                // Requests with bytes replaced, dropped or duplicated, each on its own connection (`connection:
                // close`, so the proxy ends it after an answer): whatever the front, the decoder or the engine
                // make of them, each connection ends with nothing or with HTTP answers, and the proxy goes on
                // serving. Every other request is also cut short and its sending side ended.
                let close = "connection: close\r\n"
                let valid = [
                    RawConnection.post("/v1/chat/completions", chat("grok-code-fast-1", "mangled"), extra: close),
                    RawConnection.post("/chat/completions", chat("grok-code-fast-1", "mangled", stream: true), extra: close),
                    "GET /v1/models HTTP/1.1\r\nhost: x\r\n\r\n"
                        + RawConnection.post("/v1/chat/completions", chat("grok-code-fast-1", "two"), extra: close),
                ].map { Array($0.utf8) }
                let alphabet = Array(" \r\n:{}\",0123456789-\t\u{0}\u{7F}".utf8) + [0xFF, 0x80]
                var random = Mangler(seed: 0xBAD5EED)
                var statuses: [String: Int] = [:]
                for round in 0..<150 {
                    let cut = round % 2 == 1
                    var bytes = valid[round % valid.count]
                    random.mangle(&bytes, alphabet: alphabet)
                    if cut { bytes.removeSubrange(Int(random.next() % UInt64(bytes.count))...) }
                    // A request left waiting for bytes that never come (a longer length, a head whose end was
                    // mangled) is given up on by the client after a second.
                    let connection = try RawConnection(port: proxy.port, timeout: cut ? 10 : 1)
                    defer { connection.close() }
                    try connection.send(bytes: bytes)
                    if cut { connection.finishSending() }
                    guard let reply = try? await offPool({ try connection.readToEnd() }) else {
                        statuses["waiting", default: 0] += 1
                        continue
                    }
                    #expect(reply.isEmpty || reply.starts(with: Array("HTTP/1.".utf8)), "round \(round)")
                    let status = reply.count >= 12 ? String(decoding: reply[9..<12], as: UTF8.self) : "short"
                    statuses[reply.isEmpty ? "closed" : status, default: 0] += 1
                }
                // The mutations leave some requests whole (answered 200), break others (answered 4xx), and
                // leave a few waiting: all three kinds must be there for the test to mean anything.
                #expect(statuses["200", default: 0] >= 10, "\(statuses)")
                #expect(statuses.filter { $0.key.hasPrefix("4") }.values.reduce(0, +) >= 10, "\(statuses)")
                #expect(statuses["waiting", default: 0] <= 25, "\(statuses)")
                let connection = try RawConnection(port: proxy.port)
                defer { connection.close() }
                try connection.send(RawConnection.post("/v1/chat/completions", chat("grok-code-fast-1", "still here")))
                let answer = try await offPool { try connection.readResponses(1) }.first
                #expect(answer?.status == 200)
                #expect(answer?.body.contains("You said: still here") == true)
            }
        }
    }

    @Test func completionRoutesAreRecognizedExactly() {
        #expect(CompletionFront.surface(method: .POST, path: "/v1/chat/completions") == .chatCompletions)
        #expect(CompletionFront.surface(method: .POST, path: "/chat/completions/") == .chatCompletions)
        #expect(CompletionFront.surface(method: .POST, path: "/v1/completions?x=1") == .completions)
        #expect(CompletionFront.surface(method: .POST, path: "/embeddings") == .embeddings)
        #expect(CompletionFront.surface(method: .GET, path: "/v1/chat/completions") == nil)
        #expect(CompletionFront.surface(method: .POST, path: "/v1/chat/completionsx") == nil)
        #expect(CompletionFront.surface(method: .POST, path: "/v2/chat/completions") == nil)
        #expect(CompletionFront.surface(method: .POST, path: "/v1/v1/chat/completions") == nil)
        #expect(CompletionFront.surface(method: .POST, path: nil) == nil)
        #expect(CompletionFront.surface(method: .POST, path: "/v1/responses") == .responses)
    }
}

/// Runs blocking socket calls on a thread of their own: on the task pool they would hold one of its few threads,
/// which the proxy and the mock in this process need to answer.
func offPool<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        Thread.detachNewThread { continuation.resume(with: Result { try body() }) }
    }
}

/// A plain TCP connection speaking HTTP/1.1 by hand, for what an HTTP client library will not do (pipelining).
final class RawConnection: @unchecked Sendable {
    struct Answer {
        let status: Int
        let headers: [String: String]
        let body: String
        /// The header lines as sent (the front writes `date` and `server` in lower case, NIO's encoder does not).
        var headerLines: [String] = []
    }

    private let fd: Int32
    private var pending: [UInt8] = []

    /// A connection to `port`; `receiveBuffer` sets the socket's receive buffer (small, for a client that reads
    /// slowly); a read that waits `timeout` seconds fails.
    init(port: Int, receiveBuffer: Int32? = nil, timeout seconds: Int = 10) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw RawConnectionError.failed("socket") }
        var timeout = timeval(tv_sec: seconds, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        // Each send goes out at once, as its own segment: pieces sent apart reach the proxy apart.
        var noDelay: Int32 = 1
        setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &noDelay, socklen_t(MemoryLayout<Int32>.size))
        if var size = receiveBuffer {
            setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, socklen_t(MemoryLayout<Int32>.size))
        }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else { throw RawConnectionError.failed("connect") }
    }

    static func post(_ path: String, _ body: JSONValue, extra: String = "") -> String {
        let text = String(decoding: body.encodedBytes(), as: UTF8.self)
        return "POST \(path) HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: \(text.utf8.count)\r\n"
            + "\(extra)\r\n\(text)"
    }

    func send(_ text: String) throws {
        try send(bytes: Array(text.utf8))
    }

    func send(bytes: [UInt8]) throws {
        var offset = 0
        while offset < bytes.count {
            let sent = bytes[offset...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            guard sent > 0 else { throw RawConnectionError.failed("send") }
            offset += sent
        }
    }

    func close() { _ = Glibc.close(fd) }

    /// Whether bytes (or the peer's close) are waiting to be read, without waiting.
    var hasSomethingToRead: Bool { waitReadable(milliseconds: 0) }

    /// Whether there is something to read (or the peer closed) within `milliseconds`.
    func waitReadable(milliseconds: Int32) -> Bool {
        var entry = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        return poll(&entry, 1, milliseconds) > 0
    }

    /// Ends the sending side (the peer reads the end of the stream); answers can still be read.
    func finishSending() { _ = shutdown(fd, Int32(SHUT_WR)) }

    /// Everything until the peer closes (or the read times out).
    func readToEnd() throws -> [UInt8] {
        while try fill() {}
        defer { pending = [] }
        return pending
    }

    /// Reads until the peer closes, keeping only a count and the last 64 bytes (for answers too large to hold).
    func drainToEnd() throws -> (count: Int, tail: String) {
        var count = pending.count
        var tail = Array(pending.suffix(64))
        pending = []
        var buffer = [UInt8](repeating: 0, count: 1 << 20)
        while true {
            let read = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if read < 0 { throw RawConnectionError.failed("recv (timed out?) after \(count) bytes") }
            if read == 0 { break }
            count += read
            tail = Array((tail + buffer[0..<read]).suffix(64))
        }
        return (count, String(decoding: tail, as: UTF8.self))
    }

    /// Reads `count` whole answers (content-length or chunked bodies; none at all for answers to `HEAD`).
    func readResponses(_ count: Int, toHead: Bool = false) throws -> [Answer] {
        try (0..<count).map { _ in try readResponse(toHead: toHead) }
    }

    private func fill() throws -> Bool {
        var buffer = [UInt8](repeating: 0, count: 65536)
        let read = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        if read < 0 {
            throw RawConnectionError.failed("recv (timed out?) after: \(String(decoding: pending.prefix(300), as: UTF8.self))")
        }
        pending += buffer[0..<read]
        return read > 0
    }

    private func line() throws -> String {
        while true {
            if let end = pending.firstIndex(of: 0x0A) {
                let text = String(decoding: pending[..<end], as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
                pending.removeFirst(end + 1)
                return text
            }
            guard try fill() else { throw RawConnectionError.failed("closed mid-answer") }
        }
    }

    private func bytes(_ count: Int) throws -> [UInt8] {
        while pending.count < count {
            guard try fill() else { throw RawConnectionError.failed("closed mid-body") }
        }
        defer { pending.removeFirst(count) }
        return Array(pending[0..<count])
    }

    private func readResponse(toHead: Bool) throws -> Answer {
        let statusLine = try line()
        let status = Int(statusLine.split(separator: " ").dropFirst().first ?? "") ?? 0
        var headers: [String: String] = [:]
        var headerLines: [String] = []
        while true {
            let header = try line()
            if header.isEmpty { break }
            headerLines.append(header)
            if let colon = header.firstIndex(of: ":") {
                headers[header[..<colon].lowercased()] = header[header.index(after: colon)...].trimmingCharacters(
                    in: .whitespaces)
            }
        }
        var body: [UInt8] = []
        if toHead {
            return Answer(status: status, headers: headers, body: "", headerLines: headerLines)
        } else if let length = headers["content-length"].flatMap({ Int($0) }) {
            body = try bytes(length)
        } else if headers["transfer-encoding"]?.contains("chunked") == true {
            while true {
                let sizeLine = try line()
                guard let size = Int(sizeLine, radix: 16) else {
                    throw RawConnectionError.failed("bad chunk size line: \(sizeLine)")
                }
                if size == 0 {
                    guard try line().isEmpty else { throw RawConnectionError.failed("trailer after the last chunk") }
                    break
                }
                body += try bytes(size)
                guard try line().isEmpty else { throw RawConnectionError.failed("chunk not followed by CRLF") }
            }
        }
        return Answer(status: status, headers: headers, body: String(decoding: body, as: UTF8.self), headerLines: headerLines)
    }
}

enum RawConnectionError: Error {
    case failed(String)
}
