import Foundation
import NIOCore
import NIOPosix
import Synchronization
import Testing

@testable import SwitchyardCore
@testable import SwitchyardServer

/// The upstream leg's HTTP/1.1 reading, against an upstream that answers with exact bytes: answers cut into
/// single bytes, interim responses, bodies delimited by the close, stray bytes on an idle connection, and
/// answers that are not HTTP at all (a clear 502, and the proxy keeps serving).
@Suite struct UpstreamWireTests {
    static let completion =
        #"{"id":"chatcmpl-1","object":"chat.completion","created":1,"model":"grok-3","choices":[{"index":0,"#
        + #""message":{"role":"assistant","content":"exact bytes"},"finish_reason":"stop"}],"#
        + #""usage":{"prompt_tokens":3,"completion_tokens":2,"total_tokens":5}}"#

    static func chunked(_ text: String, extensions: Bool = false) -> String {
        let bytes = Array(text.utf8)
        var out = ""
        for start in stride(from: 0, to: bytes.count, by: 40) {
            let piece = bytes[start..<min(start + 40, bytes.count)]
            out += String(piece.count, radix: 16) + (extensions ? ";n=v" : "") + "\r\n" + String(decoding: piece, as: UTF8.self)
            out += "\r\n"
        }
        return out + "0\r\n\r\n"
    }

    func yaml(_ port: Int) -> String {
        """
        model_list:
          - model_name: canned
            litellm_params: {model: openai/grok-3, api_base: "http://127.0.0.1:\(port)/v1", api_key: \(testKey)}
          - model_name: mock-echo
            litellm_params: {model: mock/echo}
        """
    }

    @Test func answersCutIntoSingleBytesAreRelayedWhole() async throws {
        let answer =
            "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Type: application/json\r\nX-RateLimit-Remaining-Requests: 7\r\n"
            + "Transfer-Encoding: chunked\r\n\r\n" + Self.chunked(Self.completion, extensions: true)
        try await withCannedUpstream(answer: answer, bytesPerWrite: 1) { upstream in
            try await withProxy(yaml: yaml(upstream.port)) { proxy in
                for _ in 0..<2 {
                    let result = try await send(.POST, proxy.url + "/v1/chat/completions", json: chat("canned", "hi"))
                    #expect(result.status == 200, "\(result.text)")
                    #expect(result.text == Self.completion)
                    #expect(result.headers.first(name: "x-ratelimit-remaining-requests") == "7")
                }
                #expect(upstream.connections == 1, "the connection is kept between the two requests")
            }
        }
    }

