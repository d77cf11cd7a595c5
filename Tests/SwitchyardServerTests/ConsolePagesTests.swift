import AsyncHTTPClient
import Foundation
import NIOHTTP1
import Testing

@testable import SwitchyardCore
@testable import SwitchyardServer
@testable import SwitchyardStorage

/// The console's pages over HTTP: the overview's numbers, key editing, a request's detail, the run-time
/// configuration pages, and the console turned off.
@Suite struct ConsolePagesTests {
    typealias Console = ConsoleTests

    /// A logged-in master session: its cookie header and CSRF token.
    static func session(_ proxy: ProxyHandle, key: String = masterKey) async throws -> (headers: [(String, String)], csrf: String)
    {
        let (cookie, _) = try await Console.logIn(proxy, key: key)
        let headers = [("cookie", cookie)]
        let page = try await Console.send(.GET, proxy.url + "/ui/keys", headers: headers)
        return (headers, try #require(Console.csrf(in: page.text)))
    }

    /// The cells of the row of table `id` whose first cell is `first`.
    static func row(_ page: String, table id: String, first: String) -> [String]? {
        guard let start = page.range(of: "<table id=\"\(id)\">") else { return nil }
        let table = page[start.upperBound...].prefix { _ in true }
        guard let end = table.range(of: "</table>") else { return nil }
        for line in table[..<end.lowerBound].components(separatedBy: "<tr>") {
            let cells = line.components(separatedBy: "<td>").dropFirst().map { String($0.prefix { $0 != "<" }) }
            if cells.first == first { return cells }
        }
        return nil
    }

    @Test func theOverviewCountsRequestsErrorsLatencyAndTodaysSpendPerAlias() async throws {
        let database = try await Backend.sqlite.newURL()
        try await withMockUpstream { mock in
            try await withProxy(yaml: keysConfig(mock: mock, database: database), logLevel: .info) { proxy in
                for _ in 0..<3 {
                    #expect(
                        try await send(.POST, proxy.url + "/v1/chat/completions", json: chat("m", "hi"), headers: master).status
                            == 200)
                }
                // A request the upstream refuses counts as the alias's error.
                let refused = try await send(
                    .POST, proxy.url + "/v1/chat/completions", json: chat("m", "FAULT:400"), headers: master)
                #expect(refused.status == 400)
                let (headers, _) = try await Self.session(proxy)
                let page = try await Console.send(.GET, proxy.url + "/ui", headers: headers)
                let cells = try #require(Self.row(page.text, table: "per-alias", first: "m"), "\(page.text)")
                #expect(cells[1] == "4" && cells[2] == "1" && cells[3] == "25.0%", "\(cells)")
                #expect(cells[4].hasSuffix(" ms") && cells[5].hasSuffix(" ms"))
                #expect(cells[6].hasPrefix("$0.0") && cells[6] != "$0.000000", "spend today: \(cells)")
                // The alias without requests is listed, empty.
                #expect(Self.row(page.text, table: "per-alias", first: "n")?[1...3] == ["0", "0", "-"])
                // The same counts as /metrics.
                let metrics = try await send(.GET, proxy.url + "/metrics").text
                let total = metrics.split(separator: "\n").filter {
                    $0.hasPrefix("switchyard_requests_total{") && $0.contains("alias=\"m\"")
                }.compactMap { $0.split(separator: " ").last.flatMap { Int($0) } }.reduce(0, +)
                #expect(total == 4)
            }
        }
    }

