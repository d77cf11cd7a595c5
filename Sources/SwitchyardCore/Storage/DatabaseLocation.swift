import Foundation

/// Where keys, spend and the request log are kept (`general_settings.database_url`).
public enum DatabaseLocation: Sendable, Equatable, CustomStringConvertible {
    /// Storage off: keys and spend routes answer 501.
    case none
    /// An SQLite file.
    case sqlite(path: String)
    /// A PostgreSQL server, shared by several instances; the URL may hold a password.
    case postgres(url: Secret)

    /// Parses `none`, `sqlite:PATH` (also `sqlite://PATH`) or `postgres://...` / `postgresql://...`; a relative
    /// SQLite path is taken from `directory`. Nil with a reason for anything else.
    public static func parse(_ text: String, relativeTo directory: String) -> Result<DatabaseLocation, DatabaseURLError> {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        if trimmed.lowercased() == "none" || trimmed.lowercased() == "off" { return .success(.none) }
        if trimmed.hasPrefix("postgres://") || trimmed.hasPrefix("postgresql://") {
            guard let components = URLComponents(string: trimmed), components.host?.isEmpty == false else {
                return .failure(DatabaseURLError(message: "the PostgreSQL URL has no host"))
            }
            return .success(.postgres(url: Secret(trimmed)))
        }
        if trimmed.hasPrefix("sqlite:") {
            var path = String(trimmed.dropFirst("sqlite:".count))
            if path.hasPrefix("//") { path = String(path.dropFirst(2)) }
            guard !path.isEmpty else { return .failure(DatabaseURLError(message: "sqlite: needs a file path")) }
            if !path.hasPrefix("/") { path = Self.join(directory, path) }
            return .success(.sqlite(path: path))
        }
        return .failure(
            DatabaseURLError(message: "unsupported database URL scheme (use sqlite:PATH, postgres://... or none)"))
    }

    /// The default: `switchyard.db` beside the config file.
    public static func defaultLocation(configPath: String) -> DatabaseLocation {
        .sqlite(path: join(directory(of: configPath), "switchyard.db"))
    }

    /// The folder of a file path: `.` for a bare name. (Foundation's path helpers crash on some short paths.)
    public static func directory(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        return slash == path.startIndex ? "/" : String(path[..<slash])
    }

    /// `directory/name`.
    static func join(_ directory: String, _ name: String) -> String {
        directory.hasSuffix("/") ? directory + name : directory + "/" + name
    }

    /// Whether storage is on.
    public var isEnabled: Bool { self != .none }

    /// For logs and `config check`: the PostgreSQL password is masked.
    public var description: String {
        switch self {
        case .none: "none"
        case .sqlite(let path): "sqlite:\(path)"
        case .postgres(let url): Self.masked(url.revealed)
        }
    }

    /// A PostgreSQL URL with its password replaced by `***`.
    static func masked(_ url: String) -> String {
        guard var components = URLComponents(string: url) else { return "postgres://***" }
        if components.password != nil { components.password = "***" }
        return components.string ?? "postgres://***"
    }
}

/// Why a database URL is not usable.
public struct DatabaseURLError: Error, Sendable, Equatable {
    public let message: String
}

/// Durations written as LiteLLM writes them: `30s`, `15m`, `1h`, `30d`, `2w`, or a number of seconds.
public enum DurationText {
    /// Seconds, or nil when the text is not a duration.
    public static func seconds(_ text: String) -> Double? {
        let trimmed = text.trimmingCharacters(in: .whitespaces).lowercased()
        if let plain = Double(trimmed) { return plain > 0 ? plain : nil }
        let units: [(String, Double)] = [("mo", 2_592_000), ("s", 1), ("m", 60), ("h", 3600), ("d", 86400), ("w", 604_800)]
        for (suffix, factor) in units where trimmed.hasSuffix(suffix) {
            guard let count = Double(trimmed.dropLast(suffix.count)), count > 0 else { return nil }
            return count * factor
        }
        return nil
    }
}
