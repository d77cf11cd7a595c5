import Foundation
import Logging
import SQLKit
import SwitchyardCore

/// `Storage` over SQL through vapor's sql-kit, for any `SQLBackend`; the request log's batched inserts (a row per
/// request) go to the driver directly (`SQLConnectionHandle.run`). One connection, opened on first
/// use and again after it drops; calls take turns, so a transaction's statements run together.
public final class SQLStorage: Storage, CustomStringConvertible {
    /// The schema version this build writes.
    public static let currentVersion = 6

    let backend: any SQLBackend
    let logger: Logger
    private let lock = AsyncLock()
    private let state = Locked<SQLConnectionHandle?>(nil)
    /// The request-log insert of `rowsPerInsert` rows, made on first use: the statement of every batch at high rates.
    private let fullLogInsert = Locked<String?>(nil)

    public init(backend: any SQLBackend, logger: Logger) {
        self.backend = backend
        self.logger = logger
    }

    /// Storage for a configured location; nil for `none`.
    public static func open(_ location: DatabaseLocation, logger: Logger) -> SQLStorage? {
        switch location {
        case .none: nil
        case .sqlite(let path): SQLStorage(backend: SQLiteBackend(path: path), logger: logger)
        case .postgres(let url): SQLStorage(backend: PostgresBackend(url: url.revealed), logger: logger)
        }
    }

    public var description: String { backend.description }

    /// The longest one call may take (connecting included) before its connection is closed and it fails: a
    /// database that stops answering must not hold every later call (and shutdown) behind it.
    static let callTimeout: Duration = .seconds(15)

    /// Runs `body` alone on the connection, opening it first when needed. A failure on a connection that has since
    /// closed drops it, so the next call connects again. A call still running after `callTimeout` is abandoned: its
    /// connection is dropped (and closed in the background), the lock is released and the caller gets
    /// `StorageError.timedOut`, whatever the stuck operation is waiting for.
    func exclusive<T: Sendable>(_ body: @Sendable @escaping (any SQLDatabase) async throws -> T) async throws -> T {
        try await withConnection { handle in try await body(handle.database) }
    }

    /// `exclusive` with the connection's handle, for statements run by the driver itself (`SQLConnectionHandle.run`).
    func withConnection<T: Sendable>(_ body: @Sendable @escaping (SQLConnectionHandle) async throws -> T) async throws -> T {
        await lock.lock()
        let outcome = await Self.race(Self.callTimeout) { [state, backend, logger] in
            let handle: SQLConnectionHandle
            if let open = state.value, !open.isClosed() {
                handle = open
            } else {
                if let stale = state.value {
                    state.value = nil
                    Task { await stale.close() }
                }
                handle = try await backend.connect(logger: logger)
                state.value = handle
            }
            do {
                return try await body(handle)
            } catch {
                if handle.isClosed() { state.value = nil }
                throw error
            }
        }
        guard let outcome else {
            if let handle = state.value {
                state.value = nil
                Task { await handle.close() }
            }
            await lock.unlock()
            throw StorageError.timedOut(Self.callTimeout)
        }
        await lock.unlock()
        return try outcome.get()
    }

    /// The operation's result, or nil when `timeout` passed first (the operation is then cancelled and left to end
    /// on its own; nobody waits for it).
    static func race<T: Sendable>(
        _ timeout: Duration, _ operation: @Sendable @escaping () async throws -> T
    ) async -> Result<T, any Error>? {
        let claimed = Locked(false)
        let claim: @Sendable () -> Bool = {
            claimed.exchange(true) == false
        }
        return await withCheckedContinuation { (continuation: CheckedContinuation<Result<T, any Error>?, Never>) in
            let timer = Locked<Task<Void, Never>?>(nil)
            let work = Task {
                let result: Result<T, any Error>
                do { result = .success(try await operation()) } catch { result = .failure(error) }
                if claim() {
                    timer.value?.cancel()
                    continuation.resume(returning: result)
                }
            }
            timer.value = Task {
                try? await Task.sleep(for: timeout)
                if !Task.isCancelled, claim() {
                    work.cancel()
                    continuation.resume(returning: nil)
                }
            }
        }
    }

    /// Runs `body` in a transaction.
    func transaction<T: Sendable>(_ body: @Sendable @escaping (any SQLDatabase) async throws -> T) async throws -> T {
        try await transactionOnHandle { handle in try await body(handle.database) }
    }

    /// Runs `body` in a transaction, with the connection's handle.
    func transactionOnHandle<T: Sendable>(
        _ body: @Sendable @escaping (SQLConnectionHandle) async throws -> T
    ) async throws -> T {
        try await withConnection { handle in
            let database = handle.database
            try await database.raw("BEGIN").run()
            do {
                let result = try await body(handle)
                try await database.raw("COMMIT").run()
                return result
            } catch {
                try? await database.raw("ROLLBACK").run()
                throw error
            }
        }
    }

