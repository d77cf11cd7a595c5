import Testing

@testable import SwitchyardCore

/// `HTTPResponseParser`: framing, keep-alive, interim responses, strictness, and the same result however the
/// bytes are split.
@Suite struct HTTPResponseParserTests {
    @Test func tokenBytesAreRFC9110sTchar() {
        let tchar = Set("!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ".utf8)
        for byte in UInt8.min...UInt8.max {
            #expect(HTTPResponseParser.isTokenByte(byte) == tchar.contains(byte), "\(byte)")
        }
    }

    /// What the parser reported, in order.
    struct Transcript: Equatable {
        var heads: [HTTPResponseParser.Head] = []
        var bodies: [[UInt8]] = []
        var ends = 0
        var error: HTTPResponseParser.ParseError?
    }

    /// Feeds `text` in pieces cut at `cuts`, then reports the connection's close when `close` is set.
    func parse(
        _ text: String, cuts: [Int] = [], close: Bool = false, parser: HTTPResponseParser = HTTPResponseParser()
    ) -> Transcript {
        var parser = parser
        var transcript = Transcript()
        let bytes = Array(text.utf8)
        let bounds = [0] + cuts.filter { $0 > 0 && $0 < bytes.count } + [bytes.count]
        func record(_ part: HTTPResponseParser.Part) {
            switch part {
            case .head(let head):
                transcript.heads.append(head)
                transcript.bodies.append([])
            case .body(let raw):
                transcript.bodies[transcript.bodies.count - 1].append(contentsOf: raw)
            case .end:
                transcript.ends += 1
            }
        }
        do {
            for (start, end) in zip(bounds, bounds.dropFirst()) where start < end {
                try bytes[start..<end].withUnsafeBytes { try parser.parse($0, record) }
            }
            if close { try parser.finish(record) }
        } catch {
            #expect(error is HTTPResponseParser.ParseError)
            transcript.error = error as? HTTPResponseParser.ParseError
        }
        return transcript
    }

    /// Checks that every way of cutting `text` in one or two places, and into single bytes, reads the same.
    func expectSplitsAgree(_ text: String, close: Bool = false) -> Transcript {
        let whole = parse(text, close: close)
        let count = text.utf8.count
        #expect(parse(text, cuts: Array(0...count), close: close) == whole, "byte by byte")
        for first in 1..<count {
            #expect(parse(text, cuts: [first], close: close) == whole, "cut at \(first)")
            for second in stride(from: first + 1, to: count, by: 7) {
                #expect(parse(text, cuts: [first, second], close: close) == whole, "cut at \(first), \(second)")
            }
        }
        return whole
    }

    @Test func readsALengthDelimitedBody() {
        let text =
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nX-Request-Id:  abc \t\r\nContent-Length: 11\r\n\r\n"
            + "{\"ok\":true}"
        let transcript = expectSplitsAgree(text)
        #expect(transcript.error == nil)
        #expect(transcript.ends == 1)
        #expect(transcript.bodies == [Array("{\"ok\":true}".utf8)])
        let head = transcript.heads.first
        #expect(head?.status == 200)
        #expect(head?.minorVersion == 1)
        #expect(head?.framing == .length(11))
        #expect(head?.keepAlive == true)
        #expect(head?.value(of: "x-request-id") == "abc")
        #expect(head?.value(of: "CONTENT-TYPE") == "application/json")
        #expect(head?.fields.map(\.name) == ["Content-Type", "X-Request-Id", "Content-Length"])
    }

    @Test func readsAChunkedBodyWithExtensionsAndTrailers() {
        let text =
            "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\ncontent-type: text/event-stream\r\n\r\n"
            + "5\r\ndata:\r\n19;name=value\r\n {\"choices\":[]}\n\ndata: [D\r\n"
            + "6 ; last\r\nONE]\n\n\r\n0\r\nx-trailer: yes\r\n\r\n"
        let transcript = expectSplitsAgree(text)
        #expect(transcript.error == nil)
        #expect(transcript.ends == 1)
        #expect(transcript.heads.first?.framing == .chunked)
        #expect(transcript.bodies == [Array("data: {\"choices\":[]}\n\ndata: [DONE]\n\n".utf8)])
    }

    @Test func readsResponsesBackToBack() {
        let one = "HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nhi"
        let two = "HTTP/1.1 503 Service Unavailable\r\ntransfer-encoding: chunked\r\n\r\n3\r\nbye\r\n0\r\n\r\n"
        let transcript = expectSplitsAgree(one + two)
        #expect(transcript.heads.map(\.status) == [200, 503])
        #expect(transcript.bodies == [Array("hi".utf8), Array("bye".utf8)])
        #expect(transcript.ends == 2)
    }

