import Foundation
import Logging
import NIOCore
import PostgresKit
import SQLKit
import SQLiteKit
import SwitchyardCore

/// An open connection a backend made.
public struct SQLConnectionHandle: Sendable {
    /// SQL over the connection.
    let database: any SQLDatabase
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
    /// Opens a connection.
    func connect(logger: Logger) async throws -> SQLConnectionHandle
}

/// An SQLite file, through sqlite-nio and sqlite-kit: one connection, write-ahead logging so readers (the CLI) and
/// the writer do not block each other.
public struct SQLiteBackend: SQLBackend {
    public let path: String

    public init(path: String) { self.path = path }

    public var description: String { "sqlite:\(path)" }
    public var doubleType: String { "REAL" }

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
            database: database, isClosed: { connection.isClosed }, close: { try? await connection.close() })
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

    public func connect(logger: Logger) async throws -> SQLConnectionHandle {
        let configuration = try SQLPostgresConfiguration(url: url)
        var core = configuration.coreConfiguration
        core.options.connectTimeout = .seconds(5)
        let connection = try await PostgresConnection.connect(configuration: core, id: 1, logger: logger)
        return SQLConnectionHandle(
            database: connection.sql(queryLogLevel: nil), isClosed: { connection.isClosed },
            close: { try? await connection.close() })
    }
}
