import Foundation

/// A JSON document held as a value: objects keep their key order, numbers keep their text.
///
/// Keeping number text means a request is re-encoded byte-faithfully (no `0.1` turning into
/// `0.10000000000000001`), and keeping key order keeps forwarded bodies stable and diffable.
public enum JSONValue: Sendable, Equatable {
    case null
    case bool(Bool)
    case number(String)
    case string(String)
    case array([JSONValue])
    case object(JSONObject)

    /// The value as a string, when it is one.
    public var stringValue: String? {
        if case .string(let value) = self { return value }
        return nil
    }

    /// The value as a boolean, when it is one.
    public var boolValue: Bool? {
        if case .bool(let value) = self { return value }
        return nil
    }

    /// The value as an integer, when it is a number without fraction.
    public var intValue: Int? {
        if case .number(let text) = self { return Int(text) ?? Double(text).flatMap { Int(exactly: $0) } }
        return nil
    }

    /// The value as a double, when it is a number.
    public var doubleValue: Double? {
        if case .number(let text) = self { return Double(text) }
        return nil
    }

    /// The value as an object, when it is one.
    public var objectValue: JSONObject? {
        if case .object(let value) = self { return value }
        return nil
    }

    /// The value as an array, when it is one.
    public var arrayValue: [JSONValue]? {
        if case .array(let value) = self { return value }
        return nil
    }

    /// A number value from an integer.
    public static func int(_ value: Int) -> JSONValue { .number(String(value)) }

    /// A number value from a double.
    public static func double(_ value: Double) -> JSONValue {
        if value.isFinite, value == value.rounded(), abs(value) < 1e15 { return .number(String(Int(value))) }
        if value.isFinite, abs(value) < 1e-4, value != 0 {
            // Swift prints 2e-07; JSON allows it, but keep prices readable and exact to 12 significant digits.
            return .number(String(format: "%.12g", value))
        }
        return .number(value.isFinite ? String(value) : "0")
    }

    /// The JSON name of this value's type, for error messages.
    public var typeName: String {
        switch self {
        case .null: "null"
        case .bool: "boolean"
        case .number: "number"
        case .string: "string"
        case .array: "array"
        case .object: "object"
        }
    }
}

/// A JSON object that keeps its keys in document order.
///
/// Members are found by a linear search while the object is small (most request objects have a handful of
/// members, and a search beats hashing there); an object with more than ``indexThreshold`` members keeps a
/// hash index from key to position as well, so reading, parsing and changing a large object stay linear in
/// its size (a body with 200,000 keys once took 41 s to parse). Swift's string hashing is seeded per process,
/// so a client cannot choose keys that collide.
public struct JSONObject: Sendable, Equatable, Sequence {
    /// The members in order.
    public private(set) var members: [(key: String, value: JSONValue)]

    /// For an object parsed as a whole document: the document's bytes and, per member, where its text
    /// (`"key":value`) lies in them while the member is unchanged (nil once it is set). Encoding copies such a
    /// member's text instead of encoding its value again: a request relayed with only its `model` replaced is
    /// mostly copied. Members are only ever changed through `subscript` and `removeValue`, which keep this in step.
    private var source: ParsedSource?

    /// Key -> position of its first member, kept once the object has more than `indexThreshold` members.
    private var index: [String: Int]?

    /// Objects with more members than this are indexed.
    static let indexThreshold = 16

    struct ParsedSource: Sendable {
        var bytes: [UInt8]
        var ranges: [Range<Int>?]
    }

    /// An object from ordered members.
    public init(_ members: [(key: String, value: JSONValue)] = []) {
        self.members = members
        if members.count > Self.indexThreshold { rebuildIndex() }
    }

    /// The position of the first member named `key`, and how many keys were compared to find it (a hash
    /// lookup counts as one).
    private func position(of key: String) -> (position: Int?, comparisons: Int) {
        if let index { return (index[key], 1) }
        // Keys are compared by length first: most members of an object differ in length.
        let length = key.utf8.count
        for (position, member) in members.enumerated() where member.key.utf8.count == length && member.key == key {
            return (position, position + 1)
        }
        return (nil, members.count)
    }

    private mutating func rebuildIndex() {
        var index: [String: Int] = [:]
        index.reserveCapacity(members.count)
        for (position, member) in members.enumerated() where index[member.key] == nil { index[member.key] = position }
        self.index = index
    }

    private mutating func append(_ key: String, _ value: JSONValue) {
        members.append((key, value))
        source?.ranges.append(nil)
        if index != nil {
            index?[key] = members.count - 1
        } else if members.count > Self.indexThreshold {
            rebuildIndex()
        }
    }

    private mutating func remove(at position: Int) -> JSONValue {
        source?.ranges.remove(at: position)
        let removed = members.remove(at: position).value
        if index != nil { rebuildIndex() }
        return removed
    }

