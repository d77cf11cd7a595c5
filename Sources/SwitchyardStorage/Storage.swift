import SwitchyardCore

/// What Switchyard keeps in a database: virtual keys, spend and the request log. SQLite and PostgreSQL implement it
/// (`SQLStorage` with `SQLiteBackend` or `PostgresBackend`); both pass the same test suite.
public protocol Storage: Sendable {
    /// What it is, for logs (passwords masked).
    var description: String { get }
    /// Brings the schema to the current version; returns the version.
    @discardableResult func migrate() async throws -> Int
    /// The schema version in the database, 0 when none.
    func schemaVersion() async throws -> Int
    /// Every key.
    func keys() async throws -> [VirtualKey]
    /// One key by hash.
    func key(token: String) async throws -> VirtualKey?
    /// Adds a key.
    func insert(_ key: VirtualKey) async throws
    /// Replaces a key's settings (not its spend); false when it does not exist.
    func update(_ key: VirtualKey) async throws -> Bool
    /// Deletes keys by hash; returns the hashes that existed.
    func delete(tokens: [String]) async throws -> [String]
    /// In one transaction: inserts the rows (unless `keepRows` is false) and adds their cost to their keys' spend
    /// and to the daily spend table.
    func write(_ rows: [LogRow], keepRows: Bool) async throws
    /// Applies budget resets still due (one instance wins each); returns the tokens reset.
    func resetBudgets(_ resets: [BudgetReset]) async throws -> [String]
    /// Request-log rows, newest first.
    func logs(_ filter: LogFilter) async throws -> [LogRow]
    /// Spend grouped by key, alias or day between two days (`YYYY-MM-DD`, inclusive).
    func report(groupBy: SpendGrouping, fromDay: String?, toDay: String?) async throws -> [SpendLine]
    /// Deletes request-log rows older than `time`; returns how many.
    func prune(before time: Double) async throws -> Int
    /// Publishes this instance's counts against fleet-wide limits at `time`, replacing what it published before.
    func publishCounts(instance: String, counts: [FleetKey: FleetCounts], time: Double) async throws
    /// The other instances' counts, summed, from those that published at `time` or later.
    func fleetCounts(excluding instance: String, since time: Double) async throws -> FleetView
    /// Removes this instance's counts (it is stopping).
    func leaveFleet(instance: String) async throws
    /// Keeps Responses API answers (an id already kept is replaced).
    func save(responses: [StoredResponse]) async throws
    /// A kept response by id.
    func storedResponse(id: String) async throws -> StoredResponse?
    /// Forgets a kept response; false when there was none.
    func deleteStoredResponse(id: String) async throws -> Bool
    /// The run-time configuration: every record, and the newest revision, read together.
    func configRecords() async throws -> (revision: Int, records: [ConfigRecord])
    /// The newest revision of the run-time configuration (0 when it was never changed): what instances poll.
    func configRevision() async throws -> Int
    /// Applies changes in one transaction, each with its audit row; returns the new revision.
    func change(config changes: [ConfigChange]) async throws -> Int
    /// Waits for changes other instances announce (PostgreSQL's LISTEN), calling `ready` once listening and
    /// `notified` for each, until the task is cancelled; false at once where the database cannot announce them.
    func listenForConfigChanges(ready: @Sendable () async -> Void, notified: @Sendable () async -> Void) async throws -> Bool
    /// Audit rows, newest first, optionally of one kind and name.
    func configAudit(kind: String?, name: String?, limit: Int) async throws -> [ConfigAuditRow]
    /// Closes the connection.
    func close() async
}
