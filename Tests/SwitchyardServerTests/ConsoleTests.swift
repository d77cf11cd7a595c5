import AsyncHTTPClient
import Foundation
import NIOHTTP1
import Testing

@testable import SwitchyardCore
@testable import SwitchyardServer
@testable import SwitchyardStorage

/// The console over HTTP: log-in, the session cookie, CSRF, keys made and revoked (browser tests to come).
@Suite struct ConsoleTests {
    /// A client that does not follow redirects: the tests look at them.
    static let client = HTTPClient(
        eventLoopGroup: HTTPClient.defaultEventLoopGroup,
        configuration: HTTPClient.Configuration(redirectConfiguration: .disallow))

    static func send(
        _ method: HTTPMethod = .POST, _ url: String, json: JSONValue? = nil, raw: String? = nil,
        headers: [(String, String)] = []
    ) async throws -> HTTPResult {
        try await SwitchyardServerTests.send(method, url, json: json, raw: raw, headers: headers, client: client)
    }
    static func formBody(_ fields: [String: String]) -> String {
        var components = URLComponents()
        components.queryItems = fields.sorted { $0.key < $1.key }.map { URLQueryItem(name: $0.key, value: $0.value) }
        return components.percentEncodedQuery ?? ""
    }

    /// Logs in; answers the cookie header to send.
    static func logIn(_ proxy: ProxyHandle, key: String = masterKey) async throws -> (String, HTTPResult) {
        let answer = try await Self.send(.POST, proxy.url + "/ui/login", raw: formBody(["key": key]))
        let setCookie = answer.headers.first(name: "set-cookie") ?? ""
        let value = setCookie.split(separator: ";").first.map(String.init) ?? ""
        return (value, answer)
    }