    @Test func skipsInterimResponses() {
        let text =
            "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nlink: </a>\r\n\r\n"
            + "HTTP/1.1 201 Created\r\ncontent-length: 0\r\n\r\n"
        let transcript = expectSplitsAgree(text)
        #expect(transcript.heads.map(\.status) == [201])
        #expect(transcript.ends == 1)
        #expect(parse("HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\n\r\n").error != nil)
    }

    @Test func answersWithoutABodyEndAtTheirHead() {
        for status in [204, 304] {
            let transcript = parse("HTTP/1.1 \(status) X\r\ncontent-length: 5\r\n\r\n")
            #expect(transcript.heads.first?.framing == HTTPResponseParser.Framing.none)
            #expect(transcript.ends == 1)
        }
        var parser = HTTPResponseParser()
        parser.expectNoBody()
        let head = parse(
            "HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nHTTP/1.1 200 OK\r\ncontent-length: 1\r\n\r\nx", parser: parser)
        #expect(head.heads.map(\.framing) == [.none, .length(1)], "only the next response is a HEAD's answer")
        #expect(head.ends == 2)
    }

    @Test func readsABodyDelimitedByTheClose() {
        let text = "HTTP/1.0 200 OK\r\ncontent-type: text/plain\r\n\r\nall of it"
        let transcript = expectSplitsAgree(text, close: true)
        #expect(transcript.heads.first?.framing == .untilClose)
        #expect(transcript.heads.first?.keepAlive == false)
        #expect(transcript.bodies == [Array("all of it".utf8)])
        #expect(transcript.ends == 1)
        #expect(parse(text).ends == 0, "no end before the close")
        // A transfer coding other than chunked last is read until the close as well.
        #expect(parse("HTTP/1.1 200 OK\r\ntransfer-encoding: chunked, gzip\r\n\r\nzz").heads.first?.framing == .untilClose)
        #expect(parse("HTTP/1.1 200 OK\r\ntransfer-encoding: gzip, Chunked\r\n\r\n").heads.first?.framing == .chunked)
    }

    @Test func decidesWhetherTheConnectionStaysOpen() {
        func keepAlive(_ version: String, _ fields: String) -> Bool? {
            parse("HTTP/\(version) 200 OK\r\ncontent-length: 0\r\n\(fields)\r\n").heads.first?.keepAlive
        }
        #expect(keepAlive("1.1", "") == true)
        #expect(keepAlive("1.1", "Connection: Close\r\n") == false)
        #expect(keepAlive("1.1", "connection: keep-alive, close\r\n") == false)
        #expect(keepAlive("1.0", "") == false)
        #expect(keepAlive("1.0", "connection: Keep-Alive\r\n") == true)
    }

    @Test func closingEarlyIsAnErrorAndClosingBetweenResponsesIsNot() {
        #expect(parse("", close: true).error == nil)
        #expect(parse("HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nhi", close: true).error == nil)
        for cut in [
            "HTTP/1.1 2", "HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhi",
            "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nab",
        ] {
            #expect(parse(cut, close: true).error?.reason == "connection closed before the response ended", "\(cut)")
        }
    }

    @Test func rejectsMalformedResponses() {
        let cases: [(String, String)] = [
            ("HTTP/1.1 200 OK\nContent-Length: 0\n\n", "bare LF"),
            ("HTTP/1.1 200 OK\r\nA: b\rc\r\n\r\n", "invalid byte in header value"),
            ("HTTP/1.1 200 O\rK\r\n\r\n", "reason phrase"),
            ("HTTP/1.1 200 OK\r\n\r\r\n\r\n", "invalid header name"),
            ("HTTP/1.1 200 OK\r\nA: b\r\n  folded\r\n\r\n", "folded"),
            ("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n", "both Content-Length"),
            ("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n", "conflicting"),
            ("HTTP/1.1 200 OK\r\nContent-Length: 2a\r\n\r\n", "invalid Content-Length"),
            ("HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", "invalid Content-Length"),
            ("HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999\r\n\r\n", "invalid Content-Length"),
            ("HTTP/2 200 OK\r\n\r\n", "status line"),
            // Not HTTP at all, and no blank line to wait for: refused on its first bytes.
            ("SSH-2.0-OpenSSH_9.2p1\r\n", "status line"),
            ("HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\nHTTX", "status line"),
            ("HTTP/1.1 20 OK\r\n\r\n", "status line"),
            ("HTTP/1.1 2x0 OK\r\n\r\n", "status code"),
            ("HTTP/1.1 099 Low\r\n\r\n", "status code"),
            ("HTTP/1.1 200OK\r\n\r\n", "status line"),
            ("HTTP/1.1 200 OK\r\nName : value\r\n\r\n", "invalid header name"),
            ("HTTP/1.1 200 OK\r\nno colon\r\n\r\n", "invalid header name"),
            ("HTTP/1.1 200 OK\r\n: empty\r\n\r\n", "without a name"),
            ("HTTP/1.1 200 OK\r\nA: b\u{1}c\r\n\r\n", "invalid byte in header value"),
            ("HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\nzz\r\n", "invalid chunk size"),
            ("HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n\r\n", "invalid chunk size"),
            ("HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n1 2\r\n", "invalid chunk size"),
            ("HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\nfffffffffffffffff\r\n", "too large"),
            ("HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n2\rab", "CRLF"),
            ("HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n2\r\nabc\r\n", "not followed by CRLF"),
            ("HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n0\r\nx: y\n\r\n", "bare LF in trailers"),
            ("HTTP/1.1 200 OK\r\nA: " + String(repeating: "x", count: 70_000) + "\r\n\r\n", "larger than"),
        ]
        for (text, reason) in cases {
            let error = parse(text).error
            #expect(error?.reason.contains(reason) == true, "\(text.prefix(80)): \(String(describing: error))")
            // Whatever is cut where, the same bytes are refused (the long head aside, which fails on size alone).
            if text.utf8.count < 200 {
                #expect(parse(text, cuts: Array(0...text.utf8.count)).error == error, "byte by byte: \(text)")
            }
        }
        // A failed parser stays failed.
        var parser = HTTPResponseParser()
        let bad = Array("HTTP/1.1 200 OK\nA: b\n\n".utf8)
        let good = Array("HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n".utf8)
        #expect(throws: HTTPResponseParser.ParseError.self) { try bad.withUnsafeBytes { try parser.parse($0) { _ in } } }
        #expect(throws: HTTPResponseParser.ParseError.self) { try good.withUnsafeBytes { try parser.parse($0) { _ in } } }
    }