    public func close() async {
        await lock.lock()
        if let handle = state.value {
            state.value = nil
            _ = await Self.race(.seconds(5)) { await handle.close() }
        }
        await lock.unlock()
    }

    // MARK: Schema

    /// Each version's statements; `{double}` stands for the backend's double type.
    static let migrations: [[String]] = [
        [
            """
            CREATE TABLE IF NOT EXISTS switchyard_keys (
                token TEXT PRIMARY KEY, key_name TEXT NOT NULL, key_alias TEXT, models TEXT NOT NULL,
                max_budget {double}, budget_duration TEXT, budget_reset_at {double}, spend {double} NOT NULL,
                rpm_limit BIGINT, tpm_limit BIGINT, max_parallel_requests BIGINT, expires {double},
                metadata TEXT NOT NULL, created_at {double} NOT NULL, updated_at {double} NOT NULL)
            """,
            """
            CREATE TABLE IF NOT EXISTS switchyard_request_log (
                request_id TEXT NOT NULL, time {double} NOT NULL, key_hash TEXT, key_alias TEXT, alias TEXT,
                deployment TEXT, provider TEXT, status BIGINT NOT NULL, error_code TEXT, latency_ms {double} NOT NULL,
                ttfb_ms {double}, prompt_tokens BIGINT NOT NULL, completion_tokens BIGINT NOT NULL,
                reasoning_tokens BIGINT NOT NULL, cached_tokens BIGINT NOT NULL, cost {double}, upstream_cost {double},
                request_sha256 TEXT, stream BIGINT NOT NULL, prompt TEXT, completion TEXT)
            """,
            "CREATE INDEX IF NOT EXISTS switchyard_request_log_time ON switchyard_request_log (time)",
            "CREATE INDEX IF NOT EXISTS switchyard_request_log_key ON switchyard_request_log (key_hash, time)",
            "CREATE INDEX IF NOT EXISTS switchyard_request_log_request ON switchyard_request_log (request_id)",
            """
            CREATE TABLE IF NOT EXISTS switchyard_daily_spend (
                day TEXT NOT NULL, key_hash TEXT NOT NULL, alias TEXT NOT NULL, deployment TEXT NOT NULL,
                spend {double} NOT NULL, upstream_spend {double} NOT NULL, requests BIGINT NOT NULL,
                prompt_tokens BIGINT NOT NULL, completion_tokens BIGINT NOT NULL,
                PRIMARY KEY (day, key_hash, alias, deployment))
            """,
        ],
        // 2: whether a row's tokens are the proxy's estimate (a stream that ended without the upstream's usage).
        ["ALTER TABLE switchyard_request_log ADD COLUMN usage_estimated BIGINT NOT NULL DEFAULT 0"],
        // 3: each instance's counts against fleet-wide limits (`exchangeCounts`).
        [
            """
            CREATE TABLE IF NOT EXISTS switchyard_fleet_counts (
                instance_id TEXT NOT NULL, scope TEXT NOT NULL, name TEXT NOT NULL, requests BIGINT NOT NULL,
                tokens BIGINT NOT NULL, in_flight BIGINT NOT NULL, updated_at {double} NOT NULL,
                PRIMARY KEY (instance_id, scope, name))
            """
        ],
        // 4: where a row's cost came from (the upstream's billed figure, the catalog's or model_info's prices).
        ["ALTER TABLE switchyard_request_log ADD COLUMN cost_source TEXT"],
        // 5: Responses API answers made by translation, for previous_response_id and GET/DELETE /v1/responses/{id}.
        [
            """
            CREATE TABLE IF NOT EXISTS switchyard_responses (
                id TEXT PRIMARY KEY, created_at {double} NOT NULL, key_hash TEXT, alias TEXT NOT NULL,
                input TEXT NOT NULL, response TEXT NOT NULL, deployment TEXT, native BIGINT NOT NULL)
            """,
            "CREATE INDEX IF NOT EXISTS switchyard_responses_created ON switchyard_responses (created_at)",
        ],
        // 6: the run-time configuration (laid over the file's) and its audit: one row per change, numbered; the
        // feature endpoint and prompt version of each request.
        [
            """
            CREATE TABLE IF NOT EXISTS switchyard_config (
                kind TEXT NOT NULL, name TEXT NOT NULL, body TEXT NOT NULL, changed_at {double} NOT NULL,
                changed_by TEXT NOT NULL, PRIMARY KEY (kind, name))
            """,
            """
            CREATE TABLE IF NOT EXISTS switchyard_config_audit (
                revision BIGINT PRIMARY KEY, time {double} NOT NULL, actor TEXT NOT NULL, kind TEXT NOT NULL,
                name TEXT NOT NULL, action TEXT NOT NULL, body_before TEXT, body_after TEXT)
            """,
            "CREATE INDEX IF NOT EXISTS switchyard_config_audit_name ON switchyard_config_audit (kind, name, revision)",
            "ALTER TABLE switchyard_request_log ADD COLUMN feature TEXT",
            "ALTER TABLE switchyard_request_log ADD COLUMN prompt_version BIGINT",
        ],
    ]