    @Test func bodiesDelimitedByTheCloseAreRelayed() async throws {
        let json = "HTTP/1.0 200 OK\r\nContent-Type: application/json\r\n\r\n" + Self.completion
        try await withCannedUpstream(answer: json, closeAfter: true) { upstream in
            try await withProxy(yaml: yaml(upstream.port)) { proxy in
                let result = try await send(.POST, proxy.url + "/v1/chat/completions", json: chat("canned", "hi"))
                #expect(result.status == 200, "\(result.text)")
                #expect(result.text == Self.completion)
            }
        }
        let events =
            #"data: {"id":"c","object":"chat.completion.chunk","created":1,"model":"grok-3","choices":[{"index":0,"#
            + #""delta":{"content":"streamed"}}]}"# + "\n\ndata: [DONE]\n\n"
        let stream = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\n" + events
        try await withCannedUpstream(answer: stream, bytesPerWrite: 16, closeAfter: true) { upstream in
            try await withProxy(yaml: yaml(upstream.port)) { proxy in
                let result = try await send(
                    .POST, proxy.url + "/v1/chat/completions", json: chat("canned", "hi", stream: true))
                #expect(result.status == 200)
                #expect(
                    result.chunks.first?["choices"]?.arrayValue?.first?.objectValue?["delta"]?.objectValue?["content"]
                        == "streamed")
                #expect(result.events.last?.isDone == true)
            }
        }
    }

    @Test(arguments: [
        ("SSH-2.0-OpenSSH_9.2p1\r\n", "malformed status line"),
        ("HTTP/1.1 200 OK\nContent-Type: application/json\n\n{}", "bare LF"),
        ("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n", "both Content-Length"),
        ("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", "invalid chunk size"),
    ])
    func answersThatAreNotHTTPAreAClear502(_ answer: String, _ reason: String) async throws {
        try await withCannedUpstream(answer: answer) { upstream in
            try await withProxy(yaml: yaml(upstream.port)) { proxy in
                let result = try await send(.POST, proxy.url + "/v1/chat/completions", json: chat("canned", "hi"))
                #expect(result.status == 502)
                #expect(result.errorCode == "upstream_bad_response")
                #expect(result.errorMessage.contains("not valid HTTP/1.1"), "\(result.errorMessage)")
                #expect(result.errorMessage.contains(reason), "\(result.errorMessage)")
                let other = try await send(.POST, proxy.url + "/v1/chat/completions", json: chat("mock-echo", "still here"))
                #expect(other.status == 200)
            }
        }
    }

    /// A kept-alive connection that the upstream closes after reading the whole request, before answering: the
    /// upstream may have the request (and bill it), so it is not sent again on a new connection by surprise; it is
    /// an attempt like any other, retried only under num_retries, and logged.
    @Test(arguments: [0, 1])
    func aRequestTheUpstreamMayHaveReceivedIsNotSentTwiceBySurprise(_ retries: Int) async throws {
        let body = #"{"id":"ok","object":"chat.completion","choices":[]}"#
        let answer = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\n\r\n" + body
        try await withCannedUpstream(answer: answer) { upstream in
            let config = yaml(upstream.port) + "\nrouter_settings: {num_retries: \(retries), retry_after: 0.01}\n"
            try await withProxy(yaml: config) { proxy in
                let url = proxy.url + "/v1/chat/completions"
                #expect(try await send(.POST, url, json: chat("canned", "hi")).status == 200)
                #expect(upstream.connections == 1)
                upstream.closeAfterReadingNext()
                let result = try await send(.POST, url, json: chat("canned", "hi"))
                if retries == 0 {
                    #expect(result.status == 502)
                    #expect(result.errorCode == "upstream_unreachable")
                    #expect(result.errorMessage.contains("after the request was sent"), "\(result.errorMessage)")
                    #expect(upstream.requests == 2, "sent once, not again on a new connection")
                } else {
                    #expect(result.status == 200, "\(result.text)")
                    #expect(result.headers.first(name: "x-switchyard-attempted-retries") == "1")
                    #expect(upstream.requests == 3, "the second attempt is the retry the config allows")
                }
                try await waitFor { proxy.logs.lines.contains { $0.contains("not re-sent") } }
            }
        }
    }

    /// A kept-alive connection the upstream closed while it sat in the pool is found closed before the request
    /// is written: the request goes on a new connection, once.
    @Test func aPooledConnectionClosedBeforeWritingIsReplacedWithoutAnAttempt() async throws {
        let body = #"{"id":"ok","object":"chat.completion","choices":[]}"#
        let answer = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\n\r\n" + body
        try await withCannedUpstream(answer: answer, closeAfter: true) { upstream in
            try await withProxy(yaml: yaml(upstream.port)) { proxy in
                let url = proxy.url + "/v1/chat/completions"
                for round in 1...3 {
                    let result = try await send(.POST, url, json: chat("canned", "hi"))
                    #expect(result.status == 200, "\(round): \(result.text)")
                    #expect(result.headers.first(name: "x-switchyard-attempted-retries") == "0")
                    #expect(upstream.requests == round)
                }
            }
        }
    }

    @Test(arguments: [
        (
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 200\r\n\r\n{\"id\":\"cut",
            "upstream_bad_response",
            "closed before the answer's end"
        ),
        (
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n",
            "upstream_bad_response", "closed before the answer's end"
        ),
        ("", "upstream_unreachable", "closed after the request was sent"),
    ])
    func anAnswerCutShortByTheCloseSaysSo(_ answer: String, _ code: String, _ reason: String) async throws {
        // Part of an answer and then the close is a broken answer, not an upstream that could not be reached
        // (which is what the proxy said of both before, found by `mangledUpstreamAnswersEnd…`).
        try await withCannedUpstream(answer: answer, closeAfter: true) { upstream in
            try await withProxy(yaml: yaml(upstream.port)) { proxy in
                let result = try await send(.POST, proxy.url + "/v1/chat/completions", json: chat("canned", "hi"))
                #expect(result.status == 502)
                #expect(result.errorCode == code, "\(result.errorMessage)")
                #expect(result.errorMessage.contains(reason), "\(result.errorMessage)")
            }
        }
    }

    @Test(arguments: [
        // An upstream that dropped its Transfer-Encoding header: the chunk framing is read as the body.
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n28\r\n{\"id\":\"x\"}\r\n0\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 9\r\n\r\nnot json!",
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n[]",
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 0\r\n\r\n",
    ])
    func aSuccessfulAnswerThatIsNotAJSONObjectIsA502(_ answer: String) async throws {
        try await withCannedUpstream(answer: answer, closeAfter: true) { upstream in
            try await withProxy(yaml: yaml(upstream.port)) { proxy in
                let result = try await send(.POST, proxy.url + "/v1/chat/completions", json: chat("canned", "hi"))
                #expect(result.status == 502, "\(result.text)")
                #expect(result.errorCode == "upstream_bad_response")
                #expect(result.errorMessage.contains("not a JSON object"), "\(result.errorMessage)")
            }
        }
    }

    @Test func aStreamWhoseFramingBreaksEndsWithOneClearErrorEvent() async throws {
        let event =
            #"data: {"id":"c","object":"chat.completion.chunk","created":1,"model":"grok-3","choices":[{"index":0,"#
            + #""delta":{"content":"first"}}]}"# + "\n\n"
        let answer =
            "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"
            + String(event.utf8.count, radix: 16) + "\r\n" + event + "\r\n" + "zz\r\n"
        try await withCannedUpstream(answer: answer, bytesPerWrite: 64) { upstream in
            try await withProxy(yaml: yaml(upstream.port)) { proxy in
                let result = try await send(
                    .POST, proxy.url + "/v1/chat/completions", json: chat("canned", "hi", stream: true))
                #expect(result.status == 200, "the first event went out before the framing broke")
                #expect(
                    result.chunks.first?["choices"]?.arrayValue?.first?.objectValue?["delta"]?.objectValue?["content"] == "first")
                let error = result.chunks.last?["error"]?.objectValue
                #expect(error?["code"] == "upstream_bad_response", "\(result.text)")
                #expect(error?["message"]?.stringValue?.contains("invalid chunk size") == true)
                #expect(result.events.last?.isDone != true)
                let other = try await send(.POST, proxy.url + "/v1/chat/completions", json: chat("mock-echo", "still here"))
                #expect(other.status == 200)
            }
        }
    }

    @Test func anAnswerThatSaysItIsLargerThanTheLimitIsRefusedAtItsHead() async throws {
        // Only the head and one byte are sent: a proxy that waited for the declared body would wait for ever.
        let limit = UpstreamRelay.maxJSONBytes
        let answer = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: \(limit + 1)\r\n\r\n{"
        try await withCannedUpstream(answer: answer) { upstream in
            try await withProxy(yaml: yaml(upstream.port)) { proxy in
                try await Self.expectRefusedAsTooLarge(proxy: proxy, upstream: upstream)
            }
        }
    }

    /// A request to `canned` is refused as over the answer size limit, the upstream connection is dropped (not
    /// read to its end, not kept for another request), and the proxy goes on serving.
    static func expectRefusedAsTooLarge(proxy: ProxyHandle, upstream: CannedUpstream) async throws {
        let limit = UpstreamRelay.maxJSONBytes
        let result = try await send(.POST, proxy.url + "/v1/chat/completions", json: chat("canned", "hi"))
        #expect(result.status == 502, "\(result.text.prefix(300))")
        #expect(result.errorCode == "upstream_response_too_large")
        #expect(result.errorMessage.contains("more than \(limit) bytes"), "\(result.errorMessage)")
        #expect(await upstream.waitForClose(within: .seconds(10)), "the upstream connection is dropped")
        let other = try await send(.POST, proxy.url + "/v1/chat/completions", json: chat("mock-echo", "still here"))
        #expect(other.status == 200)
    }

    @Test func mangledUpstreamAnswersEndCleanlyAndTheProxyKeepsServing() async throws {
        // JSON answers and streams, each with bytes replaced, dropped or duplicated (in the head, the framing,
        // the JSON, the events), from an upstream that closes after each answer: every request gets an answer
        // (a 200 relayed, or an OpenAI error; a stream ends with [DONE] or an error event), none waits for a
        // timeout, and the proxy keeps serving.
        let sse =
            #"data: {"id":"c","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"hi"}}]}"#
            + "\n\n"
            + #"data: {"id":"c","object":"chat.completion.chunk","choices":[],"usage":{"prompt_tokens":3,"#
            + #""completion_tokens":2,"total_tokens":5}}"# + "\n\ndata: [DONE]\n\n"
        let valid: [(stream: Bool, answer: [UInt8])] = [
            (
                false,
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: \(Self.completion.utf8.count)\r\n\r\n"
                    + Self.completion
            ),
            (
                false,
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
                    + Self.chunked(Self.completion)
            ),
            (
                true,
                "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"
                    + Self.chunked(sse)
            ),
            (true, "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\r\n" + sse),
        ].map { ($0.0, Array($0.1.utf8)) }
        let alphabet = Array(" \r\n:{}[]\",0123456789abcdef-\t\u{0}".utf8) + [0xFF]
        var random = Mangler(seed: 0x5EED_F00D)
        try await withCannedUpstream(answer: "", closeAfter: true) { upstream in
            // No cooldown: every answer is tried, however many failed before it.
            let config = yaml(upstream.port) + "\nrouter_settings: {allowed_fails: 100000}\n"
            try await withProxy(yaml: config) { proxy in
                var statuses: [Int: Int] = [:]
                for round in 0..<120 {
                    let (stream, original) = valid[round % valid.count]
                    var bytes = original
                    random.mangle(&bytes, alphabet: alphabet)
                    upstream.answerNext(with: bytes)
                    let result = try await send(
                        .POST, proxy.url + "/v1/chat/completions", json: chat("canned", "hi", stream: stream),
                        timeout: .seconds(20))
                    statuses[result.status, default: 0] += 1
                    let sent = String(decoding: bytes, as: UTF8.self).debugDescription
                    if result.status != 200 {
                        let error = try? JSONParser.parse(result.text)
                        #expect(
                            error?.objectValue?["error"]?.objectValue?["code"] != nil,
                            "round \(round): \(result.text) for \(sent)")
                        #expect(result.status >= 400 && result.status < 600, "round \(round)")
                    } else if stream {
                        #expect(
                            result.text.hasSuffix("data: [DONE]\n\n") || result.text.contains(#""error""#),
                            "round \(round): \(result.text) for \(sent)")
                    }
                }
                // Some answers survive their mutations (a byte inside a string), most do not.
                #expect(statuses[200, default: 0] >= 5, "\(statuses)")
                #expect(statuses[502, default: 0] >= 20, "\(statuses)")
                let after = try await send(.POST, proxy.url + "/v1/chat/completions", json: chat("mock-echo", "still here"))
                #expect(after.status == 200)
                #expect(after.text.contains("still here"))
            }
        }
    }

    @Test func strayBytesOnAnIdleConnectionRetireIt() async throws {
        let answer = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: \(Self.completion.utf8.count)\r\n\r\n"
        try await withCannedUpstream(answer: answer + Self.completion, strayAfter: "HTTP/1.1 408 Request Timeout\r\n\r\n") {
            upstream in
            try await withProxy(yaml: yaml(upstream.port)) { proxy in
                let first = try await send(.POST, proxy.url + "/v1/chat/completions", json: chat("canned", "hi"))
                #expect(first.status == 200)
                // The stray answer arrives 50 ms after the first; the proxy closes the pooled connection on it.
                #expect(await upstream.waitForClose(within: .seconds(10)), "the connection with stray bytes was closed")
                let second = try await send(.POST, proxy.url + "/v1/chat/completions", json: chat("canned", "again"))
                #expect(second.status == 200, "\(second.text)")
                #expect(second.text == Self.completion)
                #expect(upstream.connections == 2)
            }
        }
    }
}