    static func csrf(in page: String) -> String? {
        guard let range = page.range(of: #"name="csrf" value=""#) else { return nil }
        return String(page[range.upperBound...].prefix { $0 != "\"" })
    }

    @Test func logInKeysAndCSRF() async throws {
        let database = try await Backend.sqlite.newURL()
        try await withMockUpstream { mock in
            try await withProxy(yaml: keysConfig(mock: mock, database: database), logLevel: .info) { proxy in
                // No session: every page sends the browser to the log-in page.
                for path in ["/ui", "/ui/keys", "/ui/models"] {
                    let page = try await Self.send(.GET, proxy.url + path)
                    #expect(page.status == 303)
                    #expect(page.headers.first(name: "location") == "/ui/login")
                }
                let wrong = try await Self.logIn(proxy, key: "sk-wrong-key-000000")
                #expect(wrong.1.status == 401)
                #expect(wrong.0.isEmpty)
                let (cookie, login) = try await Self.logIn(proxy)
                #expect(login.status == 303)
                let setCookie = login.headers.first(name: "set-cookie") ?? ""
                for attribute in ["HttpOnly", "SameSite=Strict", "Path=/ui"] { #expect(setCookie.contains(attribute)) }
                #expect(!setCookie.contains("Secure"))
                let session = [("cookie", cookie)]
                let keysPage = try await Self.send(.GET, proxy.url + "/ui/keys", headers: session)
                #expect(keysPage.status == 200)
                #expect(keysPage.headers.first(name: "content-security-policy")?.contains("default-src 'none'") == true)
                let token = try #require(Self.csrf(in: keysPage.text))
                // A forged write (no CSRF token, or another) is refused and makes nothing.
                for forged in [["alias": "forged"], ["alias": "forged", "csrf": "0123"]] {
                    let refused = try await Self.send(
                        .POST, proxy.url + "/ui/keys/create", raw: Self.formBody(forged), headers: session)
                    #expect(refused.status == 403)
                }
                let made = try await Self.send(
                    .POST, proxy.url + "/ui/keys/create",
                    raw: Self.formBody(["key_alias": "console-key", "max_budget": "5", "csrf": token]), headers: session)
                #expect(made.status == 200)
                let raw = try #require(
                    made.text.range(of: #"id="new-key">"#).map { String(made.text[$0.upperBound...].prefix { $0 != "<" }) })
                #expect(raw.hasPrefix("sk-"))
                // The key works; its spend shows; the raw key is never shown again.
                #expect(
                    try await Self.send(.POST, proxy.url + "/v1/chat/completions", json: chat("m", "hi"), headers: bearer(raw))
                        .status == 200)
                let listed = try await Self.send(.GET, proxy.url + "/ui/keys", headers: session)
                #expect(listed.text.contains("console-key"))
                #expect(!listed.text.contains(raw))
                #expect(!listed.text.contains("$0.000000</td><td>$5.00"), "spend still zero: \(listed.text)")
                // Spend, charted per model and per key; the request log, filtered.
                #expect(
                    try await Self.send(.POST, proxy.url + "/v1/chat/completions", json: chat("nope", "hi"), headers: bearer(raw))
                        .status == 404)
                let byModel = try await Self.send(.GET, proxy.url + "/ui/spend?group_by=model", headers: session)
                #expect(byModel.status == 200)
                #expect(byModel.text.contains("<svg") && byModel.text.contains(#"class="bar""#))
                #expect(byModel.text.contains(">m</text>"))
                let byKey = try await Self.send(.GET, proxy.url + "/ui/spend?group_by=api_key", headers: session)
                #expect(byKey.text.contains("console-key"))
                let log = try await Self.send(.GET, proxy.url + "/ui/logs?model=m", headers: session)
                #expect(log.status == 200)
                #expect(log.text.contains("<td>200</td>") && !log.text.contains("<td>404</td>"))
                let missing = try await Self.send(.GET, proxy.url + "/ui/logs?status=404", headers: session)
                #expect(missing.text.contains("<td>404</td>") && !missing.text.contains("<td>200</td>"))
                #expect(!missing.text.contains(raw))
                #expect(try await Self.send(.GET, proxy.url + "/ui/spend").status == 303)
                // Revoked: refused from then on.
                let tokenHash = KeyHashing.sha256(raw)
                let revoked = try await Self.send(
                    .POST, proxy.url + "/ui/keys/revoke", raw: Self.formBody(["token": tokenHash, "csrf": token]),
                    headers: session)
                #expect(revoked.status == 200)
                #expect(!revoked.text.contains("console-key"))
                #expect(
                    try await Self.send(.POST, proxy.url + "/v1/chat/completions", json: chat("m", "hi"), headers: bearer(raw))
                        .status == 401)
                // Models and overview; an HTML-looking alias is escaped.
                let models = try await Self.send(.GET, proxy.url + "/ui/models", headers: session)
                #expect(models.text.contains("xai/grok-code-fast-1"))
                #expect(!models.text.contains(testKey))
                // Logged out: the cookie no longer opens anything.
                #expect(
                    try await Self.send(.POST, proxy.url + "/ui/logout", raw: Self.formBody(["csrf": token]), headers: session)
                        .status == 303)
                #expect(try await Self.send(.GET, proxy.url + "/ui", headers: session).status == 303)
            }
        }
    }

    @Test func anAdminKeyMayLookButNotChangeKeysAndHTTPSMakesTheCookieSecure() async throws {
        let database = try await Backend.sqlite.newURL()
        try await withMockUpstream { mock in
            try await withProxy(yaml: keysConfig(mock: mock, database: database), logLevel: .info) { proxy in
                let (admin, _) = try await generateKey(proxy, ["key_alias": "ops", "metadata": .object(["role": "admin"])])
                let (plain, _) = try await generateKey(proxy)
                #expect(try await Self.logIn(proxy, key: plain).1.status == 403)
                let answer = try await Self.send(
                    .POST, proxy.url + "/ui/login", raw: Self.formBody(["key": admin]), headers: [("x-forwarded-proto", "https")])
                let setCookie = answer.headers.first(name: "set-cookie") ?? ""
                #expect(setCookie.contains("; Secure"))
                let cookie = [("cookie", String(setCookie.split(separator: ";")[0]))]
                let page = try await Self.send(.GET, proxy.url + "/ui/keys", headers: cookie)
                #expect(page.status == 200)
                #expect(page.text.contains("key:ops"))
                let token = try #require(Self.csrf(in: page.text))
                let refused = try await Self.send(
                    .POST, proxy.url + "/ui/keys/create", raw: Self.formBody(["key_alias": "x", "csrf": token]), headers: cookie)
                #expect(refused.status == 403)
            }
        }
    }

    /// Badly encoded forms and queries get an answer and leave the proxy serving (a `%zz` in a form once stopped it:
    /// Foundation's URLComponents traps on it).
    @Test func badlyEncodedFormsAndQueriesAreRefusedAndTheProxyServes() async throws {
        let database = try await Backend.sqlite.newURL()
        try await withMockUpstream { mock in
            try await withProxy(yaml: keysConfig(mock: mock, database: database), logLevel: .info) { proxy in
                for body in ["key=%zz", "key=%", "key=%E", "%=1", "key=\(masterKey)%"] {
                    let answer = try await Self.send(.POST, proxy.url + "/ui/login", raw: body)
                    #expect(answer.status == 400, "\(body): \(answer.status)")
                    #expect(answer.text.contains("could not be read"))
                }
                let (cookie, _) = try await Self.logIn(proxy)
                let session = [("cookie", cookie)]
                let refused = try await Self.send(
                    .POST, proxy.url + "/ui/keys/create", raw: "csrf=%zz&key_alias=x", headers: session)
                #expect(refused.status == 400)
                let large = try await Self.send(
                    .POST, proxy.url + "/ui/config/flag", raw: "name=" + String(repeating: "a", count: 1_100_000),
                    headers: session)
                #expect(large.status == 400)
                for path in ["/ui/logs?model=%zz&status=%", "/ui/spend?group_by=%zz", "/ui/logs/detail?request_id=%zz"] {
                    let page = try await Self.send(.GET, proxy.url + path, headers: session)
                    #expect([200, 400, 404].contains(page.status), "\(path): \(page.status)")
                }
                #expect(
                    try await SwitchyardServerTests.send(
                        .POST, proxy.url + "/v1/chat/completions", json: chat("m", "hi"), headers: master
                    ).status
                        == 200)
            }
        }
        #expect(ConsoleRoutes.decodeForm("a=1+2&b=%2B%C3%A9&c&a=x&=e") == ["a": "1 2", "b": "+é", "c": "", "": "e"])
        #expect(ConsoleRoutes.decodeForm("a=%zz") == nil)
        #expect(ConsoleRoutes.decodeForm("") == [:])
        // Any text: an answer, never a trap.
        let alphabet = Array("%=&+aF9\u{e9}\u{0}".unicodeScalars)
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<2_000 {
            let text = String(
                String.UnicodeScalarView(
                    (0..<Int.random(in: 0..<24, using: &generator)).map { _ in
                        alphabet.randomElement(using: &generator) ?? "a"
                    }))
            _ = ConsoleRoutes.decodeForm(text)
        }
    }

    @Test func sessionsExpireWhenIdleAndTextIsEscaped() {
        let sessions = ConsoleSessions(idleExpiry: 60)
        let token = sessions.open(actor: "master_key", now: 1_000)
        #expect(token.count == 64)
        #expect(sessions.session(token, now: 1_050)?.actor == "master_key")
        #expect(sessions.session(token, now: 1_100) != nil)  // kept alive by the use at 1,050
        #expect(sessions.session(token, now: 1_161) == nil)
        #expect(sessions.session("nope") == nil)
        #expect(HTML.escape(#"<a href="x">'&'</a>"#) == "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;")
    }
}
