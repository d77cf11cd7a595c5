import AsyncHTTPClient
import Foundation
import NIOCore
import Testing

@testable import SwitchyardCore
@testable import SwitchyardServer
@testable import SwitchyardStorage

let masterKey = "sk-master-test-0123456789"
let master = [("authorization", "Bearer \(masterKey)")]

func bearer(_ key: String) -> [(String, String)] { [("authorization", "Bearer \(key)")] }

/// A config with two aliases on `mock`, a master key and `database` (extra general_settings lines may follow).
func keysConfig(mock: MockHandle, database: String, general: String = "") -> String {
    """
    model_list:
      - model_name: m
        litellm_params: {model: xai/grok-code-fast-1, api_base: "\(mock.baseURL)", api_key: \(testKey)}
        model_info: {id: m-1, input_cost_per_token: 0.000001, output_cost_per_token: 0.000002, cache_read_input_token_cost: 0.0000001}
      - model_name: n
        litellm_params: {model: xai/grok-3-mini, api_base: "\(mock.baseURL)", api_key: \(testKey)}
        model_info: {id: n-1, input_cost_per_token: 0.000003, output_cost_per_token: 0.000004}
    general_settings:
      master_key: \(masterKey)
      database_url: "\(database)"
    \(general.split(separator: "\n").map { "  " + $0 }.joined(separator: "\n"))
    """
}

/// Makes a key through the proxy; returns the key and its token.
func generateKey(_ proxy: ProxyHandle, _ fields: JSONObject = [:]) async throws -> (key: String, token: String) {
    let made = try await send(.POST, proxy.url + "/key/generate", json: .object(fields), headers: master)
    let key = try #require(made.json?["key"]?.stringValue, "\(made.status) \(made.text)")
    let token = try #require(made.json?["token"]?.stringValue)
    return (key, token)
}

/// Polls `check` until it is true (for state that settles off the request path); false after `seconds`.
func eventually(seconds: Double = 10, _ check: () async throws -> Bool) async throws -> Bool {
    let deadline = ContinuousClock.now + .seconds(seconds)
    while ContinuousClock.now < deadline {
        if try await check() { return true }
        try await Task.sleep(for: .milliseconds(25))
    }
    return try await check()
}

/// Virtual keys, budgets, limits and spend through the real proxy, on SQLite and PostgreSQL.
@Suite struct KeysTests {
    /// `/key/list` pages like LiteLLM's (`page`, `size` up to 100, default 10, `key_alias`), oldest key first, and
    /// `switchyard keys list` reads every page.
    @Test func keyListPagesLikeLiteLLM() async throws {
        let database = try await Backend.sqlite.newURL()
        try await withMockUpstream { mock in
            try await withProxy(yaml: keysConfig(mock: mock, database: database)) { proxy in
                var tokens: [String] = []
                for index in 0..<12 {
                    let (_, token) = try await generateKey(
                        proxy, ["key_alias": .string(index.isMultiple(of: 3) ? "team-a" : "team-b-\(index)")])
                    tokens.append(token)
                }
                func page(_ query: String) async throws -> (status: Int, json: JSONObject?) {
                    let answer = try await send(.GET, proxy.url + "/key/list?" + query, headers: master)
                    return (answer.status, answer.json)
                }
                let first = try await page("")
                #expect(first.json?["keys"]?.arrayValue?.count == 10)
                #expect(first.json?["total_count"]?.intValue == 12)
                #expect(first.json?["total_pages"]?.intValue == 2)
                var seen: [String] = []
                for number in 1...3 {
                    let answer = try await page("page=\(number)&size=5")
                    #expect(answer.json?["current_page"]?.intValue == number)
                    #expect(answer.json?["total_pages"]?.intValue == 3)
                    seen += answer.json?["keys"]?.arrayValue?.compactMap(\.stringValue) ?? []
                }
                #expect(seen == tokens, "every key once, oldest first")
                let beyond = try await page("page=4&size=5")
                #expect(beyond.json?["keys"]?.arrayValue == [])
                let team = try await page("key_alias=team-a&return_full_object=true")
                let aliases = team.json?["keys"]?.arrayValue?.compactMap { $0.objectValue?["key_alias"]?.stringValue }
                #expect(aliases == ["team-a", "team-a", "team-a", "team-a"])
                for bad in ["page=0", "size=101", "size=0", "page=x"] {
                    let refused = try await page(bad)
                    #expect(refused.status == 400, "\(bad)")
                    #expect(refused.json?["error"]?.objectValue?["type"]?.stringValue == "invalid_request_error")
                }
                let listed = try await runCLI(["keys", "list", "--url", proxy.url, "--key", masterKey, "--json"])
                #expect(listed.status == 0, "\(listed.stderr)")
                let all = (try? JSONParser.parse(listed.stdout).arrayValue) ?? []
                #expect(all.compactMap { $0.objectValue?["token"]?.stringValue } == tokens)
            }
        }
    }