/// A running canned upstream.
final class CannedUpstream: Sendable {
    let port: Int
    private let accepted = Atomic<Int>(0)
    private let closes = AsyncStream<Void>.makeStream()

    init(port: Int) { self.port = port }

    /// Bytes to answer the next request with, instead of the script's answer (taken once).
    private let override = Mutex<[UInt8]?>(nil)

    /// Connections accepted so far.
    var connections: Int { accepted.load(ordering: .relaxed) }

    /// Answers the next request with `bytes`.
    func answerNext(with bytes: [UInt8]) { override.withLock { $0 = bytes } }

    func takeOverride() -> [UInt8]? { override.withLock { $0.take() } }

    func connected() { accepted.add(1, ordering: .relaxed) }

    private let read = Atomic<Int>(0)
    private let dropping = Atomic<Bool>(false)

    /// Requests read whole so far.
    var requests: Int { read.load(ordering: .relaxed) }

    /// The next request is read whole and then its connection is closed, unanswered.
    func closeAfterReadingNext() { dropping.store(true, ordering: .relaxed) }

    /// Counts a request read; true when it is to be dropped.
    func requestRead() -> Bool {
        read.add(1, ordering: .relaxed)
        return dropping.exchange(false, ordering: .relaxed)
    }

    func closed() { closes.continuation.yield() }

