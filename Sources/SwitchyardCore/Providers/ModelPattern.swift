/// A model-name pattern: exact text, or a `*` wildcard anywhere (`grok-4*`, `*-non-reasoning`).
public struct ModelPattern: Sendable, Equatable, CustomStringConvertible, ExpressibleByStringLiteral {
    /// The pattern text.
    public let text: String
    private let parts: [Substring]

    /// Creates a pattern.
    public init(_ text: String) {
        self.text = text
        self.parts = text.lowercased().split(separator: "*", omittingEmptySubsequences: false)
    }

    /// Creates a pattern from a literal.
    public init(stringLiteral value: String) { self.init(value) }

    /// Whether `model` matches, ignoring case.
    public func matches(_ model: String) -> Bool {
        let name = model.lowercased()
        guard parts.count > 1 else { return name == text.lowercased() }
        guard let first = parts.first, let last = parts.last, name.hasPrefix(first) else { return false }
        var rest = name.dropFirst(first.count)
        for middle in parts.dropFirst().dropLast() where !middle.isEmpty {
            guard let range = rest.range(of: middle) else { return false }
            rest = rest[range.upperBound...]
        }
        return rest.hasSuffix(last) && rest.count >= last.count
    }

    /// The pattern text.
    public var description: String { text }
}