    public func schemaVersion() async throws -> Int {
        try await exclusive { database in try await Self.version(database) }
    }

    static func version(_ database: any SQLDatabase) async throws -> Int {
        try await database.raw("CREATE TABLE IF NOT EXISTS switchyard_schema (version BIGINT NOT NULL)").run()
        let rows = try await database.raw("SELECT MAX(version) AS version FROM switchyard_schema").all()
        return try rows.first?.decode(column: "version", as: Int?.self) ?? 0
    }

    @discardableResult
    public func migrate() async throws -> Int {
        let double = backend.doubleType
        return try await transaction { database in
            let found = try await Self.version(database)
            guard found <= Self.currentVersion else {
                throw StorageError.schemaTooNew(found: found, supported: Self.currentVersion)
            }
            for version in (found + 1)...max(found + 1, Self.currentVersion) where version <= Self.currentVersion {
                for statement in Self.migrations[version - 1] {
                    let sql = statement.replacingOccurrences(of: "{double}", with: double)
                    try await database.raw(SQLQueryString(sql)).run()
                }
                try await database.raw("INSERT INTO switchyard_schema (version) VALUES (\(bind: version))").run()
            }
            return Self.currentVersion
        }
    }

    // MARK: Keys

    static let keyColumns = [
        "token", "key_name", "key_alias", "models", "max_budget", "budget_duration", "budget_reset_at", "spend",
        "rpm_limit", "tpm_limit", "max_parallel_requests", "expires", "metadata", "created_at", "updated_at",
    ]

    static func values(_ key: VirtualKey) -> [any Encodable & Sendable] {
        let models = (try? String(decoding: JSONEncoder().encode(key.models), as: UTF8.self)) ?? "[]"
        return [
            key.token, key.keyName, key.keyAlias, models, key.maxBudget, key.budgetDuration, key.budgetResetAt, key.spend,
            key.rpmLimit, key.tpmLimit, key.maxParallelRequests, key.expires, key.metadata, key.createdAt, key.updatedAt,
        ]
    }

    static func key(from row: any SQLRow) throws -> VirtualKey {
        let modelsText = try row.decode(column: "models", as: String.self)
        let models = (try? JSONDecoder().decode([String].self, from: Data(modelsText.utf8))) ?? []
        return VirtualKey(
            token: try row.decode(column: "token", as: String.self),
            keyName: try row.decode(column: "key_name", as: String.self),
            keyAlias: try row.decode(column: "key_alias", as: String?.self),
            models: models,
            maxBudget: try row.decode(column: "max_budget", as: Double?.self),
            budgetDuration: try row.decode(column: "budget_duration", as: String?.self),
            budgetResetAt: try row.decode(column: "budget_reset_at", as: Double?.self),
            spend: try row.decode(column: "spend", as: Double.self),
            rpmLimit: try row.decode(column: "rpm_limit", as: Int?.self),
            tpmLimit: try row.decode(column: "tpm_limit", as: Int?.self),
            maxParallelRequests: try row.decode(column: "max_parallel_requests", as: Int?.self),
            expires: try row.decode(column: "expires", as: Double?.self),
            metadata: try row.decode(column: "metadata", as: String.self),
            createdAt: try row.decode(column: "created_at", as: Double.self),
            updatedAt: try row.decode(column: "updated_at", as: Double.self))
    }

    public func keys() async throws -> [VirtualKey] {
        try await exclusive { database in
            try await database.raw("SELECT * FROM switchyard_keys ORDER BY created_at").all().map(Self.key(from:))
        }
    }

    public func key(token: String) async throws -> VirtualKey? {
        try await exclusive { database in
            try await database.raw("SELECT * FROM switchyard_keys WHERE token = \(bind: token)").all().first.map(Self.key(from:))
        }
    }

    public func insert(_ key: VirtualKey) async throws {
        try await exclusive { database in
            try await database.insert(into: "switchyard_keys").columns(Self.keyColumns).values(Self.values(key)).run()
        }
    }

    public func update(_ key: VirtualKey) async throws -> Bool {
        try await transaction { database in
            let found = try await database.raw("SELECT token FROM switchyard_keys WHERE token = \(bind: key.token)").all()
            guard !found.isEmpty else { return false }
            let values = Self.values(key)
            var update = database.update("switchyard_keys")
            for (column, value) in zip(Self.keyColumns, values) where column != "token" && column != "spend" {
                update = update.set(SQLIdentifier(column), to: SQLBind(value))
            }
            try await update.where("token", .equal, key.token).run()
            return true
        }
    }

