import AsyncHTTPClient
import Foundation
import Logging
import Testing

@testable import SwitchyardCore
@testable import SwitchyardServer
@testable import SwitchyardStorage

/// A config for `switchyard serve`: one priced alias on `mock`, the master key, the default database, and `general`.
func cliConfig(mock: MockHandle, general: String) -> String {
    """
    model_list:
      - model_name: m
        litellm_params: {model: xai/grok-code-fast-1, api_base: "\(mock.baseURL)", api_key: \(testKey)}
        model_info: {input_cost_per_token: 0.000001, output_cost_per_token: 0.000002}
    general_settings:
      master_key: \(masterKey)
      \(general)
    """
}

/// Several instances on one PostgreSQL, a database outage, and SIGTERM with requests in flight.
@Suite struct FleetTests {
    /// Rows of the request log for a key, read through the spend route.
    static func rows(_ proxy: ProxyHandle, key: String) async throws -> [JSONObject] {
        let logs = try await send(.GET, proxy.url + "/spend/logs?api_key=\(key)&limit=10000", headers: master)
        return (try? JSONParser.parse(logs.body).arrayValue?.compactMap(\.objectValue)) ?? []
    }

    @Test func twoInstancesShareKeysAndSpendAndSeeRevocations() async throws {
        let database = try await newPostgresDatabase()
        try await withMockUpstream { mock in
            let yaml = keysConfig(
                mock: mock, database: database, general: "user_api_key_cache_ttl: 0.2\nproxy_batch_write_at: 0.1")
            try await withProxy(yaml: yaml, logLevel: .info) { first in
                try await withProxy(yaml: yaml, logLevel: .info) { second in
                    let (key, token) = try await generateKey(first, ["max_budget": 100])
                    // Made on the first, known to the second after one cache refresh.
                    #expect(
                        try await eventually {
                            try await send(
                                .POST, second.url + "/v1/chat/completions", json: chat("m", "fleet"), headers: bearer(key)
                            ).status == 200
                        })
                    for proxy in [first, second] {
                        for _ in 0..<5 {
                            let result = try await send(
                                .POST, proxy.url + "/v1/chat/completions", json: chat("m", "fleet"), headers: bearer(key))
                            #expect(result.status == 200)
                        }
                    }
                    // Spend from both adds up, as each instance sees it (the other's rows once it has written them).
                    #expect(
                        try await eventually {
                            let all = try await Self.rows(second, key: key)
                            let total = all.compactMap { $0["spend"]?.doubleValue }.reduce(0, +)
                            let seenByFirst = try await Self.rows(first, key: key)
                            var agreed = all.count == 11 && seenByFirst.count == 11
                            for proxy in [first, second] {
                                let info = try await send(.GET, proxy.url + "/key/info?key=\(token)", headers: master)
                                let spend = info.json?["info"]?.objectValue?["spend"]?.doubleValue ?? 0
                                agreed = agreed && abs(spend - total) < 1e-12
                            }
                            return agreed
                        })
                    // Revoked on the first, refused by the second within the cache TTL.
                    let deleted = try await send(
                        .POST, first.url + "/key/delete", json: .object(["keys": .array([.string(key)])]), headers: master)
                    #expect(deleted.status == 200)
                    #expect(
                        try await eventually {
                            try await send(
                                .POST, second.url + "/v1/chat/completions", json: chat("m", "fleet"), headers: bearer(key)
                            ).status == 401
                        })
                }
            }
        }
    }

    @Test func anOutageLosesNoRowAndKnownKeysKeepWorking() async throws {
        let server = try await PostgresServer.make()
        let database = try await server.newDatabase()
        try await withMockUpstream { mock in
            let yaml = keysConfig(
                mock: mock, database: database, general: "user_api_key_cache_ttl: 0.2\nproxy_batch_write_at: 0.1")
            let lenient = keysConfig(
                mock: mock, database: database,
                general: "user_api_key_cache_ttl: 0.2\nproxy_batch_write_at: 0.1\nallow_requests_on_db_unavailable: true")
            try await withProxy(yaml: yaml, logLevel: .info) { proxy in
                try await withProxy(yaml: lenient, logLevel: .info) { lenientProxy in
                    let url = proxy.url + "/v1/chat/completions"
                    let (key, _) = try await generateKey(proxy)
                    #expect(try await send(.POST, url, json: chat("m", "before"), headers: bearer(key)).status == 200)
                    #expect(
                        try await eventually {
                            try await send(
                                .POST, lenientProxy.url + "/v1/chat/completions", json: chat("m", "x"), headers: bearer(key)
                            ).status == 200
                        })

                    try await server.stop()
                    for _ in 0..<20 {
                        #expect(try await send(.POST, url, json: chat("m", "during"), headers: bearer(key)).status == 200)
                    }
                    #expect(
                        try await eventually {
                            let stranger = try await send(
                                .POST, url, json: chat("m", "x"), headers: bearer("sk-unknown-to-everyone"))
                            return stranger.status == 401
                                && stranger.error?["message"]?.stringValue?.contains("unavailable") == true
                        })
                    // Seen down at its next refresh, or when a call has gone unanswered for 4 s.
                    #expect(
                        try await eventually(seconds: 20) {
                            try await send(
                                .POST, lenientProxy.url + "/v1/chat/completions", json: chat("m", "x"),
                                headers: bearer("sk-unknown-to-everyone")
                            ).status == 200
                        }, "allow_requests_on_db_unavailable lets unknown keys through once the database is seen down")
                    let health = try await send(.GET, proxy.url + "/health", headers: master)
                    let status = health.json?["storage"]?.objectValue?["status"]?.stringValue ?? ""
                    #expect(["unavailable", "starting"].contains(status), "\(health.text)")
                    #expect(health.json?["storage"]?.objectValue?["database"]?.stringValue?.hasPrefix("postgres://") == true)
                    let metrics = try await send(.GET, proxy.url + "/metrics")
                    #expect(metrics.text.contains("switchyard_storage_errors_total"))
                    let buffered = metrics.text.split(separator: "\n").first { $0.hasPrefix("switchyard_log_rows_buffered ") }
                    #expect((buffered.flatMap { Double($0.split(separator: " ").last ?? "") } ?? 0) > 0, "\(metrics.text)")

                    try await server.start()
                    #expect(
                        try await eventually(seconds: 20) {
                            try await Self.rows(proxy, key: key).count == 22
                        }, "the 20 requests made during the outage are all written once it is over")
                    let during = try await Self.rows(proxy, key: key).filter {
                        $0["request_id"] != nil && $0["status"]?.intValue == 200
                    }
                    #expect(during.count == 22)
                    let healthy = try await send(.GET, proxy.url + "/health", headers: master)
                    #expect(healthy.json?["storage"]?.objectValue?["status"]?.stringValue == "ok", "\(healthy.text)")
                }
            }
        }
        try? await server.stop()
    }

    /// A database that stops answering (connections open, nothing comes back) counts as unavailable within seconds,
    /// not only when a call fails; what waited is written once it answers again.
    @Test func aDatabaseThatStopsAnsweringCountsAsUnavailable() async throws {
        let database = try await newPostgresDatabase()
        var components = try #require(URLComponents(string: database))
        let relay = try RunningCommand(
            [
                repositoryRoot() + "/Tests/tools/stall_relay.py", String(try #require(components.port)),
            ], executable: "/usr/bin/python3")
        defer {
            // SIGKILL: a relay that cannot be stopped must not leave the test waiting for it.
            kill(relay.process.processIdentifier, SIGKILL)
            relay.process.waitUntilExit()
        }
        components.port = Int(try await relay.line(startingWith: "port ").dropFirst(5))
        let stalling = try #require(components.string)
        try await withMockUpstream { mock in
            let yaml = keysConfig(
                mock: mock, database: stalling,
                general: "user_api_key_cache_ttl: 0.2\nproxy_batch_write_at: 0.1\nallow_requests_on_db_unavailable: true")
            try await withProxy(yaml: yaml, logLevel: .info) { proxy in
                let url = proxy.url + "/v1/chat/completions"
                let (key, _) = try await generateKey(proxy)
                #expect(
                    try await eventually {
                        try await send(.POST, url, json: chat("m", "x"), headers: bearer("sk-unknown")).status == 401
                    }, "unknown keys refused while the database answers")

                kill(relay.process.processIdentifier, SIGUSR1)
                #expect(
                    try await eventually(seconds: 20) {
                        try await send(.POST, url, json: chat("m", "x"), headers: bearer("sk-unknown")).status == 200
                    }, "unknown keys let through once the database has not answered for a few seconds")
                let health = try await send(.GET, proxy.url + "/health", headers: master)
                #expect(health.json?["storage"]?.objectValue?["status"]?.stringValue == "unavailable", "\(health.text)")
                for _ in 0..<5 {
                    #expect(try await send(.POST, url, json: chat("m", "stalled"), headers: bearer(key)).status == 200)
                }

                kill(relay.process.processIdentifier, SIGUSR2)
                #expect(
                    try await eventually(seconds: 30) {
                        try await Self.rows(proxy, key: key).count == 5
                    }, "the rows made while the database stalled are written once it answers")
                #expect(
                    try await eventually {
                        try await send(.POST, url, json: chat("m", "x"), headers: bearer("sk-unknown")).status == 401
                    }, "unknown keys refused again once the database answers")
            }
        }
    }

    @Test func sigtermFlushesEveryRowOfTheRequestsInFlight() async throws {
        var options = MockUpstreamOptions()
        options.firstByteLatency = .milliseconds(800)
        try await withMockUpstream(options) { mock in
            // The default database: switchyard.db beside the config; rows written only every 30 s unless flushed.
            let path = try temporaryFile(cliConfig(mock: mock, general: "proxy_batch_write_at: 30"))
            let folder = DatabaseLocation.directory(of: path)
            let proxy = try RunningCommand(["serve", "--config", path, "--port", "0"])
            let url = try await proxy.line(startingWith: "listening on ").replacingOccurrences(of: "listening on ", with: "")
            let made = try await send(.POST, url + "/key/generate", json: .object([:]), headers: master)
            let key = try #require(made.json?["key"]?.stringValue, "\(made.text) \(proxy.stderr)")
            let count = 20
            let requests = (0..<count).map { index in
                Task {
                    try await send(
                        .POST, url + "/v1/chat/completions", json: chat("m", "flush \(index)"),
                        headers: bearer(key) + [("x-request-id", "flush-\(index)")])
                }
            }
            #expect(
                try await eventually {
                    mock.recorder.requests.filter { $0.path.hasSuffix("/chat/completions") }.count == count
                })
            let result = await proxy.stop()
            #expect(result.status == 0, "\(result.stderr)")
            for request in requests { #expect(try await request.value.status == 200) }

            let storage = try Backend.sqlite.storage("sqlite:" + folder + "/switchyard.db")
            let rows = try await storage.logs(LogFilter(keyHash: KeyHashing.sha256(key)))
            #expect(rows.count == count, "every request in flight at SIGTERM has its row")
            #expect(Set(rows.map(\.requestID)) == Set((0..<count).map { "flush-\($0)" }))
            let spend = try await storage.key(token: KeyHashing.sha256(key))?.spend ?? 0
            #expect(abs(spend - rows.compactMap(\.cost).reduce(0, +)) < 1e-12)
            await storage.close()
        }
    }
}