    /// Whether a connection closed (from either side) within `limit`.
    func waitForClose(within limit: Duration) async -> Bool {
        await withTaskGroup(of: Bool.self) { group in
            group.addTask {
                var iterator = self.closes.stream.makeAsyncIterator()
                return await iterator.next() != nil
            }
            group.addTask {
                try? await Task.sleep(for: limit)
                return false
            }
            let first = await group.next() ?? false
            group.cancelAll()
            return first
        }
    }
}

/// Runs an "upstream" on 127.0.0.1, port 0, that answers each request (read up to its body's end) with `answer`,
/// written `bytesPerWrite` bytes at a time (each write flushed, 1 ms apart), then closes when `closeAfter`, or
/// sends `strayAfter` 50 ms later.
func withCannedUpstream<T: Sendable>(
    answer: String, bytesPerWrite: Int = Int.max, closeAfter: Bool = false, strayAfter: String? = nil,
    _ body: (CannedUpstream) async throws -> T
) async throws -> T {
    let script = CannedScript(
        answer: Array(answer.utf8), bytesPerWrite: bytesPerWrite, closeAfter: closeAfter, stray: strayAfter.map { Array($0.utf8) }
    )
    let holder = Mutex<CannedUpstream?>(nil)
    let server = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
        .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
        .childChannelInitializer { channel in
            channel.eventLoop.makeCompletedFuture {
                let upstream = holder.withLock { $0 }
                upstream?.connected()
                try channel.pipeline.syncOperations.addHandler(CannedHandler(script: script, upstream: upstream))
            }
        }
        .bind(host: "127.0.0.1", port: 0).get()
    let upstream = CannedUpstream(port: server.localAddress?.port ?? 0)
    holder.withLock { $0 = upstream }
    do {
        let result = try await body(upstream)
        try? await server.close()
        return result
    } catch {
        try? await server.close()
        throw error
    }
}

