import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import SwitchyardCore
import SwitchyardStorage

/// The operator's console under `/ui`: server-made HTML that works without JavaScript, behind a log-in with the
/// master key or an admin key. A session is a cookie (HttpOnly, SameSite=Strict, Secure behind https) naming a
/// session in memory; every form carries the session's CSRF token and a write without it is refused. Nothing of a
/// key beyond its masked form is ever shown, except a new key once, on the page that made it. None of it is on
/// the request path.
enum ConsoleRoutes {
    static let cookie = "switchyard_session"

    static func add(to router: Router<BasicRequestContext>, store: EngineStore, sessions: ConsoleSessions) {
        addSpendAndLogs(to: router, store: store, sessions: sessions)
        router.get("/ui/login") { request, _ in login(error: nil, status: .ok) }
        router.post("/ui/login") { request, _ in
            let form = await Self.form(request)
            let engine = store.current
            do throws(ProxyError) {
                let actor = try await engine.adminActor(form["key"] ?? "")
                let token = sessions.open(actor: actor)
                var response = redirect("/ui")
                response.headers[.setCookie] = sessionCookie(token, request: request, maxAge: Int(sessions.idleExpiry))
                return response
            } catch {
                return login(error: error.message, status: error.status == 403 ? .forbidden : .unauthorized)
            }
        }
        router.post("/ui/logout") { request, _ in
            let form = await Self.form(request)
            if let (token, session) = current(request, sessions), form["csrf"] == session.csrf { sessions.close(token) }
            var response = redirect("/ui/login")
            response.headers[.setCookie] = sessionCookie("", request: request, maxAge: 0)
            return response
        }
        router.get("/ui") { request, _ in
            guard let (_, session) = current(request, sessions) else { return redirect("/ui/login") }
            return html(overview(store.current, session: session))
        }
        router.get("/ui/models") { request, _ in
            guard let (_, session) = current(request, sessions) else { return redirect("/ui/login") }
            return html(models(store.current, session: session))
        }
        router.get("/ui/keys") { request, _ in
            guard let (_, session) = current(request, sessions) else { return redirect("/ui/login") }
            return html(keys(store.current, session: session, notice: nil))
        }
        router.post("/ui/keys/create") { request, _ in
            await write(request, sessions) { session, form in
                let engine = store.current
                var body: JSONObject = [:]
                if let alias = form["alias"], !alias.isEmpty { body["key_alias"] = .string(alias) }
                if let budget = form["max_budget"], !budget.isEmpty {
                    guard let value = Double(budget), value >= 0 else {
                        return keys(engine, session: session, notice: .error("The budget must be a number of dollars."))
                    }
                    body["max_budget"] = .double(value)
                }
                let models = (form["models"] ?? "").split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
                    .filter { !$0.isEmpty }
                if !models.isEmpty { body["models"] = .array(models.map { .string($0) }) }
                do throws(ProxyError) {
                    let made = try await AdminAPI(accounting: engine.accounting).generate(body)
                    let raw = made.objectValue?["key"]?.stringValue ?? ""
                    return keys(engine, session: session, notice: .newKey(raw))
                } catch {
                    return keys(engine, session: session, notice: .error(error.message))
                }
            }
        }
        router.post("/ui/keys/revoke") { request, _ in
            await write(request, sessions) { session, form in
                let engine = store.current
                do throws(ProxyError) {
                    _ = try await AdminAPI(accounting: engine.accounting).delete(["keys": .array([.string(form["token"] ?? "")])])
                    return keys(engine, session: session, notice: .done("The key was revoked."))
                } catch {
                    return keys(engine, session: session, notice: .error(error.message))
                }
            }
        }
    }

    // MARK: Sessions and forms

    /// The request's session, from its cookie.
    static func current(_ request: Request, _ sessions: ConsoleSessions) -> (String, ConsoleSessions.Session)? {
        for field in request.headers[values: .cookie] {
            for pair in field.split(separator: ";") {
                let parts = pair.trimmingCharacters(in: .whitespaces).split(separator: "=", maxSplits: 1)
                guard parts.count == 2, parts[0] == cookie else { continue }
                let token = String(parts[1])
                if let session = sessions.session(token) { return (token, session) }
            }
        }
        return nil
    }

    /// A write: a session is required, and the form's CSRF token must be the session's (else 403). Key changes
    /// need the master key's session.
    static func write(
        _ request: Request, _ sessions: ConsoleSessions,
        _ body: (ConsoleSessions.Session, [String: String]) async -> String
    ) async -> Response {
        guard let (_, session) = current(request, sessions) else { return redirect("/ui/login") }
        let form = await Self.form(request)
        guard let csrf = form["csrf"], ProxyEngine.constantTimeEquals(csrf, session.csrf) else {
            return html(
                HTML.page(
                    title: "Refused",
                    body: "<p class=\"error\">This form was not sent from the console (its CSRF token is missing or wrong).</p>",
                    session: session), status: .forbidden)
        }
        guard session.actor == "master_key" else {
            return html(
                HTML.page(
                    title: "Refused", body: "<p class=\"error\">Keys are changed with the master key.</p>", session: session),
                status: .forbidden)
        }
        return html(await body(session, form))
    }

    /// An `application/x-www-form-urlencoded` body (16 KiB at most).
    static func form(_ request: Request) async -> [String: String] {
        guard let buffer = try? await request.body.collect(upTo: 16 * 1024) else { return [:] }
        var components = URLComponents()
        components.percentEncodedQuery = String(buffer: buffer).replacingOccurrences(of: "+", with: "%20")
        var values: [String: String] = [:]
        for item in components.queryItems ?? [] where values[item.name] == nil { values[item.name] = item.value ?? "" }
        return values
    }