/// `switchyard keys` and `spend` against a running proxy (`--url`) and against the database directly.
@Suite struct KeysCLITests {
    @Test func keysAndSpendWorkThroughAProxyAndOnTheDatabase() async throws {
        try await withMockUpstream { mock in
            let path = try temporaryFile(cliConfig(mock: mock, general: "user_api_key_cache_ttl: 0.2"))
            let proxy = try RunningCommand(["serve", "--config", path, "--port", "0"])
            let url = try await proxy.line(startingWith: "listening on ").replacingOccurrences(of: "listening on ", with: "")
            let admin = ["SWITCHYARD_MASTER_KEY": masterKey]

            let created = try await runCLI(
                ["keys", "create", "--url", url, "--models", "m", "--max-budget", "2", "--alias", "cli"], environment: admin)
            #expect(created.status == 0, "\(created.output)")
            let key = created.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
            #expect(key.hasPrefix("sk-"))
            #expect(created.stderr.contains(KeyHashing.sha256(key)))
            let answer = try await send(
                .POST, url + "/v1/chat/completions", json: chat("m", "from the cli"), headers: bearer(key))
            #expect(answer.status == 200)

            let listed = try await runCLI(["keys", "list", "--url", url, "--json"], environment: admin)
            #expect(listed.status == 0, "\(listed.output)")
            #expect(listed.stdout.contains(KeyHashing.sha256(key)) && !listed.stdout.contains(key))
            let byKey = try await runCLI(["spend", "--url", url, "--by", "key"], environment: admin)
            #expect(byKey.status == 0, "\(byKey.output)")
            #expect(byKey.stdout.contains("(cli)") && byKey.stdout.contains("TOTAL"), "\(byKey.stdout)")
            let noMaster = try await runCLI(["keys", "list", "--url", url])
            #expect(noMaster.status == 1)
            #expect(noMaster.stderr.contains("401"), "\(noMaster.stderr)")

            // Directly on the database (the proxy's switchyard.db beside the config), while it serves.
            let direct = try await runCLI(["keys", "info", key, "--config", path, "--json"])
            #expect(direct.status == 0, "\(direct.output)")
            #expect(direct.stdout.contains("\"key_alias\":\"cli\""), "\(direct.stdout)")
            let made = try await runCLI(["keys", "create", "--config", path, "--alias", "direct"])
            let directKey = made.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
            #expect(
                try await eventually {
                    try await send(.POST, url + "/v1/chat/completions", json: chat("m", "x"), headers: bearer(directKey))
                        .status == 200
                }, "a key made in the database is served once the proxy reloads its keys")
            let revoked = try await runCLI(["keys", "revoke", "--url", url, key], environment: admin)
            #expect(revoked.status == 0, "\(revoked.output)")
            #expect(revoked.stdout.contains("revoked \(KeyHashing.sha256(key))"))
            let refused = try await send(.POST, url + "/v1/chat/completions", json: chat("m", "x"), headers: bearer(key))
            #expect(refused.status == 401)
            let unknown = try await runCLI(["keys", "info", "sk-nope", "--config", path])
            #expect(unknown.status == 1)
            #expect(unknown.stderr.contains("No such key"))
            let migrated = try await runCLI(["db", "migrate", "--config", path])
            #expect(migrated.stdout.contains("schema version \(SQLStorage.currentVersion), up to date"), "\(migrated.output)")
            #expect(await proxy.stop().status == 0)
        }
    }
}