    public func delete(tokens: [String]) async throws -> [String] {
        guard !tokens.isEmpty else { return [] }
        return try await transaction { database in
            let rows = try await database.select().column("token").from("switchyard_keys")
                .where("token", .in, tokens).all()
            let existing = try rows.map { try $0.decode(column: "token", as: String.self) }
            if !existing.isEmpty {
                try await database.delete(from: "switchyard_keys").where("token", .in, existing).run()
            }
            return existing
        }
    }

    public func resetBudgets(_ resets: [BudgetReset]) async throws -> [String] {
        guard !resets.isEmpty else { return [] }
        return try await transaction { database in
            var applied: [String] = []
            for reset in resets {
                let rows = try await database.raw(
                    """
                    UPDATE switchyard_keys SET spend = 0, budget_reset_at = \(bind: reset.nextResetAt)
                    WHERE token = \(bind: reset.token) AND budget_reset_at = \(bind: reset.previousResetAt)
                    RETURNING token
                    """
                ).all()
                if !rows.isEmpty { applied.append(reset.token) }
            }
            return applied
        }
    }

    // MARK: Request log and spend

    static let logColumns = [
        "request_id", "time", "key_hash", "key_alias", "alias", "deployment", "provider", "status", "error_code",
        "latency_ms", "ttfb_ms", "prompt_tokens", "completion_tokens", "reasoning_tokens", "cached_tokens", "cost",
        "upstream_cost", "cost_source", "request_sha256", "stream", "usage_estimated", "prompt", "completion",
        "feature", "prompt_version",
    ]

    /// A row's values in `logColumns` order, appended to `binds`.
    static func append(_ row: LogRow, to binds: inout [SQLValue]) {
        binds.append(.text(row.requestID))
        binds.append(.real(row.time))
        binds.append(.text(row.keyHash))
        binds.append(.text(row.keyAlias))
        binds.append(.text(row.alias))
        binds.append(.text(row.deployment))
        binds.append(.text(row.provider))
        binds.append(.integer(row.status))
        binds.append(.text(row.errorCode))
        binds.append(.real(row.latencyMs))
        binds.append(.real(row.ttfbMs))
        binds.append(.integer(row.promptTokens))
        binds.append(.integer(row.completionTokens))
        binds.append(.integer(row.reasoningTokens))
        binds.append(.integer(row.cachedTokens))
        binds.append(.real(row.cost))
        binds.append(.real(row.upstreamCost))
        binds.append(.text(row.costSource))
        binds.append(.text(row.requestSHA256))
        binds.append(.integer(row.stream ? 1 : 0))
        binds.append(.integer(row.usageEstimated ? 1 : 0))
        binds.append(.text(row.prompt))
        binds.append(.text(row.completion))
        binds.append(.text(row.feature))
        binds.append(.integer(row.promptVersion))
    }

    /// `INSERT INTO switchyard_request_log (columns) VALUES (...), ...` for `rows` rows, with `?` placeholders or
    /// numbered ones (`$1`, ...): written by hand as bytes (sql-kit's builder escaped each of the column names
    /// and built an expression per value, for every row; appending to a `String` costs ~300 instructions a piece).
    static func logInsert(rows: Int, numbered: Bool) -> String {
        var sql = Array("INSERT INTO switchyard_request_log (\(logColumns.joined(separator: ", "))) VALUES ".utf8)
        sql.reserveCapacity(sql.count + rows * logColumns.count * (numbered ? 7 : 3))
        var position = 0
        for row in 0..<rows {
            if row > 0 { sql.append(UInt8(ascii: ",")) }
            sql.append(UInt8(ascii: "("))
            for column in 0..<logColumns.count {
                position += 1
                if column > 0 { sql.append(UInt8(ascii: ",")) }
                if numbered {
                    sql.append(UInt8(ascii: "$"))
                    appendDecimal(position, to: &sql)
                } else {
                    sql.append(UInt8(ascii: "?"))
                }
            }
            sql.append(UInt8(ascii: ")"))
        }
        return String(decoding: sql, as: UTF8.self)
    }

    /// `logInsert(rows:numbered:)`, the full batch's statement made once.
    func logInsert(rows: Int, numbered: Bool) -> String {
        guard rows == Self.rowsPerInsert else { return Self.logInsert(rows: rows, numbered: numbered) }
        if let made = fullLogInsert.value { return made }
        let made = Self.logInsert(rows: rows, numbered: numbered)
        fullLogInsert.value = made
        return made
    }

    /// Appends a positive number's decimal digits.
    private static func appendDecimal(_ value: Int, to bytes: inout [UInt8]) {
        var divisor = 1
        while divisor * 10 <= value { divisor *= 10 }
        var rest = value
        while divisor > 0 {
            bytes.append(UInt8(ascii: "0") + UInt8(rest / divisor))
            rest %= divisor
            divisor /= 10
        }
    }