    @Test func keepsFieldsOnlyWhenAsked() {
        let text = "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nX-A: b\r\n\r\nz"
        let lean = parse(text, parser: HTTPResponseParser(keepsFields: false))
        #expect(lean.heads.first?.fields.isEmpty == true)
        #expect(lean.heads.first?.framing == .length(1))
        #expect(lean.bodies == [[UInt8(ascii: "z")]])
        #expect(parse(text).heads.first?.fields.count == 2)
    }

    @Test func neverTrapsOnArbitraryBytes() {
        // Mutations of a valid response (bytes replaced, dropped, duplicated) and plain noise, split at random.
        var generator = SplitMix(seed: 0x5EED)
        let valid = Array(
            ("HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\nx: y\r\n\r\n4\r\nabcd\r\n0\r\n\r\n"
                + "HTTP/1.0 200 OK\r\ncontent-length: 3\r\n\r\nxyz").utf8)
        let alphabet = Array("HTTP/1.0 \r\n:;0123456789abcdefABCDEF-chunked,close\t\u{0}\u{7F}\u{FF}".utf8)
        for round in 0..<3_000 {
            var bytes = valid
            if round % 10 == 0 {
                bytes = (0..<Int(generator.next() % 120)).map { _ in alphabet[Int(generator.next() % UInt64(alphabet.count))] }
            } else {
                generator.mangle(&bytes, alphabet: alphabet)
            }
            var parser = HTTPResponseParser()
            var offset = 0
            var bodyBytes = 0
            do {
                while offset < bytes.count {
                    let size = 1 + Int(generator.next() % 16)
                    let end = min(bytes.count, offset + size)
                    try bytes[offset..<end].withUnsafeBytes { raw in
                        try parser.parse(raw) { part in if case .body(let body) = part { bodyBytes += body.count } }
                    }
                    offset = end
                }
                try parser.finish { _ in }
            } catch {}
            #expect(bodyBytes <= bytes.count)
        }
    }
}

/// A small deterministic generator for the noise test.
struct SplitMix {
    var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var value = state
        value = (value ^ (value >> 30)) &* 0xBF58_476D_1CE4_E5B9
        value = (value ^ (value >> 27)) &* 0x94D0_49BB_1331_11EB
        return value ^ (value >> 31)
    }

    /// Edits `bytes` one to `maxEdits` times at random places: a byte replaced by one of `alphabet`, dropped or
    /// duplicated, or (with `cuts`) everything from there on cut off.
    mutating func mangle(_ bytes: inout [UInt8], maxEdits: UInt64 = 4, alphabet: [UInt8], cuts: Bool = false) {
        for _ in 0..<(1 + next() % maxEdits) where !bytes.isEmpty {
            let position = Int(next() % UInt64(bytes.count))
            switch next() % (cuts ? 4 : 3) {
            case 0: bytes[position] = alphabet[Int(next() % UInt64(alphabet.count))]
            case 1: bytes.remove(at: position)
            case 2: bytes.insert(bytes[position], at: position)
            default: bytes.removeSubrange(position...)
            }
        }
    }
}