/// The request-log buffer while the database is away.
@Suite struct LogBufferTests {
    @Test func rowsBeyondTheBufferAreDroppedCountedAndLogged() async throws {
        var settings = ProxySettings()
        settings.logBufferSize = 5
        let sink = LogSink(capturing: true)
        let redactors = RedactorStore()
        let logger = Logger(label: "switchyard") { label in
            ProxyLogHandler(label: label, level: .info, format: .json, redactors: redactors, sink: sink)
        }
        let metrics = ProxyMetrics()
        // Nothing listens on port 1: the database is down from the start.
        let storage = SQLStorage(backend: PostgresBackend(url: "postgres://nobody@127.0.0.1:1/none"), logger: logger)
        let accounting = Accounting(storage: storage, settings: settings, metrics: metrics, logger: logger)
        for index in 0..<8 {
            accounting.enqueue(LogRow(requestID: "r\(index)", time: Double(index), status: 200, latencyMs: 1))
        }
        #expect(accounting.bufferedCount == 5)
        #expect(sink.lines.contains { $0.contains("request-log buffer full") })
        #expect(accounting.keys.databaseUnavailable)
        #expect(await accounting.flush(storage) == false, "not written before the schema is ready")
        #expect(accounting.bufferedCount == 5, "and kept")
        let text = String(decoding: metrics.registry.emitToBuffer(), as: UTF8.self)
        #expect(text.contains("switchyard_log_rows_dropped_total 3"), "\(text)")
    }
}