    static func logRow(from row: any SQLRow) throws -> LogRow {
        LogRow(
            requestID: try row.decode(column: "request_id", as: String.self),
            time: try row.decode(column: "time", as: Double.self),
            keyHash: try row.decode(column: "key_hash", as: String?.self),
            keyAlias: try row.decode(column: "key_alias", as: String?.self),
            alias: try row.decode(column: "alias", as: String?.self),
            deployment: try row.decode(column: "deployment", as: String?.self),
            provider: try row.decode(column: "provider", as: String?.self),
            status: try row.decode(column: "status", as: Int.self),
            errorCode: try row.decode(column: "error_code", as: String?.self),
            latencyMs: try row.decode(column: "latency_ms", as: Double.self),
            ttfbMs: try row.decode(column: "ttfb_ms", as: Double?.self),
            promptTokens: try row.decode(column: "prompt_tokens", as: Int.self),
            completionTokens: try row.decode(column: "completion_tokens", as: Int.self),
            reasoningTokens: try row.decode(column: "reasoning_tokens", as: Int.self),
            cachedTokens: try row.decode(column: "cached_tokens", as: Int.self),
            cost: try row.decode(column: "cost", as: Double?.self),
            upstreamCost: try row.decode(column: "upstream_cost", as: Double?.self),
            costSource: try row.decode(column: "cost_source", as: String?.self),
            requestSHA256: try row.decode(column: "request_sha256", as: String?.self),
            stream: try row.decode(column: "stream", as: Int.self) != 0,
            usageEstimated: try row.decode(column: "usage_estimated", as: Int.self) != 0,
            prompt: try row.decode(column: "prompt", as: String?.self),
            completion: try row.decode(column: "completion", as: String?.self),
            feature: try row.decode(column: "feature", as: String?.self),
            promptVersion: try row.decode(column: "prompt_version", as: Int?.self))
    }

    /// Rows per INSERT statement: well under both databases' limits on bound values.
    static let rowsPerInsert = 400

    public func write(_ rows: [LogRow], keepRows: Bool) async throws {
        guard !rows.isEmpty else { return }
        var byKey: [String: Double] = [:]
        struct DayKey: Hashable, Sendable {
            let day: String
            let key: String
            let alias: String
            let deployment: String
        }
        struct DayTotal: Sendable {
            var spend = 0.0
            var upstream = 0.0
            var requests = 0
            var prompt = 0
            var completion = 0

            mutating func add(_ row: LogRow, cost: Double) {
                spend += cost
                upstream += row.upstreamCost ?? 0
                requests += 1
                prompt += row.promptTokens
                completion += row.completionTokens + row.reasoningTokens
            }
        }
        var byDay: [DayKey: DayTotal] = [:]
        for row in rows {
            let cost = row.cost ?? 0
            if let hash = row.keyHash, cost > 0 { byKey[hash, default: 0] += cost }
            let dayKey = DayKey(
                day: row.day, key: row.keyHash ?? "", alias: row.alias ?? "", deployment: row.deployment ?? "")
            // One lookup per row: the total is changed in place.
            byDay[dayKey, default: DayTotal()].add(row, cost: cost)
        }
        let (keyTotals, dayTotals) = (byKey, byDay)
        let numbered = backend.numberedPlaceholders
        try await transactionOnHandle { handle in
            let database = handle.database
            if keepRows {
                var start = 0
                while start < rows.count {
                    let end = min(start + Self.rowsPerInsert, rows.count)
                    var binds: [SQLValue] = []
                    binds.reserveCapacity((end - start) * Self.logColumns.count)
                    for row in rows[start..<end] { Self.append(row, to: &binds) }
                    try await handle.run(self.logInsert(rows: end - start, numbered: numbered), binds)
                    start = end
                }
            }
            for (hash, cost) in keyTotals.sorted(by: { $0.key < $1.key }) {
                try await database.raw(
                    "UPDATE switchyard_keys SET spend = spend + \(bind: cost) WHERE token = \(bind: hash)"
                ).run()
            }
            for (key, total) in dayTotals {
                try await database.raw(
                    """
                    INSERT INTO switchyard_daily_spend
                        (day, key_hash, alias, deployment, spend, upstream_spend, requests, prompt_tokens, completion_tokens)
                    VALUES (\(bind: key.day), \(bind: key.key), \(bind: key.alias), \(bind: key.deployment),
                        \(bind: total.spend), \(bind: total.upstream), \(bind: total.requests), \(bind: total.prompt),
                        \(bind: total.completion))
                    ON CONFLICT (day, key_hash, alias, deployment) DO UPDATE SET
                        spend = switchyard_daily_spend.spend + excluded.spend,
                        upstream_spend = switchyard_daily_spend.upstream_spend + excluded.upstream_spend,
                        requests = switchyard_daily_spend.requests + excluded.requests,
                        prompt_tokens = switchyard_daily_spend.prompt_tokens + excluded.prompt_tokens,
                        completion_tokens = switchyard_daily_spend.completion_tokens + excluded.completion_tokens
                    """
                ).run()
            }
        }
    }

