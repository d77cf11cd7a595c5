import Foundation
import Logging
import NIOCore
import PostgresKit
import SQLKit
import SQLiteKit
import SwitchyardCore

/// A value bound to a statement, as the database stores it: bound by the driver as it is, with no `Encodable`
/// conversion (sql-kit's way, which looks up each value's type at run time).
public enum SQLValue: Sendable, Equatable {
    case text(String)
    case integer(Int)
    case real(Double)
    case null

    /// Text, or NULL for nil.
    static func text(_ value: String?) -> SQLValue { value.map { .text($0) } ?? .null }
    /// A double, or NULL for nil.
    static func real(_ value: Double?) -> SQLValue { value.map { .real($0) } ?? .null }
    /// A whole number, or NULL for nil.
    static func integer(_ value: Int?) -> SQLValue { value.map { .integer($0) } ?? .null }
}

/// An open connection a backend made.
public struct SQLConnectionHandle: Sendable {
    /// SQL over the connection.
    let database: any SQLDatabase
    /// Runs one statement with its values bound by the driver itself (placeholders as the backend's
    /// `numberedPlaceholders` says), discarding any rows: the request log's batched inserts, which would
    /// otherwise spend most of their time in sql-kit's query builder and value encoding.
    let run: @Sendable (_ sql: String, _ binds: [SQLValue]) async throws -> Void
    /// Whether the connection is gone and a new one is needed.
    let isClosed: @Sendable () -> Bool
    /// Closes it.
    let close: @Sendable () async -> Void
}

/// What differs between the databases: connecting, and a column type.
public protocol SQLBackend: Sendable {
    /// For logs (passwords masked).
    var description: String { get }
    /// The column type for a double.
    var doubleType: String { get }
    /// Whether a statement run by the handle's `run` names its bound values by position (`$1`, `$2`, ...) rather
    /// than with `?`.
    var numberedPlaceholders: Bool { get }
    /// Opens a connection.
    func connect(logger: Logger) async throws -> SQLConnectionHandle
    /// A statement that makes other writers of `table` wait until this transaction ends (readers do not wait);
    /// nil where a transaction's first write already does it (SQLite).
    func writerLock(_ table: String) -> String?
    /// A statement that tells every listener of `channel` when the transaction commits; nil where the database
    /// cannot (SQLite: instances poll).
    func notifyStatement(_ channel: String) -> String?
    /// Listens on `channel` on a connection of its own: `ready` once listening, `notified` for each notification,
    /// until the task is cancelled (returns) or the connection fails (throws). Only where `notifyStatement` is not nil.
    func listen(
        channel: String, logger: Logger, ready: @Sendable () async -> Void, notified: @Sendable () async -> Void
    ) async throws
}

/// An SQLite file, through sqlite-nio and sqlite-kit: one connection, write-ahead logging so readers (the CLI) and
/// the writer do not block each other.
public struct SQLiteBackend: SQLBackend {
    public let path: String

    public init(path: String) { self.path = path }

    public var description: String { "sqlite:\(path)" }
    public var doubleType: String { "REAL" }
    public func writerLock(_ table: String) -> String? { nil }
    public func notifyStatement(_ channel: String) -> String? { nil }
    public func listen(
        channel: String, logger: Logger, ready: @Sendable () async -> Void, notified: @Sendable () async -> Void
    ) async throws {}
    public var numberedPlaceholders: Bool { false }

    public func connect(logger: Logger) async throws -> SQLConnectionHandle {
        let directory = DatabaseLocation.directory(of: path)
        if !directory.isEmpty { try? FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true) }
        let connection = try await SQLiteConnection.open(storage: .file(path: path), logger: logger)
        let database = connection.sql(queryLogLevel: nil)
        do {
            try await database.raw("PRAGMA busy_timeout = 5000").run()
            try await database.raw("PRAGMA journal_mode = WAL").run()
            try await database.raw("PRAGMA synchronous = NORMAL").run()
        } catch {
            try? await connection.close()
            throw error
        }
        return SQLConnectionHandle(
            database: database,
            run: { sql, binds in
                try await connection.query(sql, binds.map(\.sqlite)) { _ in }
            },
            isClosed: { connection.isClosed }, close: { try? await connection.close() })
    }
}

/// A PostgreSQL server, through postgres-nio and postgres-kit: one connection per instance, opened again after
/// the server goes away.
public struct PostgresBackend: SQLBackend {
    let url: String

    public init(url: String) { self.url = url }

    public var description: String {
        guard var components = URLComponents(string: url) else { return "postgres://***" }
        if components.password != nil { components.password = "***" }
        return components.string ?? "postgres://***"
    }

    public var doubleType: String { "DOUBLE PRECISION" }
    public func writerLock(_ table: String) -> String? { "LOCK TABLE \(table) IN SHARE ROW EXCLUSIVE MODE" }
    public func notifyStatement(_ channel: String) -> String? { "SELECT pg_notify('\(channel)', '')" }

    public func listen(
        channel: String, logger: Logger, ready: @Sendable () async -> Void, notified: @Sendable () async -> Void
    ) async throws {
        let configuration = try SQLPostgresConfiguration(url: url)
        var core = configuration.coreConfiguration
        core.options.connectTimeout = .seconds(5)
        let connection = try await PostgresConnection.connect(configuration: core, id: 2, logger: logger)
        do {
            try await connection.listen(on: channel) { notifications in
                await ready()
                for try await _ in notifications { await notified() }
            }
            try? await connection.close()
        } catch {
            try? await connection.close()
            throw error
        }
    }
    public var numberedPlaceholders: Bool { true }

    public func connect(logger: Logger) async throws -> SQLConnectionHandle {
        let configuration = try SQLPostgresConfiguration(url: url)
        var core = configuration.coreConfiguration
        core.options.connectTimeout = .seconds(5)
        let connection = try await PostgresConnection.connect(configuration: core, id: 1, logger: logger)
        return SQLConnectionHandle(
            database: connection.sql(queryLogLevel: nil),
            run: { sql, binds in
                var bindings = PostgresBindings(capacity: binds.count)
                for bind in binds {
                    switch bind {
                    case .text(let text): bindings.append(text)
                    case .integer(let integer): bindings.append(integer)
                    case .real(let real): bindings.append(real)
                    case .null: bindings.appendNull()
                    }
                }
                for try await _ in try await connection.query(PostgresQuery(unsafeSQL: sql, binds: bindings), logger: logger) {}
            },
            isClosed: { connection.isClosed }, close: { try? await connection.close() })
    }
}

extension SQLValue {
    /// The value as sqlite-nio binds it.
    var sqlite: SQLiteData {
        switch self {
        case .text(let text): .text(text)
        case .integer(let integer): .integer(integer)
        case .real(let real): .float(real)
        case .null: .null
        }
    }
}
