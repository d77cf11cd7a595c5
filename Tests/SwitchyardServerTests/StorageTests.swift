import Foundation
import Logging
import NIOCore
import SQLKit
import Testing

@testable import SwitchyardCore
@testable import SwitchyardStorage

/// The databases Switchyard runs on; every storage test runs on each.
enum Backend: String, CaseIterable, Sendable, CustomTestStringConvertible {
    case sqlite, postgres

    var testDescription: String { rawValue }

    /// A fresh database of this kind: a new SQLite file, or a new database on the test PostgreSQL server.
    func newURL() async throws -> String {
        switch self {
        case .sqlite: "sqlite:" + NSTemporaryDirectory() + "switchyard-test-\(UUID().uuidString.prefix(8)).db"
        case .postgres: try await newPostgresDatabase()
        }
    }

    func storage(_ url: String) throws -> SQLStorage {
        let logger = Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })
        guard case .success(let location) = DatabaseLocation.parse(url, relativeTo: "/tmp"),
            let storage = SQLStorage.open(location, logger: logger)
        else { throw StorageTestError.badURL(url) }
        return storage
    }

    func newStorage() async throws -> SQLStorage { try storage(await newURL()) }
}

enum StorageTestError: Error {
    case badURL(String)
}

/// One storage suite, run against SQLite and PostgreSQL alike.
@Suite struct StorageTests {
    static func key(_ token: String, spend: Double = 0, resetAt: Double? = nil) -> VirtualKey {
        VirtualKey(
            token: token, keyName: "sk-...\(token.suffix(4))", keyAlias: "alias-\(token)", models: ["a", "b"],
            maxBudget: 1.5, budgetDuration: resetAt == nil ? nil : "30d", budgetResetAt: resetAt, spend: spend,
            rpmLimit: 10, tpmLimit: 1000, maxParallelRequests: 2, expires: 2_000_000_000, metadata: #"{"team":"x"}"#,
            createdAt: 1_700_000_000, updatedAt: 1_700_000_000)
    }

    static func row(_ id: String, key: String?, alias: String, time: Double, cost: Double, tokens: Int = 10) -> LogRow {
        LogRow(
            requestID: id, time: time, keyHash: key, keyAlias: key.map { "alias-\($0)" }, alias: alias,
            deployment: alias + "#1", provider: "xai", status: 200, latencyMs: 12.5, ttfbMs: 3.25, promptTokens: tokens,
            completionTokens: 5, reasoningTokens: 2, cachedTokens: 1, cost: cost, upstreamCost: cost / 2,
            requestSHA256: String(repeating: "a", count: 64), stream: true)
    }

    @Test(arguments: Backend.allCases)
    func migratesOnceAndAgainWithoutHarm(_ backend: Backend) async throws {
        let storage = try await backend.newStorage()
        #expect(try await storage.schemaVersion() == 0)
        #expect(try await storage.migrate() == SQLStorage.currentVersion)
        #expect(try await storage.migrate() == SQLStorage.currentVersion)
        #expect(try await storage.schemaVersion() == SQLStorage.currentVersion)
        await storage.close()
    }

