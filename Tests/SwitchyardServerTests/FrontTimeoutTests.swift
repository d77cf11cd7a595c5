import Foundation
import Testing

@testable import SwitchyardCore
@testable import SwitchyardServer

/// The front refuses a body declared too large from its head, and closes connections whose clients are too slow
/// or idle too long (issue 21, point 3).
@Suite struct FrontTimeoutTests {
    func config(_ mock: MockHandle, _ general: String) -> String {
        xaiConfig(mock: mock) + "general_settings:\n" + general
    }

    @Test func aBodyDeclaredTooLargeIsRefusedFromItsHeadWithNo100Continue() async throws {
        try await withMockUpstream { mock in
            try await withProxy(yaml: config(mock, "  max_request_size_mb: 0.001\n"), environment: ["GROK_API_KEY": testKey]) {
                proxy in
                let connection = try RawConnection(port: proxy.port)
                defer { connection.close() }
                try connection.send(
                    "POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
                        + "content-length: 10485760\r\nexpect: 100-continue\r\n\r\n")
                let answers = try await offPool { try connection.readResponses(1) }
                #expect(answers.first?.status == 413, "\(answers.first?.body ?? "")")
                #expect(answers.first?.body.contains("request_too_large") == true)
                // The client may or may not send the body it announced: the connection ends after the answer.
                #expect(try await offPool { try connection.readToEnd() }.isEmpty)
                #expect(mock.recorder.requests.isEmpty)
            }
        }
    }

    @Test func aBodyDeclaredTooLargeIsAnsweredBeforeItArrivesAndTheConnectionServesOn() async throws {
        try await withMockUpstream { mock in
            try await withProxy(yaml: config(mock, "  max_request_size_mb: 0.001\n"), environment: ["GROK_API_KEY": testKey]) {
                proxy in
                let connection = try RawConnection(port: proxy.port)
                defer { connection.close() }
                let body = String(repeating: "x", count: 4000)
                try connection.send(
                    "POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
                        + "content-length: \(body.utf8.count)\r\n\r\n")
                // Answered from the head alone: not one byte of the body was sent yet.
                let refused = try await offPool { try connection.readResponses(1) }
                #expect(refused.first?.status == 413)
                try connection.send(body + RawConnection.post("/v1/chat/completions", chat("grok-code-fast-1", "small")))
                let next = try await offPool { try connection.readResponses(1) }
                #expect(next.first?.status == 200, "the dropped body was not read as a request")
                #expect(next.first?.body.contains("You said: small") == true)
            }
        }
    }

    /// A chunked body has no declared length: it is refused as soon as it passes the limit, not at its end.
    @Test func aChunkedBodyIsRefusedAsSoonAsItPassesTheLimit() async throws {
        try await withMockUpstream { mock in
            try await withProxy(yaml: config(mock, "  max_request_size_mb: 0.001\n"), environment: ["GROK_API_KEY": testKey]) {
                proxy in
                let connection = try RawConnection(port: proxy.port)
                defer { connection.close() }
                let chunk = String(repeating: "x", count: 600)
                try connection.send(
                    "POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
                        + "transfer-encoding: chunked\r\n\r\n258\r\n\(chunk)\r\n258\r\n\(chunk)\r\n")
                // The body's last chunk is never sent: the answer comes once 1,200 bytes passed the 1,048-byte limit.
                let answers = try await offPool { try connection.readResponses(1) }
                #expect(answers.first?.status == 413, "\(answers.first?.body ?? "")")
                #expect(mock.recorder.requests.isEmpty)
            }
        }
    }