    public func logs(_ filter: LogFilter) async throws -> [LogRow] {
        try await exclusive { database in
            var select = database.select().column("*").from("switchyard_request_log")
            if let keyHash = filter.keyHash { select = select.where("key_hash", .equal, keyHash) }
            if let alias = filter.alias { select = select.where("alias", .equal, alias) }
            if let requestID = filter.requestID { select = select.where("request_id", .equal, requestID) }
            if let keyAlias = filter.keyAlias { select = select.where("key_alias", .equal, keyAlias) }
            if let status = filter.status { select = select.where("status", .equal, status) }
            if let start = filter.start { select = select.where("time", .greaterThanOrEqual, start) }
            if let end = filter.end { select = select.where("time", .lessThan, end) }
            return try await select.orderBy("time", .descending).limit(filter.limit).all().map(Self.logRow(from:))
        }
    }

    public func report(groupBy: SpendGrouping, fromDay: String?, toDay: String?) async throws -> [SpendLine] {
        let column =
            switch groupBy {
            case .apiKey: "key_hash"
            case .model: "alias"
            case .day: "day"
            }
        return try await exclusive { database in
            var sql: SQLQueryString = """
                SELECT \(unsafeRaw: column) AS grp, SUM(spend) AS spend, CAST(SUM(requests) AS BIGINT) AS requests,
                    CAST(SUM(prompt_tokens) AS BIGINT) AS prompt, CAST(SUM(completion_tokens) AS BIGINT) AS completion
                FROM switchyard_daily_spend WHERE 1 = 1
                """
            if let fromDay { sql = sql + " AND day >= \(bind: fromDay)" }
            if let toDay { sql = sql + " AND day <= \(bind: toDay)" }
            sql = sql + " GROUP BY \(unsafeRaw: column) ORDER BY \(unsafeRaw: column)"
            let rows = try await database.raw(sql).all()
            return try rows.map { row in
                SpendLine(
                    group: try row.decode(column: "grp", as: String.self),
                    spend: try row.decode(column: "spend", as: Double?.self) ?? 0,
                    requests: try row.decode(column: "requests", as: Int?.self) ?? 0,
                    promptTokens: try row.decode(column: "prompt", as: Int?.self) ?? 0,
                    completionTokens: try row.decode(column: "completion", as: Int?.self) ?? 0)
            }
        }
    }

    // MARK: Fleet

    /// Instances whose rows are this old are gone: their rows are deleted by the next exchange.
    static let fleetRowsKept = 300.0

    public func publishCounts(instance: String, counts: [FleetKey: FleetCounts], time: Double) async throws {
        try await transaction { database in
            try await database.raw("DELETE FROM switchyard_fleet_counts WHERE instance_id = \(bind: instance)").run()
            try await database.raw(
                "DELETE FROM switchyard_fleet_counts WHERE updated_at < \(bind: time - Self.fleetRowsKept)"
            ).run()
            // A heartbeat row, so an instance with nothing counted still counts as alive.
            var rows = [(FleetKey(scope: "instance", name: ""), FleetCounts())]
            rows += counts.filter { !$0.value.isZero }.sorted { ($0.key.scope, $0.key.name) < ($1.key.scope, $1.key.name) }
                .map { ($0.key, $0.value) }
            for chunk in stride(from: 0, to: rows.count, by: 500) {
                var insert = database.insert(into: "switchyard_fleet_counts")
                    .columns("instance_id", "scope", "name", "requests", "tokens", "in_flight", "updated_at")
                for (key, value) in rows[chunk..<min(rows.count, chunk + 500)] {
                    insert = insert.values([
                        SQLBind(instance), SQLBind(key.scope), SQLBind(key.name), SQLBind(value.requests),
                        SQLBind(value.tokens), SQLBind(value.inFlight), SQLBind(time),
                    ])
                }
                try await insert.run()
            }
        }
    }

    public func leaveFleet(instance: String) async throws {
        try await exclusive { database in
            try await database.raw("DELETE FROM switchyard_fleet_counts WHERE instance_id = \(bind: instance)").run()
        }
    }