    /// The member named `key`, or nil; setting nil removes it.
    public subscript(key: String) -> JSONValue? {
        get {
            guard let position = position(of: key).position else { return nil }
            return members[position].value
        }
        set {
            if let position = position(of: key).position {
                if let newValue {
                    members[position].value = newValue
                    source?.ranges[position] = nil
                } else {
                    _ = remove(at: position)
                }
            } else if let newValue {
                append(key, newValue)
            }
        }
    }

    /// Adds a member as the parser reads it: a repeated key replaces the earlier value (the last one wins, as
    /// in most parsers). Returns how many keys were compared, for the parser's linearity check.
    mutating func parsedMember(_ key: String, _ value: JSONValue) -> Int {
        let (position, comparisons) = position(of: key)
        if let position {
            members[position].value = value
        } else {
            append(key, value)
        }
        return comparisons
    }

    /// Whether the object keeps a hash index of its keys.
    var isIndexed: Bool { index != nil }

    /// Keeps where each member's text lies in `document` (`texts`, one per member, in order).
    mutating func keepText(_ texts: [Range<Int>?], of document: [UInt8]) {
        source = ParsedSource(bytes: document, ranges: texts)
    }

    /// The object without its parsed text: every member is encoded from its value.
    func forgettingSource() -> JSONObject {
        var object = self
        object.source = nil
        return object
    }

    /// Sets a member together with its text (`"key":value`, compact and valid: the caller wrote it), which encoding
    /// copies as it copies a parsed member's: a member made on the request path (a feature's messages) is written
    /// once, not built and then encoded again.
    public mutating func set(_ key: String, _ value: JSONValue, text: [UInt8]) {
        self[key] = value
        guard let position = position(of: key).position else { return }
        var kept = source ?? ParsedSource(bytes: [], ranges: Array(repeating: nil, count: members.count))
        source = nil  // `kept` is the only reference: the append below does not copy the document.
        let start = kept.bytes.count
        kept.bytes.append(contentsOf: text)
        kept.ranges[position] = start..<kept.bytes.count
        source = kept
    }

    /// The text of a member's value as it was parsed (between the colon and the member's end), when it has not
    /// changed since.
    public func parsedValueText(of key: String) -> ArraySlice<UInt8>? {
        guard let position = position(of: key).position, let text = parsedText(at: position) else { return nil }
        // Past the key's string (escapes skipped), the colon and any space.
        var index = text.startIndex
        guard index < text.endIndex, text[index] == UInt8(ascii: "\"") else { return nil }
        index += 1
        while index < text.endIndex, text[index] != UInt8(ascii: "\"") {
            index += text[index] == UInt8(ascii: "\\") ? 2 : 1
        }
        index += 1
        while index < text.endIndex, [0x20, 0x09, 0x0A, 0x0D, UInt8(ascii: ":")].contains(text[index]) { index += 1 }
        return index < text.endIndex ? text[index...] : nil
    }

    /// The text of the member at `index` as it was parsed, when it has not changed since.
    func parsedText(at index: Int) -> ArraySlice<UInt8>? {
        guard let source, let range = source.ranges[index] else { return nil }
        return source.bytes[range]
    }

    /// Whether the object has no members.
    public var isEmpty: Bool { members.isEmpty }

    /// The member names in order.
    public var keys: [String] { members.map(\.key) }

    /// Removes a member and returns its value.
    @discardableResult
    public mutating func removeValue(forKey key: String) -> JSONValue? {
        guard let position = position(of: key).position else { return nil }
        return remove(at: position)
    }

    /// Iterates the members in order.
    public func makeIterator() -> IndexingIterator<[(key: String, value: JSONValue)]> {
        members.makeIterator()
    }

    /// Objects are equal when they have the same members, in any order.
    public static func == (lhs: JSONObject, rhs: JSONObject) -> Bool {
        guard lhs.members.count == rhs.members.count else { return false }
        return lhs.members.allSatisfy { member in rhs[member.key] == member.value }
    }
}

extension JSONObject: ExpressibleByDictionaryLiteral {
    /// An object from a literal, keeping the literal's order.
    public init(dictionaryLiteral elements: (String, JSONValue)...) {
        self.init(elements.map { (key: $0.0, value: $0.1) })
    }
}

extension JSONValue: ExpressibleByFloatLiteral, ExpressibleByArrayLiteral {
    /// A number value from a literal.
    public init(floatLiteral value: Double) { self = .number(String(value)) }
    /// An array value from a literal.
    public init(arrayLiteral elements: JSONValue...) { self = .array(elements) }
}

extension JSONValue: ExpressibleByStringLiteral, ExpressibleByBooleanLiteral, ExpressibleByIntegerLiteral {
    /// A string value from a literal.
    public init(stringLiteral value: String) { self = .string(value) }
    /// A boolean value from a literal.
    public init(booleanLiteral value: Bool) { self = .bool(value) }
    /// A number value from a literal.
    public init(integerLiteral value: Int) { self = .number(String(value)) }
}