    static func sessionCookie(_ token: String, request: Request, maxAge: Int) -> String {
        let secure = request.headers[HTTPField.Name("x-forwarded-proto")!]?.lowercased() == "https" ? "; Secure" : ""
        return "\(cookie)=\(token); Path=/ui; HttpOnly; SameSite=Strict; Max-Age=\(maxAge)\(secure)"
    }

    static func redirect(_ location: String) -> Response {
        Response(status: .seeOther, headers: [.location: location, .cacheControl: "no-store"])
    }

    /// An HTML page, never cached, never framed, loading nothing from anywhere.
    static func html(_ text: String, status: HTTPResponse.Status = .ok) -> Response {
        Response(
            status: status,
            headers: [
                .contentType: "text/html; charset=utf-8", .cacheControl: "no-store",
                .contentSecurityPolicy:
                    "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'",
                HTTPField.Name("x-frame-options")!: "DENY", HTTPField.Name("referrer-policy")!: "no-referrer",
            ], body: .init(byteBuffer: ByteBuffer(string: text)))
    }

    // MARK: Pages

    static func login(error: String?, status: HTTPResponse.Status) -> Response {
        let message = error.map { "<p class=\"error\">\(HTML.escape($0))</p>" } ?? ""
        return html(
            HTML.page(
                title: "Log in",
                body: """
                    \(message)
                    <form method="post" action="/ui/login" class="row">
                    <label>Master key or admin key <input type="password" name="key" autocomplete="off" required></label>
                    <button type="submit">Log in</button></form>
                    """, session: nil), status: status)
    }

    static func overview(_ engine: ProxyEngine, session: ConsoleSessions.Session) -> String {
        let table = engine.table
        let enabled = table.deployments.filter(\.status.isEnabled).count
        let keys = engine.accounting.keys.keys
        let spend = keys.reduce(0) { $0 + $1.spend }
        let storage = engine.accounting.storage.map { _ in engine.accounting.isReady ? "ok" : "starting" } ?? "off"
        return HTML.page(
            title: "Overview",
            body: HTML.table(
                ["", ""],
                [
                    [.text("Deployments"), .text("\(enabled) serving, \(table.deployments.count - enabled) disabled")],
                    [.text("Aliases"), .text(table.enabledAliases.joined(separator: ", "))],
                    [.text("Virtual keys"), .text("\(keys.count)")],
                    [.text("Spend of all keys"), .text(String(format: "$%.6f", spend))],
                    [.text("Run-time configuration revision"), .text("\(table.runtime.revision)")],
                    [.text("Storage"), .text(storage)],
                ]), session: session)
    }

    static func models(_ engine: ProxyEngine, session: ConsoleSessions.Session) -> String {
        let rows: [[HTML.Cell]] = engine.table.deployments.map { deployment in
            let status: String
            switch deployment.status {
            case .enabled: status = "serving"
            case .disabled(let reason, _): status = "disabled: \(reason)"
            }
            let origin: String
            switch deployment.origin {
            case .file: origin = "file"
            case .database(_, let by, _): origin = "database (\(by))"
            }
            let key = deployment.apiKey.map { "\($0.value.masked) (\($0.source.description))" } ?? "-"
            return [
                .text(deployment.alias), .text(deployment.id), .text(deployment.qualifiedModel), .text(status),
                .text(origin), .text(key), .text(deployment.baseURL?.source.description ?? "-"),
            ]
        }
        return HTML.page(
            title: "Models",
            body: HTML.table(["Alias", "Id", "Model", "Status", "Entry from", "Key (from)", "Base URL from"], rows),
            session: session)
    }

    enum Notice {
        case newKey(String)
        case done(String)
        case error(String)
    }

    static func keys(_ engine: ProxyEngine, session: ConsoleSessions.Session, notice: Notice?) -> String {
        let csrf = HTML.escape(session.csrf)
        var body = ""
        switch notice {
        case .newKey(let raw)?:
            body += """
                <p>The new key, shown this once (only its hash is kept):</p><p class="secret" id="new-key">\(HTML.escape(raw))</p>
                """
        case .done(let text)?: body += "<p id=\"notice\">\(HTML.escape(text))</p>"
        case .error(let text)?: body += "<p class=\"error\">\(HTML.escape(text))</p>"
        case nil: break
        }
        if engine.accounting.storage == nil {
            return HTML.page(
                title: "Keys", body: body + "<p>Storage is off (database_url: none): there are no keys.</p>", session: session)
        }
        let rows: [[HTML.Cell]] = engine.accounting.keys.keys.map { key in
            [
                .text(key.keyAlias ?? "-"), .text(key.keyName),
                .text(key.models.isEmpty ? "all" : key.models.joined(separator: ", ")),
                .text(String(format: "$%.6f", key.spend)), .text(key.maxBudget.map { String(format: "$%.2f", $0) } ?? "-"),
                .raw(
                    """
                    <form method="post" action="/ui/keys/revoke" class="inline"><input type="hidden" name="csrf" value="\(csrf)">\
                    <input type="hidden" name="token" value="\(HTML.escape(key.token))"><button type="submit">Revoke</button></form>
                    """),
            ]
        }
        body += HTML.table(["Alias", "Key", "Models", "Spend", "Budget", ""], rows)
        body += """
            <h2>New key</h2>
            <form method="post" action="/ui/keys/create" class="row"><input type="hidden" name="csrf" value="\(csrf)">
            <label>Alias <input name="alias"></label> <label>Budget (USD) <input name="max_budget" size="8"></label>
            <label>Models (comma-separated, empty: all) <input name="models"></label> <button type="submit">Create</button></form>
            """
        return HTML.page(title: "Keys", body: body, session: session)
    }
}