    public func fleetCounts(excluding instance: String, since time: Double) async throws -> FleetView {
        try await exclusive { database in
            let live = time
            let others = try await database.raw(
                """
                SELECT scope, name, CAST(SUM(requests) AS BIGINT) AS requests, CAST(SUM(tokens) AS BIGINT) AS tokens,
                CAST(SUM(in_flight) AS BIGINT) AS in_flight, COUNT(*) AS instances, MIN(updated_at) AS oldest
                FROM switchyard_fleet_counts
                WHERE instance_id <> \(bind: instance) AND updated_at >= \(bind: live) GROUP BY scope, name
                """
            ).all()
            var view = FleetView()
            for row in others {
                let key = FleetKey(
                    scope: try row.decode(column: "scope", as: String.self), name: try row.decode(column: "name", as: String.self)
                )
                if key.scope == "instance" {
                    view.instances = 1 + (try row.decode(column: "instances", as: Int.self))
                    view.oldestPublication = try row.decode(column: "oldest", as: Double?.self)
                    continue
                }
                view.others[key] = FleetCounts(
                    requests: try row.decode(column: "requests", as: Int.self),
                    tokens: try row.decode(column: "tokens", as: Int.self),
                    inFlight: try row.decode(column: "in_flight", as: Int.self))
            }
            return view
        }
    }

    /// Rows one pruning statement deletes at most: each chunk is its own call, so writes and key reads run between
    /// chunks and no call nears `callTimeout`, however large the log has grown.
    static let pruneChunk = 5_000

    public func save(responses: [StoredResponse]) async throws {
        guard !responses.isEmpty else { return }
        try await transaction { database in
            for response in responses {
                try await database.raw("DELETE FROM switchyard_responses WHERE id = \(bind: response.id)").run()
                try await database.raw(
                    """
                    INSERT INTO switchyard_responses (id, created_at, key_hash, alias, input, response, deployment, native)
                    VALUES (\(bind: response.id), \(bind: response.createdAt), \(bind: response.keyHash),
                        \(bind: response.alias), \(bind: response.input), \(bind: response.response),
                        \(bind: response.deployment), \(bind: response.native ? 1 : 0))
                    """
                ).run()
            }
        }
    }

    public func storedResponse(id: String) async throws -> StoredResponse? {
        try await exclusive { database in
            guard let row = try await database.raw("SELECT * FROM switchyard_responses WHERE id = \(bind: id)").first()
            else { return nil }
            return StoredResponse(
                id: try row.decode(column: "id", as: String.self),
                createdAt: try row.decode(column: "created_at", as: Double.self),
                keyHash: try row.decode(column: "key_hash", as: String?.self),
                alias: try row.decode(column: "alias", as: String.self),
                input: try row.decode(column: "input", as: String.self),
                response: try row.decode(column: "response", as: String.self),
                deployment: try row.decode(column: "deployment", as: String?.self),
                native: try row.decode(column: "native", as: Int.self) != 0)
        }
    }

    public func deleteStoredResponse(id: String) async throws -> Bool {
        try await exclusive { database in
            !(try await database.raw("DELETE FROM switchyard_responses WHERE id = \(bind: id) RETURNING id").all()).isEmpty
        }
    }

    // MARK: Run-time configuration

    public func configRecords() async throws -> (revision: Int, records: [ConfigRecord]) {
        try await transaction { database in
            let revision = try await Self.configRevision(database)
            let rows = try await database.raw("SELECT * FROM switchyard_config ORDER BY kind, name").all()
            let records = try rows.map { row in
                ConfigRecord(
                    kind: try row.decode(column: "kind", as: String.self), name: try row.decode(column: "name", as: String.self),
                    body: try row.decode(column: "body", as: String.self),
                    changedAt: try row.decode(column: "changed_at", as: Double.self),
                    changedBy: try row.decode(column: "changed_by", as: String.self))
            }
            return (revision, records)
        }
    }

    public func configRevision() async throws -> Int {
        try await exclusive { database in try await Self.configRevision(database) }
    }

    static func configRevision(_ database: any SQLDatabase) async throws -> Int {
        let row = try await database.raw("SELECT MAX(revision) AS revision FROM switchyard_config_audit").first()
        return try row?.decode(column: "revision", as: Int?.self) ?? 0
    }

    /// The channel a change is announced on (PostgreSQL's NOTIFY).
    static let configChannel = "switchyard_config"

    public func listenForConfigChanges(
        ready: @Sendable () async -> Void, notified: @Sendable () async -> Void
    ) async throws -> Bool {
        guard backend.notifyStatement(Self.configChannel) != nil else { return false }
        try await backend.listen(channel: Self.configChannel, logger: logger, ready: ready, notified: notified)
        return true
    }

    /// How often a change is tried when another instance took its revision number first (a database whose
    /// `writerLock` does not serialize writers).
    static let configChangeAttempts = 5

