import Testing

@testable import SwitchyardCore

/// The request heads the proxy's front reads itself, and the ones it leaves to NIO's decoder.
@Suite struct RequestHeadTests {
    private func read(_ text: String) -> RequestHead? {
        Array(text.utf8).withUnsafeBytes { RequestHead.read($0) }
    }

    private func end(_ text: String, from: Int = 0) -> RequestHead.End {
        Array(text.utf8).withUnsafeBytes { RequestHead.end(in: $0, from: from) }
    }

    @Test func aHeadIsReadWithItsFieldsLengthAndConnectionRules() throws {
        let head = try #require(
            read(
                "POST /v1/chat/completions?x=1 HTTP/1.1\r\nHost: h:1\r\nContent-Length:  12 \r\n"
                    + "X-Empty:\r\nAuthorization: Bearer k\r\n\r\n"))
        #expect(head.method == "POST")
        #expect(head.target == "/v1/chat/completions?x=1")
        #expect(head.minorVersion == 1)
        #expect(head.contentLength == 12)
        #expect(head.keepAlive)
        #expect(!head.expectsContinue)
        #expect(head.fields.map(\.name) == ["Host", "Content-Length", "X-Empty", "Authorization"])
        #expect(head.fields.map(\.value) == ["h:1", "12", "", "Bearer k"])
        #expect(read("GET / HTTP/1.1\r\n\r\n")?.contentLength == 0)
        #expect(read("POST / HTTP/1.1\r\ncontent-length: 3\r\nContent-Length: 3\r\n\r\n")?.contentLength == 3)
    }

    @Test func keepAliveAndContinueFollowTheVersion() {
        #expect(read("GET / HTTP/1.1\r\n\r\n")?.keepAlive == true)
        #expect(read("GET / HTTP/1.1\r\nConnection: Keep-Alive, Close\r\n\r\n")?.keepAlive == false)
        #expect(read("GET / HTTP/1.0\r\n\r\n")?.keepAlive == false)
        #expect(read("GET / HTTP/1.0\r\nconnection: keep-alive\r\n\r\n")?.keepAlive == true)
        #expect(read("POST / HTTP/1.1\r\nExpect: 100-Continue\r\n\r\n")?.expectsContinue == true)
        #expect(read("POST / HTTP/1.0\r\nexpect: 100-continue\r\n\r\n")?.expectsContinue == false)
    }

    @Test(arguments: [
        "", "GET / HTTP/1.1\r\n", "GET / HTTP/1.1\r\nHost: x\r\n",  // not whole
        " GET / HTTP/1.1\r\n\r\n", "GET  / HTTP/1.1\r\n\r\n", "GET / HTTP/1.1 \r\n\r\n", "GET / x HTTP/1.1\r\n\r\n",
        "GET / HTTP/2.0\r\n\r\n", "GET / http/1.1\r\n\r\n", "GET / HTTP/1.2\r\n\r\n", "G(T / HTTP/1.1\r\n\r\n",
        "GET /\u{7f} HTTP/1.1\r\n\r\n", "GET / HTTP/1.1\r\nHost : x\r\n\r\n", "GET / HTTP/1.1\r\n folded\r\n\r\n",
        "GET / HTTP/1.1\r\n: x\r\n\r\n", "GET / HTTP/1.1\r\nno-colon\r\n\r\n", "GET / HTTP/1.1\r\nx: a\u{1}b\r\n\r\n",
        "GET / HTTP/1.1\r\nx: a\rb\r\n\r\n", "GET / HTTP/1.1\nHost: x\r\n\r\n",
        "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n",
        "POST / HTTP/1.1\r\ncontent-length: 1\r\ncontent-length: 2\r\n\r\n",
        "POST / HTTP/1.1\r\ncontent-length: 5, 5\r\n\r\n", "POST / HTTP/1.1\r\ncontent-length: -1\r\n\r\n",
        "POST / HTTP/1.1\r\ncontent-length: 1234567890123456789\r\n\r\n", "GET / HTTP/1.1\r\nUpgrade: websocket\r\n\r\n",
        "CONNECT h:443 HTTP/1.1\r\n\r\n", "GET / HTTP/1.1\r\n\r\nGET / HTTP/1.1\r\n\r\n",
    ])
    func headsTheFrontDoesNotReadAreDeclined(_ text: String) {
        #expect(read(text) == nil)
    }

    @Test func aHeadWithTooManyFieldsIsDeclined() {
        let fields = String(repeating: "x: y\r\n", count: 5)
        let text = "GET / HTTP/1.1\r\n\(fields)\r\n"
        #expect(Array(text.utf8).withUnsafeBytes { RequestHead.read($0, maxFields: 5) } != nil)
        #expect(Array(text.utf8).withUnsafeBytes { RequestHead.read($0, maxFields: 4) } == nil)
    }

    @Test func theEndOfAHeadIsFoundAtAnySplitAndABareLineFeedIsUnusual() {
        let text = "POST / HTTP/1.1\r\nHost: x\r\n\r\n{\"a\":1}"
        let size = text.utf8.count - 7
        #expect(end(text) == .at(size))
        for cut in 0..<size {
            let prefix = String(decoding: Array(text.utf8)[..<cut], as: UTF8.self)
            #expect(end(prefix) == .incomplete, "cut at \(cut)")
            // Searching again from where the last search stopped, less three bytes, finds the same end.
            #expect(end(text, from: cut - 3) == .at(size), "from \(cut - 3)")
        }
        #expect(end("GET / HTTP/1.1\n\n") == .unusual)
        #expect(end("GET / HTTP/1.1\r\nx: y\n\r\n") == .unusual)
        #expect(end("\n") == .unusual)
    }

    @Test func neverTrapsAndReadsOnlyWellFormedHeadsFromArbitraryBytes() {
        // Mutations of valid heads (bytes replaced, dropped, duplicated, cut) and plain noise: finding the end
        // never traps and gives the same answer from any resumption point, and a head that is read has a
        // token for its method, a visible target, and a length that fits the limits.
        var generator = SplitMix(seed: 0xF00D)
        let valid = [
            "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                + "Content-Length: 17\r\nAuthorization: Bearer k\r\nConnection: keep-alive, close\r\n\r\n",
            "GET /v1/models?x=1 HTTP/1.0\r\nexpect: 100-continue\r\ncontent-length: 0\r\n\r\n",
        ].map { Array($0.utf8) }
        let alphabet = Array("POST/HTTP1.0 \r\n\r\n:;,0123456789-clontexpa\t\u{0}\u{7F}".utf8) + [0xFF, 0x80]
        for round in 0..<4_000 {
            var bytes = valid[round % valid.count]
            if round % 10 == 0 {
                bytes = (0..<Int(generator.next() % 100)).map { _ in alphabet[Int(generator.next() % UInt64(alphabet.count))] }
            } else {
                generator.mangle(&bytes, alphabet: alphabet, cuts: true)
            }
            bytes.withUnsafeBytes { raw in
                let end = RequestHead.end(in: raw)
                for from in stride(from: -3, through: raw.count + 1, by: 1 + Int(generator.next() % 7)) {
                    let again = RequestHead.end(in: raw, from: from)
                    // Resuming past a line feed that ends the head, or past a bare one, may not see it again;
                    // resuming before the end must.
                    if case .at(let size) = end, from <= size - 4 { #expect(again == end, "round \(round), from \(from)") }
                    if end == .incomplete { #expect(again == .incomplete, "round \(round), from \(from)") }
                }
                guard case .at(let size) = end, let head = RequestHead.read(UnsafeRawBufferPointer(rebasing: raw[..<size]))
                else { return }
                #expect(!head.method.isEmpty && head.method.utf8.allSatisfy(HTTPResponseParser.isTokenByte), "round \(round)")
                #expect(!head.target.isEmpty && head.target.utf8.allSatisfy { $0 > 0x20 && $0 < 0x7F }, "round \(round)")
                #expect(head.contentLength >= 0 && head.contentLength < 1_000_000_000_000_000_000, "round \(round)")
                #expect(head.minorVersion == 0 || head.minorVersion == 1)
                #expect(head.fields.count <= 1000)
            }
        }
    }
}