struct CannedScript: Sendable {
    let answer: [UInt8]
    let bytesPerWrite: Int
    let closeAfter: Bool
    let stray: [UInt8]?
}

/// Reads requests (head, then `content-length` bytes) and answers each with the script.
private final class CannedHandler: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    let script: CannedScript
    let upstream: CannedUpstream?
    private var received: [UInt8] = []

    init(script: CannedScript, upstream: CannedUpstream?) {
        self.script = script
        self.upstream = upstream
    }

    func channelInactive(context: ChannelHandlerContext) {
        upstream?.closed()
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        received.append(contentsOf: unwrapInboundIn(data).readableBytesView)
        let separator = Array("\r\n\r\n".utf8)
        guard let headEnd = received.indices.first(where: { received[$0...].starts(with: separator) }) else { return }
        let head = String(decoding: received[..<headEnd], as: UTF8.self).lowercased()
        let length =
            head.split(separator: "\r\n").first { $0.hasPrefix("content-length:") }
            .flatMap { Int($0.dropFirst("content-length:".count).trimmingCharacters(in: .whitespaces)) } ?? 0
        guard received.count >= headEnd + 4 + length else { return }
        received.removeFirst(headEnd + 4 + length)
        if upstream?.requestRead() == true {
            context.close(promise: nil)
            return
        }
        let answer = upstream?.takeOverride() ?? script.answer
        let pieces = stride(from: 0, to: answer.count, by: max(1, min(script.bytesPerWrite, answer.count))).map {
            Array(answer[$0..<min($0 + script.bytesPerWrite, answer.count)])
        }
        write(pieces[...], context: context)
    }

    private func write(_ pieces: ArraySlice<[UInt8]>, context: ChannelHandlerContext) {
        guard let piece = pieces.first else {
            if script.closeAfter { context.close(promise: nil) }
            if let stray = script.stray {
                context.eventLoop.assumeIsolated().scheduleTask(in: .milliseconds(50)) {
                    context.writeAndFlush(self.wrapOutboundOut(ByteBuffer(bytes: stray)), promise: nil)
                }
            }
            return
        }
        context.writeAndFlush(wrapOutboundOut(ByteBuffer(bytes: piece)), promise: nil)
        if pieces.count == 1 {
            write(pieces.dropFirst(), context: context)
        } else {
            context.eventLoop.assumeIsolated().scheduleTask(in: .milliseconds(1)) {
                self.write(pieces.dropFirst(), context: context)
            }
        }
    }
}
