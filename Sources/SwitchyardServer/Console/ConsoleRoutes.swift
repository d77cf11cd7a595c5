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

    static func add(
        to parent: Router<BasicRequestContext>, store: EngineStore, sessions: ConsoleSessions, runtime: RuntimeConfigSync
    ) {
        let router = parent.group("").add(middleware: Gate(store: store))
        addSpendAndLogs(to: router, store: store, sessions: sessions)
        addConfig(to: router, store: store, sessions: sessions, runtime: runtime)
        router.get("/ui/login") { request, _ in login(error: nil, status: .ok) }
        router.post("/ui/login") { request, _ in
            guard let form = await Self.form(request) else {
                return login(error: "The form could not be read: it is not well encoded, or too large.", status: .badRequest)
            }
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
            let csrf = await Self.form(request)?["csrf"] ?? ""
            if let (token, session) = current(request, sessions), ProxyEngine.constantTimeEquals(csrf, session.csrf) {
                sessions.close(token)
            }
            var response = redirect("/ui/login")
            response.headers[.setCookie] = sessionCookie("", request: request, maxAge: 0)
            return response
        }
        router.get("/ui") { request, _ in
            guard let (_, session) = current(request, sessions) else { return redirect("/ui/login") }
            return html(await overview(store.current, session: session))
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
            await write(request, sessions, keys: true) { session, form in
                let engine = store.current
                do throws(ProxyError) {
                    let made = try await AdminAPI(accounting: engine.accounting).generate(try keyFields(form, clearing: false))
                    let raw = made.objectValue?["key"]?.stringValue ?? ""
                    return keys(engine, session: session, notice: .newKey(raw))
                } catch {
                    return keys(engine, session: session, notice: .error(error.message))
                }
            }
        }
        router.get("/ui/keys/edit") { request, _ in
            guard let (_, session) = current(request, sessions) else { return redirect("/ui/login") }
            let engine = store.current
            let token = query(request)["token"] ?? ""
            guard let key = engine.accounting.keys.keys.first(where: { $0.token == token }) else {
                return html(keys(engine, session: session, notice: .error("No such key (or it was revoked).")), status: .notFound)
            }
            return html(editKey(key, session: session, error: nil))
        }
        router.post("/ui/keys/update") { request, _ in
            await write(request, sessions, keys: true) { session, form in
                let engine = store.current
                let token = form["token"] ?? ""
                do throws(ProxyError) {
                    var body = try keyFields(form, clearing: true)
                    body["key"] = .string(token)
                    _ = try await AdminAPI(accounting: engine.accounting).update(body)
                    return keys(engine, session: session, notice: .done("The key was changed."))
                } catch {
                    guard let key = engine.accounting.keys.keys.first(where: { $0.token == token }) else {
                        return keys(engine, session: session, notice: .error(error.message))
                    }
                    return editKey(key, session: session, error: error.message)
                }
            }
        }
        router.post("/ui/keys/revoke") { request, _ in
            await write(request, sessions, keys: true) { session, form in
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

    /// Answers 404 for every console page while `general_settings.disable_admin_ui` is on (read per request, so a
    /// reload turns the console on or off).
    struct Gate: RouterMiddleware {
        typealias Context = BasicRequestContext
        let store: EngineStore

        func handle(
            _ request: Request, context: Context, next: (Request, Context) async throws -> Response
        ) async throws -> Response {
            let engine = store.current
            guard engine.table.settings.disableAdminUI else { return try await next(request, context) }
            return engine.errorResponse(
                ProxyError(
                    status: 404, type: "invalid_request_error", code: "not_found",
                    message: "The console is turned off (general_settings.disable_admin_ui)."),
                requestID: ProxyEngine.requestID(from: request))
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
    /// (`keys`) need the master key's session; an admin key's may change the run-time configuration.
    static func write(
        _ request: Request, _ sessions: ConsoleSessions, keys: Bool,
        _ body: (ConsoleSessions.Session, [String: String]) async -> String
    ) async -> Response {
        guard let (_, session) = current(request, sessions) else { return redirect("/ui/login") }
        guard let form = await Self.form(request) else { return unreadableForm(session: session) }
        guard let csrf = form["csrf"], ProxyEngine.constantTimeEquals(csrf, session.csrf) else {
            return html(
                HTML.page(
                    title: "Refused",
                    body: "<p class=\"error\">This form was not sent from the console (its CSRF token is missing or wrong).</p>",
                    session: session), status: .forbidden)
        }
        guard !keys || session.actor == "master_key" else {
            return html(
                HTML.page(
                    title: "Refused", body: "<p class=\"error\">Keys are changed with the master key.</p>", session: session),
                status: .forbidden)
        }
        return html(await body(session, form))
    }

    /// The largest form the console reads (a prompt version's two templates are the largest field).
    static let formLimit = 1024 * 1024

    /// An `application/x-www-form-urlencoded` body, or nil when it is larger than `formLimit` or not well encoded.
    static func form(_ request: Request) async -> [String: String]? {
        guard let buffer = try? await request.body.collect(upTo: formLimit) else { return nil }
        return decodeForm(String(buffer: buffer))
    }

    /// `name=value&...`, `+` a space and `%XX` a byte; the first of repeated names counts. Nil for a bad `%`
    /// escape. (Foundation's `URLComponents.percentEncodedQuery` traps on one: a body of `key=%zz` stopped the proxy.)
    static func decodeForm(_ text: String) -> [String: String]? {
        func decode(_ part: Substring) -> String? {
            part.replacingOccurrences(of: "+", with: " ").removingPercentEncoding
        }
        var values: [String: String] = [:]
        for pair in text.split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard let name = decode(parts[0]), let value = parts.count > 1 ? decode(parts[1]) : "" else { return nil }
            if values[name] == nil { values[name] = value }
        }
        return values
    }

    /// The page for a form that could not be read.
    static func unreadableForm(session: ConsoleSessions.Session?) -> Response {
        html(
            HTML.page(
                title: "Refused",
                body: "<p class=\"error\">The form could not be read: it is not well encoded, or larger than 1 MiB.</p>",
                session: session), status: .badRequest)
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

    /// Requests, errors, latency and today's spend per alias: the counts and latency quantiles from the numbers
    /// `/metrics` shows (since start, estimated from its histogram buckets as `histogram_quantile` does), the spend
    /// from the request log (UTC today).
    static func overview(_ engine: ProxyEngine, session: ConsoleSessions.Session) async -> String {
        let table = engine.table
        let enabled = table.deployments.filter(\.status.isEnabled).count
        engine.requestLog.drain()
        let summaries = engine.requestLog.metrics.summaries()
        var spendToday: [String: Double] = [:]
        var spendNote = "Spend today comes from the request log; storage is off (database_url: none)."
        if engine.accounting.storage != nil {
            let today = String(KeyCache.iso(Date().timeIntervalSince1970).prefix(10))
            do throws(ProxyError) {
                let report = try await AdminAPI(accounting: engine.accounting).spendReport(
                    ["group_by": "model", "start_date": today])
                for line in report.objectValue?["data"]?.arrayValue ?? [] {
                    guard let object = line.objectValue, let model = object["model"]?.stringValue else { continue }
                    spendToday[model] = object["spend"]?.doubleValue ?? 0
                }
                spendNote = "Spend today is the request log's, from 00:00 UTC."
            } catch {
                spendNote = "Spend today is unknown: \(error.message)"
            }
        }
        let aliases = table.enabledAliases + summaries.keys.filter { !table.enabledAliases.contains($0) }.sorted()
        func milliseconds(_ duration: Duration?) -> String {
            guard let duration else { return "-" }
            return String(format: "%.0f ms", Double(duration.wholeNanoseconds) / 1e6)
        }
        let rows: [[HTML.Cell]] = aliases.map { alias in
            let summary = summaries[alias] ?? ProxyMetrics.AliasSummary()
            let rate =
                summary.requests == 0 ? "-" : String(format: "%.1f%%", 100 * Double(summary.errors) / Double(summary.requests))
            return [
                .text(alias), .text("\(summary.requests)"), .text("\(summary.errors)"), .text(rate),
                .text(milliseconds(summary.quantile(0.5))), .text(milliseconds(summary.quantile(0.99))),
                .text(engine.accounting.storage == nil ? "-" : String(format: "$%.6f", spendToday[alias] ?? 0)),
            ]
        }
        let keys = engine.accounting.keys.keys
        let storage = engine.accounting.storage.map { _ in engine.accounting.isReady ? "ok" : "starting" } ?? "off"
        return HTML.page(
            title: "Overview",
            body: HTML.table(
                ["Alias", "Requests", "Errors", "Error rate", "p50 latency", "p99 latency", "Spend today"], rows, id: "per-alias")
                    + """
                    <p class="note">Requests and latency since this instance started, from the numbers /metrics shows (the
                    quantiles estimated from its histogram buckets). \(HTML.escape(spendNote))</p>
                    """
                + HTML.table(
                    ["", ""],
                    [
                        [.text("Deployments"), .text("\(enabled) serving, \(table.deployments.count - enabled) disabled")],
                        [.text("Virtual keys"), .text("\(keys.count)")],
                        [.text("Spend of all keys"), .text(String(format: "$%.6f", keys.reduce(0) { $0 + $1.spend }))],
                        [.text("Run-time configuration revision"), .text("\(table.runtime.revision)")],
                        [.text("Storage"), .text(storage)],
                    ]), session: session)
    }

    /// Every deployment: status and breaker, where its entry, key and URL come from, and its prices.
    static func models(_ engine: ProxyEngine, session: ConsoleSessions.Session) -> String {
        func perMillion(_ price: Double?) -> String { price.map { String(format: "$%.2f", $0 * 1e6) } ?? "-" }
        let rows: [[HTML.Cell]] = engine.table.deployments.map { deployment in
            let status: String
            let breaker: String
            switch deployment.status {
            case .enabled:
                status = "serving"
                let slot = engine.router.slot(for: deployment)
                breaker = slot.breakerState.rawValue + (slot.usage().inFlight > 0 ? ", \(slot.usage().inFlight) in flight" : "")
            case .disabled(let reason, _):
                status = "disabled: \(reason)"
                breaker = "-"
            }
            let origin: String
            switch deployment.origin {
            case .file: origin = "file"
            case .database(_, let by, _): origin = "database (\(by))"
            }
            let key = deployment.apiKey.map { "\($0.value.masked) (\($0.source.description))" } ?? "-"
            let prices = deployment.pricing.base
            var price = "\(perMillion(prices.inputPerToken)) in, \(perMillion(prices.outputPerToken)) out"
            if prices.cachedInputPerToken != nil { price += ", \(perMillion(prices.cachedInputPerToken)) cached" }
            if let threshold = deployment.pricing.longPromptThreshold { price += "; long prompts from \(threshold) tokens" }
            if !prices.isSet { price = "-" }
            return [
                .text(deployment.alias), .text(deployment.id), .text(deployment.qualifiedModel), .text(status), .text(breaker),
                .text(origin), .text(key),
                .text(deployment.baseURL.map { "\(HTML.shownURL($0.value)) (\($0.source.description))" } ?? "-"),
                .text(price == "-" ? price : price + " (\(deployment.pricing.source.rawValue))"),
            ]
        }
        return HTML.page(
            title: "Models",
            body: HTML.table(
                [
                    "Alias", "Id", "Model", "Status", "Breaker", "Entry from", "Key (from)", "Base URL (from)",
                    "Price per million tokens",
                ], rows, id: "deployments"),
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
        case let other: body += noticeHTML(other)
        }
        if engine.accounting.storage == nil {
            return HTML.page(
                title: "Keys", body: body + "<p>Storage is off (database_url: none): there are no keys.</p>", session: session)
        }
        let rows: [[HTML.Cell]] = engine.accounting.keys.keys.map { key in
            [
                .text(key.keyAlias ?? "-"), .text(key.keyName),
                .text(key.models.isEmpty ? "all" : key.models.joined(separator: ", ")),
                .text(String(format: "$%.6f", key.spend)),
                .text(
                    (key.maxBudget.map { String(format: "$%.2f", $0) } ?? "-") + (key.budgetDuration.map { " per \($0)" } ?? "")),
                .text(limits(key)),
                .raw(
                    """
                    <a href="/ui/keys/edit?token=\(HTML.escape(key.token))">Edit</a>
                    <form method="post" action="/ui/keys/revoke" class="inline"><input type="hidden" name="csrf" value="\(csrf)">\
                    <input type="hidden" name="token" value="\(HTML.escape(key.token))"><button type="submit">Revoke</button></form>
                    """),
            ]
        }
        body += HTML.table(["Alias", "Key", "Models", "Spend", "Budget", "Limits", ""], rows, id: "keys")
        body += """
            <h2>New key</h2>
            <form method="post" action="/ui/keys/create" class="row"><input type="hidden" name="csrf" value="\(csrf)">
            <label>Alias <input name="key_alias"></label> <label>Budget (USD) <input name="max_budget" size="8"></label>
            <label>Models (comma-separated, empty: all) <input name="models"></label> <button type="submit">Create</button></form>
            """
        return HTML.page(title: "Keys", body: body, session: session)
    }

    /// A key's rate limits, as the keys page lists them.
    static func limits(_ key: VirtualKey) -> String {
        let parts = [
            key.rpmLimit.map { "\($0) rpm" }, key.tpmLimit.map { "\($0) tpm" },
            key.maxParallelRequests.map { "\($0) parallel" },
        ].compactMap { $0 }
        return parts.isEmpty ? "-" : parts.joined(separator: ", ")
    }

    /// The fields of the key forms as `/key/generate` and `/key/update` take them. An empty field is left out, or
    /// with `clearing` (the edit form, which shows every field) set to null: emptied, it clears the value.
    static func keyFields(_ form: [String: String], clearing: Bool) throws(ProxyError) -> JSONObject {
        var body: JSONObject = [:]
        func field(_ name: String, _ value: () throws(ProxyError) -> JSONValue) throws(ProxyError) {
            let text = (form[name] ?? "").trimmingCharacters(in: .whitespaces)
            if text.isEmpty {
                if clearing, form[name] != nil { body[name] = .null }
            } else {
                body[name] = try value()
            }
        }
        func text(_ name: String) -> String { (form[name] ?? "").trimmingCharacters(in: .whitespaces) }
        try field("key_alias") { .string(text("key_alias")) }
        try field("models") {
            .array(text("models").split(separator: ",").map { .string($0.trimmingCharacters(in: .whitespaces)) })
        }
        try field("max_budget") { () throws(ProxyError) in
            guard let value = Double(text("max_budget")), value >= 0, value.isFinite else {
                throw .invalidRequest("The budget must be a number of dollars, zero or more.", param: "max_budget")
            }
            return .double(value)
        }
        try field("budget_duration") { .string(text("budget_duration")) }
        for name in ["rpm_limit", "tpm_limit", "max_parallel_requests"] {
            try field(name) { () throws(ProxyError) in
                guard let value = Int(text(name)), value >= 0 else {
                    throw .invalidRequest("'\(name)' must be a whole number, zero or more.", param: name)
                }
                return .int(value)
            }
        }
        // An emptied models field means every model, as on the new-key form.
        if body["models"] == .null { body["models"] = .array([]) }
        return body
    }

    /// The form that changes one key's alias, models, budget and limits; an emptied field clears the value.
    static func editKey(_ key: VirtualKey, session: ConsoleSessions.Session, error: String?) -> String {
        func input(_ name: String, _ label: String, _ value: String?, size: Int = 10) -> String {
            "<p><label>\(label) <input name=\"\(name)\" value=\"\(HTML.escape(value ?? ""))\" size=\"\(size)\"></label></p>"
        }
        let body = """
            \(error.map { "<p class=\"error\">\(HTML.escape($0))</p>" } ?? "")
            <p>Key \(HTML.escape(key.keyName)), spent \(String(format: "$%.6f", key.spend)). An emptied field clears the value.</p>
            <form method="post" action="/ui/keys/update"><input type="hidden" name="csrf" value="\(HTML.escape(session.csrf))">
            <input type="hidden" name="token" value="\(HTML.escape(key.token))">
            \(input("key_alias", "Alias", key.keyAlias, size: 24))
            \(input("models", "Models (comma-separated, empty: all)", key.models.joined(separator: ", "), size: 40))
            \(input("max_budget", "Budget (USD)", key.maxBudget.map { "\($0)" }))
            \(input("budget_duration", "Budget resets every (e.g. 30d, 1h)", key.budgetDuration))
            \(input("rpm_limit", "Requests per minute", key.rpmLimit.map { "\($0)" }))
            \(input("tpm_limit", "Tokens per minute", key.tpmLimit.map { "\($0)" }))
            \(input("max_parallel_requests", "Parallel requests", key.maxParallelRequests.map { "\($0)" }))
            <button type="submit">Save</button> <a href="/ui/keys">Cancel</a></form>
            """
        return HTML.page(title: "Edit key", body: body, session: session)
    }
}
