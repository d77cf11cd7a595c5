/// Where a resolved configuration value came from.
public enum ValueSource: Sendable, Equatable, CustomStringConvertible {
    /// Written literally in the model entry.
    case modelEntry
    /// The model entry's `os.environ/NAME` reference.
    case modelEntryEnvironment(String)
    /// A provider-wide environment variable such as `GROK_API_KEY`.
    case environment(String)
    /// The provider's built-in default.
    case providerDefault
    /// Written literally in a settings section.
    case settings
    /// A settings section's `os.environ/NAME` reference.
    case settingsEnvironment(String)

    /// Short human text, e.g. `env GROK_API_KEY` or `model entry`.
    public var description: String {
        switch self {
        case .modelEntry: "model entry"
        case .modelEntryEnvironment(let name): "model entry (os.environ/\(name))"
        case .environment(let name): "env \(name)"
        case .providerDefault: "default"
        case .settings: "config file"
        case .settingsEnvironment(let name): "config file (os.environ/\(name))"
        }
    }
}

/// A configuration value together with where it came from.
public struct Resolved<Value: Sendable & Equatable>: Sendable, Equatable {
    /// The value.
    public let value: Value
    /// Its source.
    public let source: ValueSource

    /// Creates a resolved value.
    public init(_ value: Value, from source: ValueSource) {
        self.value = value
        self.source = source
    }
}

/// A string written in the config: literal text or an `os.environ/NAME` reference.
public enum ConfigString: Sendable, Equatable {
    /// Literal text.
    case literal(String)
    /// `os.environ/NAME`.
    case environment(String)

    /// The prefix LiteLLM uses for environment references.
    public static let environmentPrefix = "os.environ/"

    /// Parses raw YAML text.
    public init(raw: String) {
        if raw.hasPrefix(Self.environmentPrefix) {
            self = .environment(String(raw.dropFirst(Self.environmentPrefix.count)))
        } else {
            self = .literal(raw)
        }
    }
}

/// A secret string that never prints itself.
public struct Secret: Sendable, Equatable, CustomStringConvertible, CustomDebugStringConvertible {
    /// The secret text; use only to build an upstream request.
    public let revealed: String

    /// Wraps a secret.
    public init(_ value: String) { self.revealed = value }

    /// A masked form safe to show: a short prefix and suffix at most.
    public var masked: String {
        let characters = Array(revealed)
        guard characters.count >= 12 else { return "****" }
        let prefixLength = revealed.hasPrefix("xai-") ? 4 : (revealed.hasPrefix("sk-") ? 3 : 2)
        return String(characters.prefix(prefixLength)) + "****" + String(characters.suffix(2))
    }

    /// Always the masked form.
    public var description: String { masked }
    /// Always the masked form.
    public var debugDescription: String { masked }
}

/// A snapshot of environment variables; tests pass their own instead of mutating the process.
public struct EnvironmentSnapshot: Sendable, Equatable {
    /// The variables.
    public var values: [String: String]

    /// Creates a snapshot from a dictionary.
    public init(_ values: [String: String] = [:]) { self.values = values }

    /// A variable's value; an empty value counts as unset.
    public subscript(name: String) -> String? {
        guard let value = values[name], !value.isEmpty else { return nil }
        return value
    }
}
