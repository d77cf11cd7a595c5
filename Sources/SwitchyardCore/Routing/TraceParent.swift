import Foundation

/// A W3C `traceparent` header (`00-<trace id>-<parent id>-<flags>`), continued across the proxy: the trace id and
/// flags are kept, the parent id becomes the proxy's own span.
public struct TraceParent: Sendable, Equatable {
    /// 32 lower-case hex digits, not all zero.
    public let traceID: String
    /// 16 lower-case hex digits, not all zero.
    public let parentID: String
    /// 2 hex digits.
    public let flags: String

    /// Parses a header value; nil when it is not a valid version-00 traceparent.
    public init?(header: String) {
        let parts = header.trimmingCharacters(in: .whitespaces).split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count >= 4, parts[0].count == 2, parts[0] != "ff", Self.isHex(parts[0]),
            parts[0] != "00" || parts.count == 4,
            parts[1].count == 32, Self.isHex(parts[1]), parts[1].contains(where: { $0 != "0" }),
            parts[2].count == 16, Self.isHex(parts[2]), parts[2].contains(where: { $0 != "0" }),
            parts[3].count == 2, Self.isHex(parts[3])
        else { return nil }
        traceID = String(parts[1])
        parentID = String(parts[2])
        flags = String(parts[3])
    }

    /// A traceparent.
    public init(traceID: String, parentID: String, flags: String) {
        self.traceID = traceID
        self.parentID = parentID
        self.flags = flags
    }

    static func isHex(_ text: Substring) -> Bool {
        text.utf8.allSatisfy { ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x61 && $0 <= 0x66) }
    }

    /// The same trace and flags with a new, random parent id: the proxy's span.
    public func continued() -> TraceParent {
        var generator = PooledRandomGenerator()
        let id = String(UInt64.random(in: 1...UInt64.max, using: &generator), radix: 16)
        return TraceParent(traceID: traceID, parentID: String(repeating: "0", count: 16 - id.count) + id, flags: flags)
    }

    /// The header value.
    public var header: String { "00-\(traceID)-\(parentID)-\(flags)" }
}
