/// A prompt text with `{{variable}}` places, split once when the configuration is read, so a request only joins
/// the pieces.
public struct PromptText: Sendable, Equatable {
    /// A literal piece, or a variable's place.
    public enum Piece: Sendable, Equatable {
        case text(String)
        case variable(String)
    }

    /// The pieces in order.
    public let pieces: [Piece]
    /// The text as written.
    public let source: String

    /// Splits `source` at its `{{name}}` places (spaces inside the braces are allowed; a name is letters, digits,
    /// `_`, `-` and `.`). Braces that do not form a place are text. Linear in the text.
    public init(_ source: String) {
        self.source = source
        var pieces: [Piece] = []
        let bytes = Array(source.utf8)
        var text: [UInt8] = []
        var index = 0
        while index < bytes.count {
            if bytes[index] == UInt8(ascii: "{"), index + 1 < bytes.count, bytes[index + 1] == UInt8(ascii: "{"),
                let (name, end) = Self.place(bytes, from: index + 2)
            {
                if !text.isEmpty { pieces.append(.text(String(decoding: text, as: UTF8.self))) }
                text.removeAll()
                pieces.append(.variable(name))
                index = end
            } else {
                text.append(bytes[index])
                index += 1
            }
        }
        if !text.isEmpty { pieces.append(.text(String(decoding: text, as: UTF8.self))) }
        self.pieces = pieces
    }

    /// The name of a place starting after `{{`, and the index after its `}}`; nil when it is not one. It looks at
    /// most `maxNameLength` bytes ahead, so the whole split stays linear.
    static func place(_ bytes: [UInt8], from start: Int) -> (String, Int)? {
        var index = start
        while index < bytes.count, bytes[index] == UInt8(ascii: " ") { index += 1 }
        let nameStart = index
        while index < bytes.count, index - nameStart <= maxNameLength, isNameByte(bytes[index]) { index += 1 }
        let nameEnd = index
        guard nameEnd > nameStart, nameEnd - nameStart <= maxNameLength else { return nil }
        while index < bytes.count, bytes[index] == UInt8(ascii: " "), index - nameEnd < 8 { index += 1 }
        guard index + 1 < bytes.count, bytes[index] == UInt8(ascii: "}"), bytes[index + 1] == UInt8(ascii: "}") else {
            return nil
        }
        return (String(decoding: bytes[nameStart..<nameEnd], as: UTF8.self), index + 2)
    }

    static let maxNameLength = 64

    static func isNameByte(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
            UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "_"), UInt8(ascii: "-"), UInt8(ascii: "."):
            true
        default: false
        }
    }

    /// The variables it names, each once, in order.
    public var variables: [String] {
        var seen: Set<String> = []
        return pieces.compactMap { piece in
            guard case .variable(let name) = piece, seen.insert(name).inserted else { return nil }
            return name
        }
    }

    /// The text with each place filled from `values`: a string as it is, anything else as its JSON. A value is
    /// never read for places itself. Throws the first missing variable's name.
    public func render(_ values: JSONObject?) throws(MissingVariable) -> String {
        // Joined as bytes: one allocation, not one per piece.
        var result: [UInt8] = []
        result.reserveCapacity(source.utf8.count + 64)
        for piece in pieces {
            switch piece {
            case .text(let text): result.append(contentsOf: text.utf8)
            case .variable(let name):
                switch values?[name] {
                case nil, .null?: throw MissingVariable(name: name)
                case .string(let text)?: result.append(contentsOf: text.utf8)
                case let value?: value.encode(into: &result)
                }
            }
        }
        return String(decoding: result, as: UTF8.self)
    }

    /// A variable the template names and the request did not give.
    public struct MissingVariable: Error, Equatable {
        /// Its name.
        public let name: String
    }
}

/// One version of a feature's prompt: a system prompt and a user message template.
public struct PromptVersion: Sendable, Equatable {
    /// The feature's slug.
    public var slug: String
    /// The version, from 1.
    public var version: Int
    /// The system prompt, when there is one.
    public var system: PromptText?
    /// The user message, when there is one.
    public var user: PromptText?

    /// A version.
    public init(slug: String, version: Int, system: PromptText?, user: PromptText?) {
        self.slug = slug
        self.version = version
        self.system = system
        self.user = user
    }

    /// Reads a stored or posted body: `system` and `user` (LiteLLM's `prompt` is taken as the user template).
    public static func read(slug: String, version: Int, _ object: JSONObject) -> Result<PromptVersion, RuntimeEntryError> {
        var problems: [String] = []
        func text(_ key: String) -> PromptText? {
            switch object[key] {
            case nil, .null?: return nil
            case .string(let text)?: return PromptText(text)
            default:
                problems.append("'\(key)' must be a string")
                return nil
            }
        }
        let system = text("system")
        let user = text("user") ?? text("prompt")
        if system == nil, user == nil { problems.append("a prompt needs 'system' or 'user' text") }
        let allowed: Set<String> = ["slug", "version", "system", "user", "prompt", "activate"]
        for key in object.keys where !allowed.contains(key) {
            problems.append("unknown key '\(key)' (known: \(allowed.sorted().joined(separator: ", ")))")
        }
        guard problems.isEmpty else { return .failure(RuntimeEntryError(problems)) }
        return .success(PromptVersion(slug: slug, version: version, system: system, user: user))
    }

    /// The body it is kept as.
    public var json: JSONObject {
        var object: JSONObject = ["slug": .string(slug), "version": .int(version)]
        if let system { object["system"] = .string(system.source) }
        if let user { object["user"] = .string(user.source) }
        return object
    }
}

/// Why a run-time entry was refused: one line per problem.
public struct RuntimeEntryError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The problems.
    public let problems: [String]

    /// An error of problems.
    public init(_ problems: [String]) { self.problems = problems }

    /// The problems on one line.
    public var description: String { problems.joined(separator: "; ") }
}