    @Test func quantilesAreEstimatedFromTheBucketsAsPrometheusDoes() throws {
        var summary = ProxyMetrics.AliasSummary()
        #expect(summary.quantile(0.5) == nil)
        // Buckets: ≤5 ms, ≤10 ms, ≤25 ms, …; 10 requests in (5, 10] ms and 10 in (10, 25] ms.
        summary.requests = 20
        summary.buckets[1] = 10
        summary.buckets[2] = 10
        #expect(summary.quantile(0.5) == .milliseconds(10))
        #expect(summary.quantile(0.25) == .microseconds(7_500))
        let p99 = try #require(summary.quantile(0.99))
        #expect(abs((p99 - .microseconds(24_700)) / .nanoseconds(1)) < 10)
        // Above every bound: the largest bound, as histogram_quantile answers.
        summary.buckets[summary.buckets.count - 1] = 80
        summary.requests = 100
        #expect(summary.quantile(0.99) == ProxyMetrics.latencyBuckets.last)
        // The first bucket starts at zero.
        var fast = ProxyMetrics.AliasSummary()
        fast.requests = 4
        fast.buckets[0] = 4
        #expect(fast.quantile(0.5) == .microseconds(2_500))
    }

    @Test func aKeysBudgetAndLimitsAreEditedAndAnEmptiedFieldClears() async throws {
        let database = try await Backend.sqlite.newURL()
        try await withMockUpstream { mock in
            try await withProxy(yaml: keysConfig(mock: mock, database: database), logLevel: .info) { proxy in
                let (raw, token) = try await generateKey(proxy, ["key_alias": "team-a", "max_budget": 5, "rpm_limit": 10])
                let (headers, csrf) = try await Self.session(proxy)
                let form = try await Console.send(.GET, proxy.url + "/ui/keys/edit?token=\(token)", headers: headers)
                #expect(form.status == 200)
                #expect(form.text.contains(#"name="max_budget" value="5.0""#))
                #expect(form.text.contains(#"name="rpm_limit" value="10""#))
                #expect(!form.text.contains(raw))
                var fields = [
                    "csrf": csrf, "token": token, "key_alias": "team-a", "models": "m", "max_budget": "12.5",
                    "budget_duration": "30d", "rpm_limit": "", "tpm_limit": "5000", "max_parallel_requests": "3",
                ]
                let saved = try await Console.send(
                    .POST, proxy.url + "/ui/keys/update", raw: Console.formBody(fields), headers: headers)
                #expect(saved.status == 200)
                #expect(saved.text.contains("The key was changed."))
                #expect(Self.row(saved.text, table: "keys", first: "team-a")?[5] == "5000 tpm, 3 parallel")
                let info = try #require(
                    try await send(.GET, proxy.url + "/key/info?key=\(token)", headers: master).json?["info"]?.objectValue)
                #expect(info["max_budget"]?.doubleValue == 12.5)
                #expect(info["budget_duration"]?.stringValue == "30d")
                #expect(info["rpm_limit"] == .null)
                #expect(info["tpm_limit"]?.intValue == 5000)
                #expect(info["models"] == .array(["m"]))
                // The key now serves m only.
                #expect(
                    try await send(.POST, proxy.url + "/v1/chat/completions", json: chat("n", "hi"), headers: bearer(raw)).status
                        == 403)
                // A bad number changes nothing and says why, on the form.
                fields["max_budget"] = "lots"
                let bad = try await Console.send(
                    .POST, proxy.url + "/ui/keys/update", raw: Console.formBody(fields), headers: headers)
                #expect(bad.status == 200)
                #expect(bad.text.contains("The budget must be a number") && bad.text.contains("Edit key"))
                #expect(
                    try await send(.GET, proxy.url + "/key/info?key=\(token)", headers: master)
                        .json?["info"]?.objectValue?["max_budget"]?.doubleValue == 12.5)
                // An emptied models field means every model again.
                fields["max_budget"] = "12.5"
                fields["models"] = ""
                _ = try await Console.send(.POST, proxy.url + "/ui/keys/update", raw: Console.formBody(fields), headers: headers)
                #expect(
                    try await send(.POST, proxy.url + "/v1/chat/completions", json: chat("n", "hi"), headers: bearer(raw)).status
                        == 200)
                // Without the token, or from an admin key's session: refused.
                fields["csrf"] = nil
                #expect(
                    try await Console.send(.POST, proxy.url + "/ui/keys/update", raw: Console.formBody(fields), headers: headers)
                        .status == 403)
                let (admin, _) = try await generateKey(proxy, ["key_alias": "ops", "metadata": .object(["role": "admin"])])
                let (adminHeaders, adminCSRF) = try await Self.session(proxy, key: admin)
                fields["csrf"] = adminCSRF
                #expect(
                    try await Console.send(
                        .POST, proxy.url + "/ui/keys/update", raw: Console.formBody(fields), headers: adminHeaders
                    ).status == 403)
                #expect(
                    try await Console.send(.GET, proxy.url + "/ui/keys/edit?token=nope", headers: headers).status == 404)
            }
        }
    }

    @Test(arguments: [false, true])
    func aRequestsDetailShowsItsPromptOnlyWithStorePrompts(_ storePrompts: Bool) async throws {
        let database = try await Backend.sqlite.newURL()
        try await withMockUpstream { mock in
            let yaml = keysConfig(mock: mock, database: database, general: "store_prompts: \(storePrompts)")
            try await withProxy(yaml: yaml, logLevel: .info) { proxy in
                let answer = try await send(
                    .POST, proxy.url + "/v1/chat/completions", json: chat("m", "<b>secret plan</b>"),
                    headers: master + [("x-request-id", "req+one/1")])
                #expect(answer.status == 200)
                let (headers, _) = try await Self.session(proxy)
                let log = try await Console.send(.GET, proxy.url + "/ui/logs", headers: headers)
                #expect(log.text.contains(#"href="/ui/logs/detail?request_id=req%2Bone/1""#), "\(log.text)")
                #expect(!log.text.contains("secret plan"))
                let detail = try await Console.send(
                    .GET, proxy.url + "/ui/logs/detail?request_id=req%2Bone/1", headers: headers)
                #expect(detail.status == 200)
                #expect(Self.row(detail.text, table: "request", first: "model_id")?[1] == "m-1")
                #expect(Self.row(detail.text, table: "request", first: "status")?[1] == "200")
                if storePrompts {
                    #expect(detail.text.contains("&lt;b&gt;secret plan&lt;/b&gt;"))
                    #expect(!detail.text.contains("<b>secret plan"))
                    #expect(detail.text.contains(#"id="response""#))
                } else {
                    #expect(!detail.text.contains("secret plan"))
                    #expect(detail.text.contains("kept only with general_settings.store_prompts"))
                }
                let missing = try await Console.send(.GET, proxy.url + "/ui/logs/detail?request_id=nope", headers: headers)
                #expect(missing.status == 404)
                #expect(try await Console.send(.GET, proxy.url + "/ui/logs/detail?request_id=req%2Bone/1").status == 303)
            }
        }
    }

    @Test func theRequestLogFiltersByKeyModelAndStatus() async throws {
        let database = try await Backend.sqlite.newURL()
        try await withMockUpstream { mock in
            try await withProxy(yaml: keysConfig(mock: mock, database: database), logLevel: .info) { proxy in
                let (first, firstToken) = try await generateKey(proxy, ["key_alias": "first"])
                let (second, _) = try await generateKey(proxy, ["key_alias": "second"])
                for (key, model, text) in [
                    (first, "m", "hi"), (first, "n", "hi"), (second, "m", "hi"), (second, "m", "FAULT:400"),
                ] {
                    _ = try await send(.POST, proxy.url + "/v1/chat/completions", json: chat(model, text), headers: bearer(key))
                }
                let (headers, _) = try await Self.session(proxy)
                func rows(_ query: String) async throws -> [[String]] {
                    let page = try await Console.send(.GET, proxy.url + "/ui/logs?" + query, headers: headers)
                    #expect(page.status == 200)
                    guard let start = page.text.range(of: "<table id=\"log\">"), let end = page.text.range(of: "</table>")
                    else { return [] }
                    return page.text[start.upperBound..<end.lowerBound].components(separatedBy: "<tr>").dropFirst(2).map {
                        $0.components(separatedBy: "<td>").dropFirst().map { String($0.prefix { $0 != "<" }) }
                    }.filter { !$0.isEmpty }
                }
                // Columns: time, key, model, deployment, status, …
                #expect(try await rows("key=first").map { $0[2] }.sorted() == ["m", "n"])
                #expect(try await rows("key=\(firstToken)&model=n").map { $0[1] } == ["first"])
                #expect(try await rows("key=second&status=400").map { $0[4] } == ["400"])
                #expect(try await rows("model=m&status=200").map { $0[1] }.sorted() == ["first", "second"])
                #expect(try await rows("key=nobody").isEmpty)
                // The key itself is never a filter: it would stay in the browser's history.
                let refused = try await Console.send(.GET, proxy.url + "/ui/logs?key=\(first)", headers: headers)
                #expect(refused.text.contains("never by the key itself"))
                #expect(!refused.text.contains(first))
                // The same filters on /spend/logs.
                let json = try await send(.GET, proxy.url + "/spend/logs?key_alias=second&status=400", headers: master)
                #expect((try? JSONParser.parse(json.body))?.arrayValue?.count == 1)
                #expect(try await send(.GET, proxy.url + "/spend/logs?status=abc", headers: master).status == 400)
            }
        }
    }

    @Test func featuresPromptsAndFlagsAreManagedFromTheConsoleAndAudited() async throws {
        let database = try await Backend.sqlite.newURL()
        try await withMockUpstream { mock in
            try await withProxy(yaml: keysConfig(mock: mock, database: database), logLevel: .info) { proxy in
                let (admin, _) = try await generateKey(proxy, ["key_alias": "ops", "metadata": .object(["role": "admin"])])
                // An admin key's session may change the run-time configuration.
                let (headers, csrf) = try await Self.session(proxy, key: admin)
                func post(_ path: String, _ fields: [String: String]) async throws -> HTTPResult {
                    try await Console.send(
                        .POST, proxy.url + path, raw: Console.formBody(fields.merging(["csrf": csrf]) { $1 }), headers: headers)
                }
                let made = try await post(
                    "/ui/config/feature", ["slug": "summary", "model": "m", "defaults": #"{"temperature": 0.2}"#])
                #expect(made.status == 200)
                #expect(made.text.contains("The feature endpoint was made."), "\(made.text)")
                #expect(Self.row(made.text, table: "features", first: "summary")?[1] == "m")
                // A refused one says why and writes nothing.
                let bad = try await post("/ui/config/feature", ["slug": "broken", "model": "m", "defaults": "[1]"])
                #expect(bad.text.contains("must be a JSON object"))
                let unknown = try await post("/ui/config/feature", ["slug": "broken", "model": "nope"])
                #expect(unknown.text.contains("no alias that serves"))
                #expect(Self.row(unknown.text, table: "features", first: "broken") == nil)
                // Two prompt versions; the second is active; a rollback makes the first active.
                let promptPath = "/ui/config/prompt?slug=summary"
                _ = try await post(promptPath, ["system": "Be brief.\r\nVery.", "user": "Sum up {{text}}", "activate": "true"])
                let second = try await post(promptPath, ["system": "Be thorough.", "activate": "true"])
                #expect(second.text.contains("Version 2 was added and is active."))
                let viaFeature = try await send(
                    .POST, proxy.url + "/v1/chat/completions",
                    json: .object(["model": "summary", "messages": .array([.object(["role": "user", "content": "x"])])]),
                    headers: master)
                #expect(viaFeature.status == 200, "\(viaFeature.text)")
                let rolledBack = try await post(promptPath, ["version": "1"])
                #expect(rolledBack.text.contains("Version 1 is active."))
                #expect(Self.row(rolledBack.text, table: "versions", first: "1")?.count == 4)
                #expect(rolledBack.text.contains("<strong>active</strong>"))
                let versions = try await send(.GET, proxy.url + "/prompt/list?slug=summary", headers: master)
                #expect(versions.json?["active_version"]?.intValue == 1)
                #expect(versions.json?["data"]?.arrayValue?.first?.objectValue?["system"]?.stringValue == "Be brief.\nVery.")
                // A flag with overrides, then turned off for everyone.
                let flag = try await post(
                    "/ui/config/flag", ["name": "enable_streaming", "enabled": "true", "overrides": "tier:free=off\nkey:ci=on"])
                #expect(flag.text.contains("The flag enable_streaming was set."), "\(flag.text)")
                #expect(Self.row(flag.text, table: "flags", first: "enable_streaming")?[2] == "tier:free=off, key:ci=on")
                let wrong = try await post("/ui/config/flag", ["name": "enable_vision", "enabled": "true", "overrides": "free"])
                #expect(wrong.text.contains("An override reads SCOPE:NAME=on|off"))
                _ = try await post(
                    "/ui/config/flag", ["name": "enable_streaming", "enabled": "false", "overrides": "tier:free=off\nkey:ci=on"])
                #expect(
                    try await send(
                        .POST, proxy.url + "/v1/chat/completions", json: chat("m", "hi", stream: true), headers: master
                    ).status == 403)
                let flags = try await send(.GET, proxy.url + "/flag/list", headers: master)
                #expect(flags.json?["data"]?.arrayValue?.first?.objectValue?["overrides"]?.arrayValue?.count == 2)
                // Turning the feature off through its button.
                let off = try await post("/ui/config/feature", ["slug": "summary", "update": "true", "active": "false"])
                #expect(Self.row(off.text, table: "features", first: "summary")?[5] == "off")
                // Each change is audited under the admin key's alias.
                let audit = try await send(.GET, proxy.url + "/config/audit?limit=100", headers: master)
                let actors = Set((audit.json?["data"]?.arrayValue ?? []).compactMap { $0.objectValue?["actor"]?.stringValue })
                #expect(actors == ["key:ops"], "\(audit.text)")
                // A forged change is refused.
                let forged = try await Console.send(
                    .POST, proxy.url + "/ui/config/flag", raw: Console.formBody(["name": "x", "enabled": "true"]),
                    headers: headers)
                #expect(forged.status == 403)
            }
        }
    }

    @Test func disableAdminUITurnsTheConsoleOff() async throws {
        let database = try await Backend.sqlite.newURL()
        try await withMockUpstream { mock in
            let yaml = keysConfig(mock: mock, database: database, general: "disable_admin_ui: true")
            try await withProxy(yaml: yaml, logLevel: .info) { proxy in
                for path in ["/ui", "/ui/login", "/ui/keys"] {
                    let page = try await Console.send(.GET, proxy.url + path)
                    #expect(page.status == 404)
                    #expect(page.json?["error"]?.objectValue?["message"]?.stringValue?.contains("disable_admin_ui") == true)
                }
                #expect(try await Console.send(.POST, proxy.url + "/ui/login", raw: "key=\(masterKey)").status == 404)
                #expect(
                    try await send(.POST, proxy.url + "/v1/chat/completions", json: chat("m", "hi"), headers: master).status
                        == 200)
            }
        }
    }

    @Test func urlsAreShownWithoutCredentials() {
        #expect(HTML.shownURL("https://user:pw@api.x.ai/v1?key=abc#frag") == "https://api.x.ai/v1")
        #expect(HTML.shownURL("http://127.0.0.1:8080/v1") == "http://127.0.0.1:8080/v1")
        #expect(HTML.shownURL("not a url") == "(not a URL)")
    }
}