    @Test(arguments: [
        ("POST /v1/chat/comp", "a partial head"),
        ("POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-length: 100\r\n\r\n{\"model\":", "a body that stops"),
    ])
    func aClientThatStopsMidRequestGets408AndTheConnectionCloses(_ sent: String, _ what: String) async throws {
        try await withMockUpstream { mock in
            // 2 s, not less: a connection that sends nothing within the head timeout is closed without an answer,
            // and on a loaded machine the test's first bytes can come half a second after its connect.
            let general = "  client_header_timeout: 2\n  client_body_timeout: 2\n"
            try await withProxy(yaml: config(mock, general), environment: ["GROK_API_KEY": testKey]) { proxy in
                let connection = try RawConnection(port: proxy.port)
                defer { connection.close() }
                try connection.send(sent)
                let rest = String(decoding: try await offPool { try connection.readToEnd() }, as: UTF8.self)
                #expect(rest.hasPrefix("HTTP/1.1 408 Request Timeout\r\n"), "\(what): \(rest)")
                #expect(rest.contains("\"code\":\"request_timeout\""))
                let result = try await send(.POST, proxy.url + "/v1/chat/completions", json: chat("grok-code-fast-1", "hi"))
                #expect(result.status == 200, "the proxy serves on")
            }
        }
    }

    /// The head timeout counts from the head's first byte: a byte now and then does not keep it open.
    @Test func aHeadSentAByteAtATimeIsCutOffAtTheHeadTimeout() async throws {
        try await withMockUpstream { mock in
            try await withProxy(yaml: config(mock, "  client_header_timeout: 1\n"), environment: ["GROK_API_KEY": testKey]) {
                proxy in
                let connection = try RawConnection(port: proxy.port)
                defer { connection.close() }
                // A header value that never ends, a byte every 50 ms, until the proxy answers (for at most 8 s): were
                // the timeout counted from the latest byte, no answer would come while bytes keep coming. Sending
                // stops as soon as the answer is there, inside the 2 s the proxy lingers after its 408 (bytes still
                // arriving after that close would reset the connection and lose the 408). The pacing is a wait for
                // the answer on a thread of its own: a sleeping task on a busy pool once woke after the linger.
                let head = Array("POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\nx-slow: ".utf8)
                let (sent, answered) = try await offPool { () -> (Int, Bool) in
                    var sent = 0
                    while sent < 160 {
                        if connection.waitReadable(milliseconds: sent == 0 ? 0 : 50) { return (sent, true) }
                        do { try connection.send(bytes: [sent < head.count ? head[sent] : UInt8(ascii: "z")]) } catch {
                            break
                        }
                        sent += 1
                    }
                    return (sent, false)
                }
                #expect(answered, "no answer while a byte came every 50 ms (\(sent) sent)")
                let rest = String(decoding: try await offPool { try connection.readToEnd() }, as: UTF8.self)
                #expect(rest.hasPrefix("HTTP/1.1 408"), "\(sent) bytes sent: \(rest)")
            }
        }
    }

    @Test func anIdleKeptAliveConnectionIsClosed() async throws {
        try await withMockUpstream { mock in
            try await withProxy(yaml: config(mock, "  keep_alive_timeout: 0.5\n"), environment: ["GROK_API_KEY": testKey]) {
                proxy in
                let connection = try RawConnection(port: proxy.port)
                defer { connection.close() }
                try connection.send(RawConnection.post("/v1/chat/completions", chat("grok-code-fast-1", "hi")))
                #expect(try await offPool { try connection.readResponses(1) }.first?.status == 200)
                // Nothing more is sent: the proxy closes the connection, with no answer.
                #expect(try await offPool { try connection.readToEnd() }.isEmpty)
            }
        }
    }

    @Test func timeoutsMustBePositive() {
        let result = ConfigLoader.parse(
            "model_list: []\ngeneral_settings: {client_header_timeout: 0, keep_alive_timeout: 30}\n", path: "t.yaml")
        #expect(result.diagnostics.contains { $0.message.contains("client_header_timeout must be more than zero") })
        let fine = ConfigLoader.parse("model_list: []\ngeneral_settings: {keep_alive_timeout: 30}\n", path: "t.yaml")
        #expect(fine.config?.settings.clientTimeouts.keepAlive == 30)
        #expect(fine.config?.settings.clientTimeouts.header == 60)
    }
}