    @Test(arguments: Backend.allCases)
    func keysGateTheAPIAndTheirLifecycleWorksEndToEnd(_ backend: Backend) async throws {
        let database = try await backend.newURL()
        let issued = try await withMockUpstream { mock in
            try await withProxy(yaml: keysConfig(mock: mock, database: database)) { proxy in
                let url = proxy.url + "/v1/chat/completions"
                let made = try await send(
                    .POST, proxy.url + "/key/generate",
                    json: .object([
                        "models": ["m"], "key_alias": "alice", "metadata": .object(["team": "search"]), "max_budget": 10,
                    ]),
                    headers: master)
                #expect(made.status == 200, "\(made.text)")
                let key = try #require(made.json?["key"]?.stringValue)
                let token = try #require(made.json?["token"]?.stringValue)
                #expect(key.hasPrefix("sk-"))
                #expect(token == KeyHashing.sha256(key))
                #expect(made.json?["key_alias"]?.stringValue == "alice")
                #expect(made.json?["max_budget"]?.doubleValue == 10)

                #expect(try await send(.POST, url, json: chat("m", "hello"), headers: bearer(key)).status == 200)
                let noKey = try await send(.POST, url, json: chat("m", "hello"))
                #expect(noKey.status == 401)
                let wrong = try await send(.POST, url, json: chat("m", "hello"), headers: bearer("sk-not-a-real-key"))
                #expect(wrong.status == 401)
                #expect(wrong.errorCode == "invalid_api_key")
                let forbidden = try await send(.POST, url, json: chat("n", "hello"), headers: bearer(key))
                #expect(forbidden.status == 403)
                #expect(forbidden.errorCode == "model_not_allowed")
                #expect(forbidden.error?["message"]?.stringValue?.contains("may use: m") == true, "\(forbidden.text)")
                #expect(try await send(.GET, proxy.url + "/v1/models", headers: bearer(key)).status == 200)
                let asAdmin = try await send(.GET, proxy.url + "/key/list", headers: bearer(key))
                #expect(asAdmin.status == 403)
                #expect(asAdmin.errorCode == "admin_only")

                // Spend shows up in key/info (by key or by token) once the request is logged.
                #expect(
                    try await eventually {
                        let info = try await send(.GET, proxy.url + "/key/info?key=\(token)", headers: master)
                        return (info.json?["info"]?.objectValue?["spend"]?.doubleValue ?? 0) > 0
                    })
                let info = try await send(.GET, proxy.url + "/key/info?key=\(key)", headers: master)
                #expect(info.status == 200)
                #expect(info.json?["info"]?.objectValue?["token"]?.stringValue == token)
                #expect(info.json?["info"]?.objectValue?["metadata"]?.objectValue?["team"]?.stringValue == "search")

                let updated = try await send(
                    .POST, proxy.url + "/key/update", json: .object(["key": .string(key), "models": ["m", "n"]]), headers: master)
                #expect(updated.status == 200, "\(updated.text)")
                #expect(try await send(.POST, url, json: chat("n", "hello"), headers: bearer(key)).status == 200)

                let list = try await send(.GET, proxy.url + "/key/list", headers: master)
                #expect(list.json?["keys"]?.arrayValue == [.string(token)])
                #expect(!list.text.contains(key))

                let deleted = try await send(
                    .POST, proxy.url + "/key/delete", json: .object(["keys": .array([.string(key)])]), headers: master)
                #expect(deleted.json?["deleted_keys"]?.arrayValue == [.string(token)])
                let revoked = try await send(.POST, url, json: chat("m", "hello"), headers: bearer(key))
                #expect(revoked.status == 401)
                #expect(try await send(.GET, proxy.url + "/key/info?key=\(token)", headers: master).status == 404)
                let again = try await send(
                    .POST, proxy.url + "/key/delete", json: .object(["keys": .array([.string(token)])]), headers: master)
                #expect(again.status == 404)

                // The master key still works; bad admin bodies get clear 400s.
                #expect(try await send(.POST, url, json: chat("m", "hello"), headers: master).status == 200)
                let bad = try await send(
                    .POST, proxy.url + "/key/generate", json: .object(["max_budget": "lots"]), headers: master)
                #expect(bad.status == 400)
                #expect(bad.error?["param"]?.stringValue == "max_budget")
                let unknownField = try await send(
                    .POST, proxy.url + "/key/generate", json: .object(["colour": "red"]), headers: master)
                #expect(unknownField.status == 400)
                let notJSON = try await send(.POST, proxy.url + "/key/generate", raw: "{oops", headers: master)
                #expect(notJSON.status == 400)
                #expect(notJSON.errorCode == "invalid_json")

                // The key appears in no log line.
                #expect(!proxy.logs.lines.joined(separator: "\n").contains(key))
                return key
            }
        }
        // Only the hash is stored: the key is in no database file.
        if backend == .sqlite, case .success(.sqlite(let path)) = DatabaseLocation.parse(database, relativeTo: "/") {
            let files = [path, path + "-wal"].compactMap { FileManager.default.contents(atPath: $0) }
            #expect(!files.isEmpty)
            for bytes in files { #expect(bytes.range(of: Data(issued.utf8)) == nil) }
            #expect(files.contains { $0.range(of: Data(KeyHashing.sha256(issued).utf8)) != nil })
        }
    }