    @Test(arguments: Backend.allCases)
    func aVersion1DatabaseIsMigratedWithItsRowsKept(_ backend: Backend) async throws {
        // A database as version 1 left it (no `usage_estimated`), with a row in its log: migrated, the row reads
        // back as not estimated, and new rows keep the flag.
        let storage = try await backend.newStorage()
        let double = storage.backend.doubleType
        try await storage.transaction { database in
            try await database.raw("CREATE TABLE switchyard_schema (version BIGINT NOT NULL)").run()
            for statement in SQLStorage.migrations[0] {
                try await database.raw(SQLQueryString(statement.replacingOccurrences(of: "{double}", with: double))).run()
            }
            try await database.raw("INSERT INTO switchyard_schema (version) VALUES (1)").run()
            try await database.raw(
                """
                INSERT INTO switchyard_request_log (request_id, time, status, latency_ms, prompt_tokens, \
                completion_tokens, reasoning_tokens, cached_tokens, stream) VALUES ('old', 1, 200, 2, 3, 4, 0, 0, 1)
                """
            ).run()
        }
        #expect(try await storage.schemaVersion() == 1)
        #expect(try await storage.migrate() == SQLStorage.currentVersion)
        #expect(try await storage.schemaVersion() == SQLStorage.currentVersion)
        let old = try #require(try await storage.logs(LogFilter(requestID: "old")).first)
        #expect(old.promptTokens == 3 && old.stream && !old.usageEstimated)
        var estimated = Self.row("new", key: nil, alias: "a", time: 2, cost: 0.5)
        estimated.usageEstimated = true
        try await storage.write([estimated], keepRows: true)
        #expect(try await storage.logs(LogFilter(requestID: "new")) == [estimated])
        await storage.close()
    }

    @Test(arguments: Backend.allCases)
    func keysRoundTripUpdateAndDelete(_ backend: Backend) async throws {
        let storage = try await backend.newStorage()
        try await storage.migrate()
        let first = Self.key("k1")
        try await storage.insert(first)
        try await storage.insert(Self.key("k2"))
        #expect(try await storage.key(token: "k1") == first)
        #expect(try await storage.keys().map(\.token).sorted() == ["k1", "k2"])
        var changed = first
        changed.models = []
        changed.maxBudget = nil
        changed.keyAlias = "renamed"
        changed.spend = 99  // update never writes spend
        #expect(try await storage.update(changed))
        let stored = try await storage.key(token: "k1")
        #expect(stored?.keyAlias == "renamed")
        #expect(stored?.models == [])
        #expect(stored?.maxBudget == nil)
        #expect(stored?.spend == 0)
        #expect(try await storage.update(Self.key("missing")) == false)
        #expect(try await storage.delete(tokens: ["k1", "missing"]) == ["k1"])
        #expect(try await storage.key(token: "k1") == nil)
        await storage.close()
    }

    @Test(arguments: Backend.allCases)
    func writingRowsChargesKeysAndDays(_ backend: Backend) async throws {
        let storage = try await backend.newStorage()
        try await storage.migrate()
        try await storage.insert(Self.key("k1"))
        let day1 = 1_764_115_200.0  // 2025-11-26 00:00 UTC
        try await storage.write(
            [
                Self.row("r1", key: "k1", alias: "a", time: day1 + 10, cost: 0.25),
                Self.row("r2", key: "k1", alias: "b", time: day1 + 20, cost: 0.5),
                Self.row("r3", key: nil, alias: "a", time: day1 + 86400 + 5, cost: 1),
            ], keepRows: true)
        try await storage.write([Self.row("r4", key: "k1", alias: "a", time: day1 + 30, cost: 0.125)], keepRows: true)
        #expect(try await storage.key(token: "k1")?.spend == 0.875)

        let all = try await storage.logs(LogFilter())
        #expect(all.map(\.requestID) == ["r3", "r4", "r2", "r1"])
        #expect(all.last == Self.row("r1", key: "k1", alias: "a", time: day1 + 10, cost: 0.25))
        #expect(try await storage.logs(LogFilter(keyHash: "k1")).count == 3)
        #expect(try await storage.logs(LogFilter(alias: "b")).map(\.requestID) == ["r2"])
        #expect(try await storage.logs(LogFilter(requestID: "r3")).map(\.requestID) == ["r3"])
        #expect(try await storage.logs(LogFilter(start: day1 + 86400)).map(\.requestID) == ["r3"])
        #expect(try await storage.logs(LogFilter(end: day1 + 15)).map(\.requestID) == ["r1"])
        #expect(try await storage.logs(LogFilter(limit: 2)).count == 2)

        let byModel = try await storage.report(groupBy: .model, fromDay: nil, toDay: nil)
        #expect(
            byModel == [
                SpendLine(group: "a", spend: 1.375, requests: 3, promptTokens: 30, completionTokens: 21),
                SpendLine(group: "b", spend: 0.5, requests: 1, promptTokens: 10, completionTokens: 7),
            ])
        let byDay = try await storage.report(groupBy: .day, fromDay: nil, toDay: nil)
        #expect(byDay.map(\.group) == ["2025-11-26", "2025-11-27"])
        #expect(byDay.map(\.spend) == [0.875, 1])
        let byKey = try await storage.report(groupBy: .apiKey, fromDay: "2025-11-26", toDay: "2025-11-26")
        #expect(byKey.map(\.group) == ["k1"])