    public func change(config changes: [ConfigChange]) async throws -> Int {
        var attempt = 1
        let lock = backend.writerLock("switchyard_config_audit")
        while true {
            do {
                let notify = backend.notifyStatement(Self.configChannel)
                return try await transaction { database in
                    if let lock { try await database.raw(SQLQueryString(lock)).run() }
                    for change in changes { try await Self.apply(change, database) }
                    if let notify { _ = try await database.raw(SQLQueryString(notify)).all() }
                    return try await Self.configRevision(database)
                }
            } catch {
                guard attempt < Self.configChangeAttempts, !(error is StorageError) else { throw error }
                attempt += 1
                try await Task.sleep(for: .milliseconds(20 * attempt))
            }
        }
    }

    /// One change and its audit row. The audit row is written first, reading the body before in the same statement:
    /// SQLite takes its write lock with that first statement (a read first could deadlock two writers), and two
    /// PostgreSQL writers that pick the same revision collide on its key (the change is tried again).
    static func apply(_ change: ConfigChange, _ database: any SQLDatabase) async throws {
        try await database.raw(
            """
            INSERT INTO switchyard_config_audit (revision, time, actor, kind, name, action, body_before, body_after)
            SELECT COALESCE(MAX(revision), 0) + 1, \(bind: change.time), \(bind: change.actor), \(bind: change.kind),
                \(bind: change.name), \(bind: change.action),
                (SELECT body FROM switchyard_config WHERE kind = \(bind: change.kind) AND name = \(bind: change.name)),
                \(bind: change.body)
            FROM switchyard_config_audit
            """
        ).run()
        try await database.raw(
            "DELETE FROM switchyard_config WHERE kind = \(bind: change.kind) AND name = \(bind: change.name)"
        ).run()
        if let body = change.body {
            try await database.raw(
                """
                INSERT INTO switchyard_config (kind, name, body, changed_at, changed_by)
                VALUES (\(bind: change.kind), \(bind: change.name), \(bind: body), \(bind: change.time), \(bind: change.actor))
                """
            ).run()
        }
    }

    public func configAudit(kind: String?, name: String?, limit: Int) async throws -> [ConfigAuditRow] {
        try await exclusive { database in
            var sql: SQLQueryString = "SELECT * FROM switchyard_config_audit WHERE 1 = 1"
            if let kind { sql = sql + " AND kind = \(bind: kind)" }
            if let name { sql = sql + " AND name = \(bind: name)" }
            sql = sql + " ORDER BY revision DESC LIMIT \(literal: max(1, min(limit, 10_000)))"
            return try await database.raw(sql).all().map { row in
                ConfigAuditRow(
                    revision: try row.decode(column: "revision", as: Int.self),
                    time: try row.decode(column: "time", as: Double.self),
                    actor: try row.decode(column: "actor", as: String.self),
                    kind: try row.decode(column: "kind", as: String.self),
                    name: try row.decode(column: "name", as: String.self),
                    action: try row.decode(column: "action", as: String.self),
                    before: try row.decode(column: "body_before", as: String?.self),
                    after: try row.decode(column: "body_after", as: String?.self))
            }
        }
    }

    public func prune(before time: Double) async throws -> Int {
        try await exclusive { database in
            try await database.raw("DELETE FROM switchyard_responses WHERE created_at < \(bind: time)").run()
        }
        var removed = 0
        while true {
            let deleted = try await exclusive { database in
                // The time of the chunk's last row (the time index answers it); everything up to it goes.
                let edge = try await database.raw(
                    """
                    SELECT time FROM switchyard_request_log WHERE time < \(bind: time)
                    ORDER BY time LIMIT 1 OFFSET \(literal: Self.pruneChunk - 1)
                    """
                ).first()
                let condition: SQLQueryString =
                    if let edge, let last = try? edge.decode(column: "time", as: Double.self) {
                        "time <= \(bind: last)"
                    } else {
                        "time < \(bind: time)"
                    }
                let rows = try await database.raw(
                    "DELETE FROM switchyard_request_log WHERE " + condition + " RETURNING request_id"
                ).all()
                return rows.count
            }
            removed += deleted
            if deleted < Self.pruneChunk { return removed }
        }
    }
}

/// Why storage refused.
public enum StorageError: Error, CustomStringConvertible {
    case schemaTooNew(found: Int, supported: Int)
    case timedOut(Duration)

    public var description: String {
        switch self {
        case .schemaTooNew(let found, let supported):
            "the database has schema version \(found); this build knows versions up to \(supported): upgrade switchyard"
        case .timedOut(let timeout): "the database did not answer within \(timeout); the connection was closed"
        }
    }
}

/// A value behind a lock.
final class Locked<Value: Sendable>: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: Value

    init(_ value: Value) { stored = value }

    var value: Value {
        get { lock.withLock { stored } }
        set { lock.withLock { stored = newValue } }
    }

    /// Sets a new value and returns the old one, atomically.
    func exchange(_ newValue: Value) -> Value {
        lock.withLock {
            let old = stored
            stored = newValue
            return old
        }
    }
}
