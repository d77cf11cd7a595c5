/// A place in a configuration file (1-based line and column).
public struct SourceLocation: Sendable, Equatable, CustomStringConvertible {
    /// The file path as given to the loader.
    public let file: String
    /// 1-based line.
    public let line: Int
    /// 1-based column.
    public let column: Int

    /// Creates a location.
    public init(file: String, line: Int, column: Int) {
        self.file = file
        self.line = line
        self.column = column
    }

    /// `file:line:column`.
    public var description: String { "\(file):\(line):\(column)" }
}

/// One finding about a configuration: an error stops start-up, a warning does not.
public struct ConfigDiagnostic: Sendable, Equatable, CustomStringConvertible {
    /// How serious a finding is.
    public enum Severity: String, Sendable, Equatable {
        /// Start-up stops.
        case error
        /// Reported; start-up goes on.
        case warning
    }

    /// How serious it is.
    public var severity: Severity
    /// What is wrong, in one line, never containing a secret.
    public var message: String
    /// How to fix it, in one line.
    public var fix: String?
    /// Where in the file, when known.
    public var location: SourceLocation?
    /// Whether this is an unknown key (which `--strict` turns into an error).
    public var isUnknownKey: Bool

    /// Creates a diagnostic.
    public init(
        _ severity: Severity,
        _ message: String,
        fix: String? = nil,
        at location: SourceLocation? = nil,
        isUnknownKey: Bool = false
    ) {
        self.severity = severity
        self.message = message
        self.fix = fix
        self.location = location
        self.isUnknownKey = isUnknownKey
    }

    /// `file:line:column: severity: message (fix: ...)`.
    public var description: String {
        var text = ""
        if let location { text += "\(location): " }
        text += "\(severity.rawValue): \(message)"
        if let fix { text += "; fix: \(fix)" }
        return text
    }
}
