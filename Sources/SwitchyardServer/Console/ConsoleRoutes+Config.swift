import Foundation
import Hummingbird
import SwitchyardCore

/// The run-time configuration pages: feature endpoints and their prompt versions, feature flags, and (to read)
/// fallback chains and rate limits. Every change goes through `RuntimeConfigAPI`, as the admin routes' do, so it is
/// checked, audited under the session's actor and applied before the page answers. An admin key's session may make
/// them.
extension ConsoleRoutes {
    static func addConfig(
        to router: RouterGroup<BasicRequestContext>, store: EngineStore, sessions: ConsoleSessions, runtime: RuntimeConfigSync
    ) {
        @Sendable func api(_ session: ConsoleSessions.Session) -> RuntimeConfigAPI {
            RuntimeConfigAPI(
                storage: store.current.accounting.storage, actor: session.actor, table: { store.current.table },
                applied: { reason in try await runtime.refresh(reason: reason) })
        }
        /// A change: runs it, then shows the page named by `page` with what happened.
        @Sendable func change(
            _ request: Request, page: @escaping @Sendable (ConsoleSessions.Session, Notice) async -> String,
            _ body: @escaping @Sendable (RuntimeConfigAPI, [String: String]) async throws(ProxyError) -> String
        ) async -> Response {
            await write(request, sessions, keys: false) { session, form in
                do throws(ProxyError) {
                    let done = try await body(api(session), form)
                    return await page(session, .done(done))
                } catch {
                    return await page(session, .error(error.message))
                }
            }
        }
        @Sendable func configPage(_ session: ConsoleSessions.Session, _ notice: Notice?) async -> String {
            await config(store.current, api: api(session), session: session, notice: notice)
        }
        router.get("/ui/config") { request, _ in
            guard let (_, session) = current(request, sessions) else { return redirect("/ui/login") }
            return html(await configPage(session, nil))
        }
        router.get("/ui/config/prompts") { request, _ in
            guard let (_, session) = current(request, sessions) else { return redirect("/ui/login") }
            let slug = query(request)["slug"] ?? ""
            return html(await prompts(api: api(session), slug: slug, session: session, notice: nil))
        }
        router.post("/ui/config/feature") { request, _ in
            await change(request, page: configPage) { api, form throws(ProxyError) in
                let update = form["update"] == "true"
                var body: JSONObject = ["slug": .string(form["slug"] ?? "")]
                if let model = form["model"] { body["model"] = .string(model) }
                if let defaults = form["defaults"] {
                    let text = defaults.trimmingCharacters(in: .whitespacesAndNewlines)
                    body["defaults"] = text.isEmpty ? .object([:]) : try jsonField(text, name: "defaults")
                }
                for name in ["active", "stream_allowed"] {
                    if let value = form[name] { body[name] = .bool(value == "true") }
                }
                _ = try await api.setFeature(body, update: update)
                return update ? "The feature endpoint was changed." : "The feature endpoint was made."
            }
        }
        router.post("/ui/config/prompt") { request, _ in
            let slug = query(request)["slug"] ?? ""
            return await change(
                request,
                page: { session, notice in await prompts(api: api(session), slug: slug, session: session, notice: notice) }
            ) { api, form throws(ProxyError) in
                var body: JSONObject = ["slug": .string(slug), "activate": .bool(form["activate"] == "true")]
                for name in ["system", "user"] {
                    // Browsers send a text area's line ends as CRLF.
                    let text = (form[name] ?? "").replacingOccurrences(of: "\r\n", with: "\n")
                    if !text.isEmpty { body[name] = .string(text) }
                }
                if let version = form["version"] {
                    guard let number = Int(version) else { throw .invalidRequest("'version' must be a whole number.") }
                    _ = try await api.activatePrompt(["slug": .string(slug), "version": .int(number)])
                    return "Version \(number) is active."
                }
                let made = try await api.newPrompt(body)
                let version = made.objectValue?["version"]?.intValue ?? 0
                return "Version \(version) was added" + (form["activate"] == "true" ? " and is active." : ".")
            }
        }
        router.post("/ui/config/flag") { request, _ in
            await change(request, page: configPage) { api, form throws(ProxyError) in
                let name = form["name"] ?? ""
                if form["delete"] == "true" {
                    _ = try await api.remove(.flag, ["name": .string(name)])
                    return "The flag \(name) was removed."
                }
                let overrides = try flagOverrides(form["overrides"] ?? "")
                _ = try await api.set(
                    .flag, ["name": .string(name), "enabled": .bool(form["enabled"] == "true"), "overrides": overrides])
                return "The flag \(name) was set."
            }
        }
    }

    /// A JSON object typed into a form field.
    static func jsonField(_ text: String, name: String) throws(ProxyError) -> JSONValue {
        guard let value = try? JSONParser.parse(Array(text.utf8)), value.objectValue != nil else {
            throw .invalidRequest("'\(name)' must be a JSON object, such as {\"temperature\": 0.2}.", param: name)
        }
        return value
    }