        // Spend only: rows are not kept, keys and days still add up.
        try await storage.write([Self.row("r5", key: "k1", alias: "a", time: day1 + 40, cost: 0.125)], keepRows: false)
        #expect(try await storage.logs(LogFilter(requestID: "r5")).isEmpty)
        #expect(try await storage.key(token: "k1")?.spend == 1)

        #expect(try await storage.prune(before: day1 + 86400) == 3)
        #expect(try await storage.logs(LogFilter()).map(\.requestID) == ["r3"])
        await storage.close()
    }

    /// Rows are bound by the driver as text, integers, doubles and NULLs: every field reads back as written, with
    /// every optional field set (text with quotes, a backslash, a NUL-free multi-byte character and SQL in it) or
    /// none, across the statements a batch is split into (400 rows each: 401 rows take two).
    @Test(arguments: Backend.allCases)
    func everyFieldOfEveryRowReadsBackAsWritten(_ backend: Backend) async throws {
        let storage = try await backend.newStorage()
        try await storage.migrate()
        let full = LogRow(
            requestID: "req-full", time: 1_764_115_200.123456, keyHash: String(repeating: "f", count: 64),
            keyAlias: "it's \"quoted\" \\ and ünïcode 🚂", alias: "grok-code-fast-1", deployment: "grok-code-fast-1#0",
            provider: "xai", status: 429, errorCode: "rate_limited", latencyMs: 0.001, ttfbMs: 12_345.678,
            promptTokens: Int(Int32.max) + 7, completionTokens: 0, reasoningTokens: 3, cachedTokens: 2, cost: 1e-9,
            upstreamCost: 123.456, costSource: "upstream", requestSHA256: String(repeating: "0", count: 64), stream: true,
            usageEstimated: true,
            prompt: "'); DROP TABLE switchyard_request_log; --", completion: "line one\nline two\t$1 ? ?1")
        let empty = LogRow(requestID: "req-empty", time: 1_764_115_201, status: 200, latencyMs: 5)
        let batch = (0..<401).map { index in
            var row = index.isMultiple(of: 2) ? full : empty
            row.requestID = "req-\(index)"
            row.time = 1_764_115_300 + Double(index)
            return row
        }
        try await storage.write([full, empty], keepRows: true)
        try await storage.write(batch, keepRows: true)
        #expect(try await storage.logs(LogFilter(requestID: "req-full")) == [full])
        #expect(try await storage.logs(LogFilter(requestID: "req-empty")) == [empty])
        let stored = try await storage.logs(LogFilter(start: 1_764_115_300, limit: 1_000))
        #expect(stored.count == 401)
        // The first row that differs, not all 401 of them, when one does.
        if let (read, written) = zip(stored.sorted { $0.time < $1.time }, batch).first(where: { $0 != $1 }) {
            Issue.record("\(written.requestID) was written as \(written) and read back as \(read)")
        }
        await storage.close()
    }

    /// Kept Responses API answers: saved (a second save of an id replaces it), read back, deleted, and pruned with
    /// the request log.
    @Test(arguments: Backend.allCases)
    func keptResponsesAreSavedReadDeletedAndPruned(_ backend: Backend) async throws {
        let storage = try await backend.newStorage()
        try await storage.migrate()
        let old = StoredResponse(
            id: "resp_old", createdAt: 1_000, keyHash: "master", alias: "g", input: "[]", response: "{\"id\":\"resp_old\"}")
        var new = StoredResponse(
            id: "resp_new", createdAt: 2_000, keyHash: nil, alias: "g", input: "[{\"role\":\"user\",\"content\":\"ünï 🚂\"}]",
            response: "{}")
        try await storage.save(responses: [old, new])
        new.response = "{\"id\":\"resp_new\"}"
        try await storage.save(responses: [new])
        #expect(try await storage.storedResponse(id: "resp_new") == new)
        #expect(try await storage.storedResponse(id: "resp_old") == old)
        #expect(try await storage.deleteStoredResponse(id: "resp_new"))
        #expect(try await !storage.deleteStoredResponse(id: "resp_new"))
        #expect(try await storage.storedResponse(id: "resp_new") == nil)
        _ = try await storage.prune(before: 1_500)
        #expect(try await storage.storedResponse(id: "resp_old") == nil)
        await storage.close()
    }

    /// Pruning a large log deletes it chunk by chunk (rows sharing a time at a chunk's edge included), so no call
    /// nears the storage's bound and writes go on between chunks.
    @Test(arguments: Backend.allCases)
    func pruningALargeLogWorksInChunks(_ backend: Backend) async throws {
        let storage = try await backend.newStorage()
        try await storage.migrate()
        let start = 1_764_115_200.0
        let rows = (0..<12_000).map { Self.row("p\($0)", key: nil, alias: "a", time: start + Double($0 / 3), cost: 0) }
        for batch in stride(from: 0, to: rows.count, by: 2_000) {
            try await storage.write(Array(rows[batch..<batch + 2_000]), keepRows: true)
        }
        #expect(try await storage.prune(before: start + 3_500) == 10_500)
        let left = try await storage.logs(LogFilter(limit: 20_000))
        #expect(left.count == 1_500)
        #expect(left.allSatisfy { $0.time >= start + 3_500 })
        #expect(try await storage.prune(before: start + 3_500) == 0)
        await storage.close()
    }

    @Test(arguments: Backend.allCases)
    func aBudgetResetAppliesOnceAcrossInstances(_ backend: Backend) async throws {
        let url = try await backend.newURL()
        let first = try backend.storage(url)
        let second = try backend.storage(url)
        try await first.migrate()
        try await second.migrate()
        try await first.insert(Self.key("k1", spend: 0, resetAt: 100))
        try await first.write([Self.row("r1", key: "k1", alias: "a", time: 50, cost: 0.5)], keepRows: true)
        let reset = BudgetReset(token: "k1", previousResetAt: 100, nextResetAt: 200)
        #expect(try await first.resetBudgets([reset]) == ["k1"])
        #expect(try await second.resetBudgets([reset]) == [])
        let key = try await second.key(token: "k1")
        #expect(key?.spend == 0)
        #expect(key?.budgetResetAt == 200)
        await first.close()
        await second.close()
    }

    @Test(arguments: Backend.allCases)
    func aLargeBatchIsWrittenInOneGo(_ backend: Backend) async throws {
        let storage = try await backend.newStorage()
        try await storage.migrate()
        let rows = (0..<1_000).map { Self.row("r\($0)", key: nil, alias: "a", time: Double($0), cost: 0.001) }
        try await storage.write(rows, keepRows: true)
        #expect(try await storage.logs(LogFilter(limit: 5_000)).count == 1_000)
        await storage.close()
    }

    @Test func aNewerSchemaIsRefused() async throws {
        let storage = try await Backend.sqlite.newStorage()
        try await storage.migrate()
        try await storage.exclusive { database in
            try await database.raw("INSERT INTO switchyard_schema (version) VALUES (99)").run()
        }
        await #expect(throws: StorageError.self) { try await storage.migrate() }
        await storage.close()
    }

    @Test func daysAreUTCCalendarDays() {
        #expect(LogRow.day(of: 0) == "1970-01-01")
        #expect(LogRow.day(of: 1_764_115_199) == "2025-11-25")
        #expect(LogRow.day(of: 1_764_115_200) == "2025-11-26")
        #expect(LogRow.day(of: 951_782_400) == "2000-02-29")
    }

    @Test func keysAreRandomAndOnlyTheirHashIsAnId() {
        let first = KeyHashing.newKey()
        let second = KeyHashing.newKey()
        #expect(first != second)
        #expect(first.hasPrefix("sk-") && first.count == 46)
        #expect(KeyHashing.isHash(KeyHashing.sha256(first)))
        #expect(!KeyHashing.isHash(first))
        #expect(KeyHashing.sha256("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(
            KeyHashing.sha256(ByteBuffer(string: "abc").readableBytesView)
                == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", "a request body's bytes")
        #expect(KeyHashing.displayName(first) == "sk-..." + first.suffix(4))
    }

    @Test(arguments: Backend.allCases)
    func instancesExchangeTheirCountsAndTheGoneAreForgotten(_ backend: Backend) async throws {
        let storage = try await backend.newStorage()
        try await storage.migrate()
        let key = FleetKey.key("hash-1")
        let deployment = FleetKey.deployment("m-1")
        let idle = FleetKey.key("idle")
        #expect(try await storage.fleetCounts(excluding: "a", since: 0) == FleetView(instances: 1, others: [:]))
        try await storage.publishCounts(
            instance: "a", counts: [key: FleetCounts(requests: 3, tokens: 40, inFlight: 1)], time: 1_000)
        try await storage.publishCounts(
            instance: "b", counts: [key: FleetCounts(requests: 2), deployment: FleetCounts(inFlight: 2), idle: FleetCounts()],
            time: 1_000)
        try await storage.publishCounts(instance: "c", counts: [key: FleetCounts(requests: 1)], time: 1_000)
        // Each sees the others' summed, never its own.
        let seenByC = try await storage.fleetCounts(excluding: "c", since: 998)
        #expect(seenByC.instances == 3)
        #expect(seenByC.oldestPublication == 1_000)
        #expect(seenByC.others[key] == FleetCounts(requests: 5, tokens: 40, inFlight: 1))
        #expect(seenByC.others[deployment] == FleetCounts(inFlight: 2))
        #expect(seenByC.others[idle] == nil, "zero counts are not written")
        let seenByA = try await storage.fleetCounts(excluding: "a", since: 998)
        #expect(seenByA.others[key] == FleetCounts(requests: 3))
        // A publishes again: its rows are replaced, not added to.
        try await storage.publishCounts(instance: "a", counts: [key: FleetCounts(requests: 4)], time: 1_001)
        #expect(try await storage.fleetCounts(excluding: "c", since: 998).others[key] == FleetCounts(requests: 6))
        // B published before `since`: not alive any more, not counted.
        try await storage.publishCounts(instance: "c", counts: [:], time: 1_002)
        let later = try await storage.fleetCounts(excluding: "c", since: 1_000.5)
        #expect(later == FleetView(instances: 2, others: [key: FleetCounts(requests: 4)], oldestPublication: 1_001))
        // Long gone rows are deleted by the next publication; an instance that leaves takes its rows with it.
        try await storage.publishCounts(instance: "a", counts: [key: FleetCounts(requests: 1)], time: 2_000)
        try await storage.leaveFleet(instance: "a")
        let remaining = try await storage.exclusive { database in
            try await database.raw("SELECT instance_id FROM switchyard_fleet_counts").all().map {
                try $0.decode(column: "instance_id", as: String.self)
            }
        }
        #expect(remaining.isEmpty, "\(remaining)")
        await storage.close()
    }
}