    @Test(arguments: Backend.allCases)
    func spendLogsAndReportsFollowTheRequests(_ backend: Backend) async throws {
        let database = try await backend.newURL()
        // An upstream that reports no cost of its own: spend comes from model_info's prices (CatalogCostTests cover
        // xAI's billed figure).
        var options = MockUpstreamOptions()
        options.sendsCostTicks = false
        try await withMockUpstream(options) { mock in
            try await withProxy(yaml: keysConfig(mock: mock, database: database)) { proxy in
                let url = proxy.url + "/v1/chat/completions"
                let (alice, aliceToken) = try await generateKey(proxy, ["key_alias": "alice"])
                let (bob, _) = try await generateKey(proxy, ["key_alias": "bob"])
                let body = chat("m", "what is a proxy?")
                let first = try await send(.POST, url, json: body, headers: bearer(alice) + [("x-request-id", "req-alice-1")])
                #expect(first.status == 200)
                // A conversation sent again: its earlier turns come from xAI's prompt cache.
                let conversation: JSONValue = .object([
                    "model": "m",
                    "messages": [
                        .object([
                            "role": "system", "content": "You are terse and exact, a proxy's test persona with a long prompt.",
                        ]),
                        .object(["role": "user", "content": "again"]),
                    ],
                ])
                #expect(try await send(.POST, url, json: conversation, headers: bearer(alice)).status == 200)
                let cached = try await send(
                    .POST, url, json: conversation, headers: bearer(alice) + [("x-request-id", "req-alice-cached")])
                #expect(cached.status == 200)
                #expect(
                    try await send(.POST, url, json: chat("n", "hi", stream: true), headers: bearer(bob)).status == 200)
                #expect(try await send(.POST, url, json: chat("nope", "hi"), headers: bearer(bob)).status == 404)

                let logs = try await send(.GET, proxy.url + "/spend/logs?api_key=\(alice)", headers: master)
                #expect(logs.status == 200, "\(logs.text)")
                let rows = logs.json == nil ? (try JSONParser.parse(logs.body).arrayValue ?? []) : []
                #expect(rows.count == 3)
                let byID = Dictionary(
                    uniqueKeysWithValues: rows.compactMap(\.objectValue).map { ($0["request_id"]?.stringValue ?? "", $0) })
                let row = try #require(byID["req-alice-1"])
                #expect(row["api_key"]?.stringValue == aliceToken)
                #expect(row["key_alias"]?.stringValue == "alice")
                #expect(row["model"]?.stringValue == "m")
                #expect(row["model_id"]?.stringValue == "m-1")
                #expect(row["status"]?.intValue == 200)
                #expect(row["request_sha256"]?.stringValue == KeyHashing.sha256(body.encodedBytes()))
                let prompt = row["prompt_tokens"]?.intValue ?? 0
                let completion = row["completion_tokens"]?.intValue ?? 0
                let reasoning = row["reasoning_tokens"]?.intValue ?? 0
                #expect(prompt > 0 && completion > 0 && reasoning > 0, "grok-code-fast-1 reasons: \(row)")
                let expected = Double(prompt) * 0.000001 + Double(completion + reasoning) * 0.000002
                #expect(abs((row["spend"]?.doubleValue ?? 0) - expected) < 1e-12, "reasoning tokens bill as output")
                #expect(row["upstream_cost"] == .null, "this upstream reports no cost")
                #expect(row["cost_source"] == "model_info")
                #expect(row["messages"] == nil, "no prompt text unless store_prompts")

                let cachedRow = try #require(byID["req-alice-cached"])
                let cachedTokens = cachedRow["cached_tokens"]?.intValue ?? 0
                #expect(cachedTokens > 0, "\(cachedRow)")
                let cachedCost =
                    Double((cachedRow["prompt_tokens"]?.intValue ?? 0) - cachedTokens) * 0.000001 + Double(cachedTokens)
                    * 0.0000001
                    + Double((cachedRow["completion_tokens"]?.intValue ?? 0) + (cachedRow["reasoning_tokens"]?.intValue ?? 0))
                    * 0.000002
                #expect(abs((cachedRow["spend"]?.doubleValue ?? 0) - cachedCost) < 1e-12, "cached prompt at the cached price")

                let one = try await send(.GET, proxy.url + "/spend/logs?request_id=req-alice-1", headers: master)
                #expect((try JSONParser.parse(one.body).arrayValue ?? []).count == 1)
                let bobs = try await send(.GET, proxy.url + "/spend/logs?model=n", headers: master)
                let bobRows = try JSONParser.parse(bobs.body).arrayValue ?? []
                #expect(bobRows.count == 1)
                #expect(bobRows.first?.objectValue?["stream"] == .bool(true))
                #expect((bobRows.first?.objectValue?["spend"]?.doubleValue ?? 0) > 0, "streams are charged from the usage chunk")
                let today = LogRow.day(of: Date().timeIntervalSince1970)
                let dated = try await send(
                    .GET, proxy.url + "/spend/logs?start_date=\(today)&end_date=\(today)", headers: master)
                #expect((try JSONParser.parse(dated.body).arrayValue ?? []).count == 5)
                let future = try await send(.GET, proxy.url + "/spend/logs?start_date=2999-01-01", headers: master)
                #expect((try JSONParser.parse(future.body).arrayValue ?? []).isEmpty)
                let badDate = try await send(.GET, proxy.url + "/spend/logs?start_date=yesterday", headers: master)
                #expect(badDate.status == 400)

                let byKey = try await send(.GET, proxy.url + "/global/spend/report?group_by=api_key", headers: master)
                let keyLines = byKey.json?["data"]?.arrayValue?.compactMap(\.objectValue) ?? []
                let aliceLine = keyLines.first { $0["api_key"]?.stringValue == aliceToken }
                #expect(aliceLine?["requests"]?.intValue == 3)
                #expect(aliceLine?["key_alias"]?.stringValue == "alice")
                let aliceSpend = rows.compactMap { $0.objectValue?["spend"]?.doubleValue }.reduce(0, +)
                #expect(abs((aliceLine?["spend"]?.doubleValue ?? 0) - aliceSpend) < 1e-12)
                let byModel = try await send(.GET, proxy.url + "/global/spend/report?group_by=model", headers: master)
                let models = byModel.json?["data"]?.arrayValue?.compactMap { $0.objectValue?["model"]?.stringValue }
                #expect(models == ["m", "n", "nope"])
                let byDay = try await send(.GET, proxy.url + "/global/spend/report?group_by=day", headers: master)
                #expect(byDay.json?["data"]?.arrayValue?.first?.objectValue?["day"]?.stringValue == today)
                let badGroup = try await send(.GET, proxy.url + "/global/spend/report?group_by=team", headers: master)
                #expect(badGroup.status == 400)
                let info = try await send(.GET, proxy.url + "/key/info?key=\(alice)", headers: master)
                #expect(abs((info.json?["info"]?.objectValue?["spend"]?.doubleValue ?? 0) - aliceSpend) < 1e-12)
            }
        }
    }

    @Test(arguments: Backend.allCases)
    func budgetsHoldUnderFiftyConcurrentClientsAndReset(_ backend: Backend) async throws {
        let database = try await backend.newURL()
        var options = MockUpstreamOptions()
        options.firstByteLatency = .milliseconds(20)
        try await withMockUpstream(options) { mock in
            try await withProxy(yaml: keysConfig(mock: mock, database: database), logLevel: .info) { proxy in
                let url = proxy.url + "/v1/chat/completions"
                // The cost of one request (every request below is the same).
                let (probe, _) = try await generateKey(proxy)
                #expect(try await send(.POST, url, json: chat("m", "budget"), headers: bearer(probe)).status == 200)
                let logs = try await send(.GET, proxy.url + "/spend/logs?api_key=\(probe)", headers: master)
                let cost = try #require(try JSONParser.parse(logs.body).arrayValue?.first?.objectValue?["spend"]?.doubleValue)
                #expect(cost > 0)

                let budget = cost * 10
                let (key, token) = try await generateKey(proxy, ["max_budget": .double(budget)])
                let clients = 50
                let accepted = try await withThrowingTaskGroup(of: Int.self) { group in
                    for _ in 0..<clients {
                        group.addTask {
                            var count = 0
                            while true {
                                let result = try await send(.POST, url, json: chat("m", "budget"), headers: bearer(key))
                                if result.status == 429 {
                                    #expect(result.errorCode == "budget_exceeded")
                                    #expect(result.error?["type"]?.stringValue == "insufficient_quota")
                                    return count
                                }
                                #expect(result.status == 200, "\(result.text)")
                                count += 1
                            }
                        }
                    }
                    return try await group.reduce(0, +)
                }
                // Admitted while under budget; charged when done: the overshoot is at most what was in flight.
                #expect(accepted >= 10, "the budget is used")
                #expect(accepted <= 10 + clients, "overshoot bounded by the requests in flight: \(accepted)")
                let refused = try await send(.POST, url, json: chat("m", "budget"), headers: bearer(key))
                #expect(refused.status == 429)
                let message = refused.error?["message"]?.stringValue ?? ""
                #expect(message.contains("budget is spent") && message.contains(String(format: "%.6f", budget)), "\(message)")
                // Every admitted request was charged, nothing lost or doubled.
                #expect(
                    try await eventually {
                        let stored = try await send(.GET, proxy.url + "/key/info?key=\(token)", headers: master)
                        let spend = stored.json?["info"]?.objectValue?["spend"]?.doubleValue ?? 0
                        return abs(spend - Double(accepted) * cost) < cost / 1000
                    })

                // A budget that resets: spent, refused, then served again once the period is over.
                // (A period long enough that a loaded machine cannot end it between the two requests.)
                let (short, _) = try await generateKey(
                    proxy, ["max_budget": .double(cost / 2), "budget_duration": "5s"])
                #expect(try await send(.POST, url, json: chat("m", "budget"), headers: bearer(short)).status == 200)
                let spent = try await send(.POST, url, json: chat("m", "budget"), headers: bearer(short))
                #expect(spent.status == 429)
                #expect(spent.headers.first(name: "retry-after") != nil)
                #expect(
                    try await eventually(seconds: 20) {
                        try await send(.POST, url, json: chat("m", "budget"), headers: bearer(short)).status == 200
                    })
            }
        }
    }

    @Test func keyLimitsAnswer429WithRateLimitHeaders() async throws {
        let database = try await Backend.sqlite.newURL()
        var options = MockUpstreamOptions()
        options.chunks = 60
        options.chunkInterval = .milliseconds(50)  // a stream lasts 3 s: it holds the parallel slot below
        try await withMockUpstream(options) { mock in
            try await withProxy(yaml: keysConfig(mock: mock, database: database)) { proxy in
                let url = proxy.url + "/v1/chat/completions"
                let (rpmKey, _) = try await generateKey(proxy, ["rpm_limit": 2])
                #expect(try await send(.POST, url, json: chat("m", "a"), headers: bearer(rpmKey)).status == 200)
                #expect(try await send(.POST, url, json: chat("m", "a"), headers: bearer(rpmKey)).status == 200)
                let limited = try await send(.POST, url, json: chat("m", "a"), headers: bearer(rpmKey))
                #expect(limited.status == 429)
                #expect(limited.errorCode == "rate_limit_exceeded")
                #expect(limited.headers.first(name: "x-ratelimit-limit-requests") == "2")
                #expect(limited.headers.first(name: "x-ratelimit-remaining-requests") == "0")
                #expect(Int(limited.headers.first(name: "retry-after") ?? "") ?? 0 >= 1)

                let (parallelKey, _) = try await generateKey(proxy, ["max_parallel_requests": 1])
                // A stream holds the key's one slot while it relays: a second request is refused meanwhile.
                // 60 characters or more, so the mock really sends 60 pieces (it splits by character, at most one each).
                let held = chat("m", String(repeating: "hold ", count: 12), stream: true)
                var hold = HTTPClientRequest(url: url)
                hold.method = .POST
                hold.headers.add(name: "authorization", value: "Bearer \(parallelKey)")
                hold.headers.add(name: "content-type", value: "application/json")
                hold.body = .bytes(ByteBuffer(bytes: held.encodedBytes()))
                let (started, signal) = AsyncStream.makeStream(of: Void.self)
                let holder = Task {
                    defer { signal.finish() }
                    let response = try await HTTPClient.shared.execute(hold, timeout: .seconds(30))
                    var bytes = 0
                    for try await chunk in response.body {
                        bytes += chunk.readableBytes
                        signal.yield()
                    }
                    return (Int(response.status.code), bytes)
                }
                var iterator = started.makeAsyncIterator()
                _ = await iterator.next()
                let refused = try await send(.POST, url, json: chat("m", "a"), headers: bearer(parallelKey))
                #expect(refused.status == 429)
                #expect(refused.headers.first(name: "x-ratelimit-limit-parallel-requests") == "1")
                #expect(try await holder.value.0 == 200)
                #expect(try await send(.POST, url, json: chat("m", "a"), headers: bearer(parallelKey)).status == 200)

                let (tpmKey, _) = try await generateKey(proxy, ["tpm_limit": 5])
                #expect(try await send(.POST, url, json: chat("m", "a"), headers: bearer(tpmKey)).status == 200)
                let tokens = try await send(.POST, url, json: chat("m", "a"), headers: bearer(tpmKey))
                #expect(tokens.status == 429)
                #expect(tokens.headers.first(name: "x-ratelimit-limit-tokens") == "5")

                let (expiring, _) = try await generateKey(proxy, ["duration": "1s"])
                #expect(
                    try await eventually(seconds: 5) {
                        let result = try await send(.POST, url, json: chat("m", "a"), headers: bearer(expiring))
                        return result.status == 401 && result.error?["message"]?.stringValue?.contains("expired") == true
                    })
            }
        }
    }

    @Test func aStreamTheClientAbandonsIsStillCharged() async throws {
        let database = try await Backend.sqlite.newURL()
        var options = MockUpstreamOptions()
        options.chunks = 200
        options.chunkInterval = .milliseconds(20)
        try await withMockUpstream(options) { mock in
            try await withProxy(yaml: keysConfig(mock: mock, database: database)) { proxy in
                let (key, token) = try await generateKey(proxy)
                var request = HTTPClientRequest(url: proxy.url + "/v1/chat/completions")
                request.method = .POST
                request.headers.add(name: "authorization", value: "Bearer \(key)")
                request.headers.add(name: "content-type", value: "application/json")
                request.body = .bytes(
                    ByteBuffer(bytes: chat("m", String(repeating: "a long prompt ", count: 40), stream: true).encodedBytes()))
                let reader = Task {
                    let response = try await HTTPClient.shared.execute(request, timeout: .seconds(30))
                    var events = 0
                    for try await chunk in response.body {
                        events += chunk.readableBytesView.count > 0 ? 1 : 0
                        if events >= 5 { break }  // the client goes away mid-stream
                    }
                    return events
                }
                #expect(try await reader.value >= 5)
                #expect(
                    try await eventually {
                        let logs = try await send(.GET, proxy.url + "/spend/logs?api_key=\(token)", headers: master)
                        let row = try JSONParser.parse(logs.body).arrayValue?.first?.objectValue
                        return row?["status"]?.intValue == 499 && (row?["spend"]?.doubleValue ?? 0) > 0
                            && (row?["completion_tokens"]?.intValue ?? 0) > 0 && row?["usage_estimated"] == .bool(true)
                    }, "charged for the prompt and the deltas relayed before the client left, marked as estimated")
                // The request's log line goes out through the log sink's own thread and the harness's pipe reader:
                // it may arrive after the row is in the database.
                #expect(
                    try await eventually { proxy.logs.lines.contains { $0.contains("usage_estimated") } },
                    "the request's log line says its usage was estimated")
            }
        }
    }

    @Test func storageOffAndNoMasterKeyAreExplained() async throws {
        try await withMockUpstream { mock in
            try await withProxy(yaml: keysConfig(mock: mock, database: "none")) { proxy in
                let result = try await send(.POST, proxy.url + "/key/generate", json: .object([:]), headers: master)
                #expect(result.status == 501)
                #expect(result.errorCode == "storage_disabled")
                #expect(result.error?["message"]?.stringValue?.contains("database_url") == true)
                let spend = try await send(.GET, proxy.url + "/spend/logs", headers: master)
                #expect(spend.status == 501)
            }
            let open = """
                model_list:
                  - model_name: m
                    litellm_params: {model: xai/grok-code-fast-1, api_base: "\(mock.baseURL)", api_key: \(testKey)}
                general_settings: {database_url: "none"}
                """
            try await withProxy(yaml: open) { proxy in
                let result = try await send(.POST, proxy.url + "/key/generate", json: .object([:]))
                #expect(result.status == 401)
                #expect(result.errorCode == "master_key_required")
            }
        }
    }

    @Test func promptsAreStoredOnlyWhenAskedTo() async throws {
        let database = try await Backend.sqlite.newURL()
        try await withMockUpstream { mock in
            let yaml = keysConfig(mock: mock, database: database, general: "store_prompts: true")
            try await withProxy(yaml: yaml) { proxy in
                let (key, _) = try await generateKey(proxy)
                let result = try await send(
                    .POST, proxy.url + "/v1/chat/completions", json: chat("m", "remember this"), headers: bearer(key))
                #expect(result.status == 200)
                let logs = try await send(.GET, proxy.url + "/spend/logs?api_key=\(key)", headers: master)
                let row = try JSONParser.parse(logs.body).arrayValue?.first?.objectValue
                #expect(row?["messages"]?.stringValue?.contains("remember this") == true, "\(logs.text)")
                #expect(row?["response"]?.stringValue?.contains("remember this") == true, "\(logs.text)")
            }
        }
    }
}