    /// A flag's overrides as typed, one a line: `tier:free=off`, `team:research=on`, `key:ci-bot=on`.
    static func flagOverrides(_ text: String) throws(ProxyError) -> JSONValue {
        var overrides: [JSONValue] = []
        for line in text.split(whereSeparator: \.isNewline) {
            let entry = line.trimmingCharacters(in: .whitespaces)
            if entry.isEmpty { continue }
            let parts = entry.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            let target = parts[0].split(separator: ":", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            guard parts.count == 2, ["on", "off"].contains(parts[1]), target.count == 2,
                FeatureFlag.Override.Scope(rawValue: target[0]) != nil, !target[1].isEmpty
            else {
                throw .invalidRequest(
                    "An override reads SCOPE:NAME=on|off, with key, tier or team as the scope (\(entry.prefix(80))).",
                    param: "overrides")
            }
            overrides.append(.object([target[0]: .string(target[1]), "enabled": .bool(parts[1] == "on")]))
        }
        return .array(overrides)
    }

    /// A flag's overrides as the form shows them.
    static func overridesText(_ flag: FeatureFlag) -> String {
        flag.overrides.map { "\($0.scope.rawValue):\($0.value)=\($0.enabled ? "on" : "off")" }.joined(separator: "\n")
    }

    /// `GET /ui/config`: feature endpoints, flags, fallback chains and rate limits, as the database holds them.
    static func config(
        _ engine: ProxyEngine, api: RuntimeConfigAPI, session: ConsoleSessions.Session, notice: Notice?
    ) async -> String {
        let runtime: RuntimeConfig
        do throws(ProxyError) {
            runtime = try await api.current().runtime
        } catch {
            return HTML.page(
                title: "Run-time configuration", body: "<p class=\"error\">\(HTML.escape(error.message))</p>", session: session)
        }
        let csrf = "<input type=\"hidden\" name=\"csrf\" value=\"\(HTML.escape(session.csrf))\">"
        func hidden(_ name: String, _ value: String) -> String {
            "<input type=\"hidden\" name=\"\(name)\" value=\"\(HTML.escape(value))\">"
        }
        func button(_ action: String, _ label: String, _ fields: [(String, String)]) -> String {
            "<form method=\"post\" action=\"\(action)\" class=\"inline\">\(csrf)"
                + fields.map { hidden($0.0, $0.1) }.joined() + "<button type=\"submit\">\(HTML.escape(label))</button></form>"
        }
        func text(_ object: JSONObject) -> String {
            object.isEmpty ? "-" : String(decoding: JSONValue.object(object).encodedBytes(), as: UTF8.self)
        }
        var body = noticeHTML(notice)
        let features: [[HTML.Cell]] = runtime.features.values.sorted { $0.slug < $1.slug }.map { feature in
            [
                .text(feature.slug), .text(feature.model), .text(text(feature.defaults)),
                .text(feature.clientOverrides.map { $0.isEmpty ? "none" : $0.sorted().joined(separator: ", ") } ?? "all"),
                .text(feature.streamAllowed ? "yes" : "no"), .text(feature.active ? "active" : "off"),
                .raw(
                    "<a href=\"/ui/config/prompts?slug=\(HTML.escape(feature.slug))\">"
                        + (feature.promptVersion.map { "version \($0)" } ?? "none") + "</a>"),
                .raw(
                    button(
                        "/ui/config/feature", feature.active ? "Turn off" : "Turn on",
                        [("slug", feature.slug), ("update", "true"), ("active", feature.active ? "false" : "true")])),
            ]
        }
        let aliases = engine.table.enabledAliases
        body += """
            <h2>Feature endpoints</h2>
            <p class="note">A client sends the slug as its model and gets the feature's model, defaults and active prompt.</p>
            \(HTML.table(["Slug", "Model", "Defaults", "Client may override", "Streaming", "State", "Prompt", ""], features, id: "features"))
            <form method="post" action="/ui/config/feature" class="row">\(csrf)
            <label>Slug <input name="slug" required size="16"></label>
            <label>Model <select name="model">\(aliases.map { "<option>\(HTML.escape($0))</option>" }.joined())</select></label>
            <label>Defaults (JSON) <input name="defaults" placeholder="{&quot;temperature&quot;: 0.2}" size="28"></label>
            <button type="submit">Add feature endpoint</button></form>
            """
        let flags: [[HTML.Cell]] = runtime.flags.values.sorted { $0.name < $1.name }.map { flag in
            [
                .text(flag.name), .text(flag.enabled ? "on" : "off"),
                .text(flag.overrides.isEmpty ? "-" : overridesText(flag).replacingOccurrences(of: "\n", with: ", ")),
                .raw(
                    button(
                        "/ui/config/flag", flag.enabled ? "Turn off" : "Turn on",
                        [("name", flag.name), ("enabled", flag.enabled ? "false" : "true"), ("overrides", overridesText(flag))])
                        + " "
                        + button("/ui/config/flag", "Remove", [("name", flag.name), ("delete", "true")])),
            ]
        }
        body += """
            <h2>Feature flags</h2>
            <p class="note">enable_streaming, enable_tool_use and enable_vision are checked on every request; a key's override
            wins over its tier's, which wins over its team's.</p>
            \(HTML.table(["Flag", "For everyone", "Overrides", ""], flags, id: "flags"))
            <form method="post" action="/ui/config/flag" class="row">\(csrf)
            <label>Flag <input name="name" list="known-flags" required size="18"></label>
            <datalist id="known-flags">\(FlagCapability.allCases.map { "<option value=\"\($0.rawValue)\">" }.joined())</datalist>
            <label>For everyone <select name="enabled"><option value="true">on</option><option value="false">off</option></select></label>
            <label>Overrides, one a line (tier:free=off) <textarea name="overrides" rows="2" cols="24"></textarea></label>
            <button type="submit">Set flag</button></form>
            """
        let chains: [[HTML.Cell]] = runtime.fallbacks.values.sorted { $0.name < $1.name }.map {
            [.text($0.model), .text($0.trigger.rawValue), .text($0.chain.joined(separator: " → "))]
        }
        let limits: [[HTML.Cell]] = runtime.rateLimits.values.sorted { $0.model < $1.model }.map { (limit) -> [HTML.Cell] in
            var fields = limit.json
            _ = fields.removeValue(forKey: "model")
            return [.text(limit.model), .text(text(fields))]
        }
        body += """
            <h2>Fallback chains</h2>\(HTML.table(["Alias", "Trigger", "Chain"], chains, id: "fallbacks"))
            <h2>Rate limits</h2>\(HTML.table(["Alias or deployment", "Limits"], limits, id: "rate-limits"))
            <p class="note">Revision \(runtime.revision). Chains and rate limits are set with switchyard runtime or the admin
            routes (/fallback/set, /rate_limit/set); every change is in GET /config/audit.</p>
            """
        return HTML.page(title: "Run-time configuration", body: body, session: session)
    }

    /// `GET /ui/config/prompts?slug=`: a feature's prompt versions, one of them active; a new version, or another
    /// made active (a rollback).
    static func prompts(api: RuntimeConfigAPI, slug: String, session: ConsoleSessions.Session, notice: Notice?) async -> String {
        let runtime: RuntimeConfig
        do throws(ProxyError) {
            runtime = try await api.current().runtime
        } catch {
            return HTML.page(title: "Prompts", body: "<p class=\"error\">\(HTML.escape(error.message))</p>", session: session)
        }
        guard let feature = runtime.features[slug] else {
            return HTML.page(
                title: "Prompts", body: noticeHTML(notice) + "<p class=\"error\">No feature endpoint is named that.</p>",
                session: session)
        }
        let csrf = "<input type=\"hidden\" name=\"csrf\" value=\"\(HTML.escape(session.csrf))\">"
        var components = URLComponents()
        components.queryItems = [URLQueryItem(name: "slug", value: slug)]
        let action = "/ui/config/prompt?" + (components.percentEncodedQuery ?? "")
        let versions: [[HTML.Cell]] = (runtime.prompts[slug] ?? [:]).values.sorted { $0.version > $1.version }.map { prompt in
            let active = prompt.version == feature.promptVersion
            return [
                .text("\(prompt.version)"), .raw("<pre class=\"text\">\(HTML.escape(prompt.system?.source ?? ""))</pre>"),
                .raw("<pre class=\"text\">\(HTML.escape(prompt.user?.source ?? ""))</pre>"),
                .raw(
                    active
                        ? "<strong>active</strong>"
                        : "<form method=\"post\" action=\"\(HTML.escape(action))\" class=\"inline\">\(csrf)"
                            + "<input type=\"hidden\" name=\"version\" value=\"\(prompt.version)\">"
                            + "<button type=\"submit\">Make active</button></form>"),
            ]
        }
        let body = """
            \(noticeHTML(notice))
            <p><a href="/ui/config">Run-time configuration</a> · feature \(HTML.escape(slug)) on \(HTML.escape(feature.model))</p>
            \(HTML.table(["Version", "System", "User template", ""], versions, id: "versions"))
            <h2>New version</h2>
            <form method="post" action="\(HTML.escape(action))">\(csrf)
            <p><label>System prompt<br><textarea name="system" rows="4" cols="80"></textarea></label></p>
            <p><label>User template, with {{variables}} from prompt_variables<br><textarea name="user" rows="3" cols="80"></textarea></label></p>
            <p><label><input type="checkbox" name="activate" value="true" checked> Make it active</label>
            <button type="submit">Add version</button></p></form>
            """
        return HTML.page(title: "Prompts of \(slug)", body: body, session: session)
    }

    /// What a change did, above the page.
    static func noticeHTML(_ notice: Notice?) -> String {
        switch notice {
        case .done(let text)?: "<p id=\"notice\">\(HTML.escape(text))</p>"
        case .error(let text)?: "<p class=\"error\">\(HTML.escape(text))</p>"
        case .newKey?, nil: ""
        }
    }
}
