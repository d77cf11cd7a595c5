/// Writes JSON text straight into bytes, for answers the proxy makes itself on the request path (a translated
/// response is ~30 members): no `JSONObject` is built, hashed and encoded again, and a key is one copy of a static
/// `"key":`. Commas are placed by the writer; the caller opens and closes what it writes, in order.
///
/// Values from a client or an upstream (`value(_:)`, `string(_:)`) are escaped as `JSONValue` encodes them, so the
/// text is always valid JSON; a test parses what each writer makes.
public struct JSONWriter: Sendable {
    /// The text so far.
    public private(set) var bytes: [UInt8]
    /// Whether the next member or element is the first of its container (no comma before it).
    private var first = true

    /// A writer with room for `capacity` bytes.
    public init(capacity: Int = 1024) {
        bytes = []
        bytes.reserveCapacity(capacity)
    }

    /// Opens an object (as a value: after `key(_:)`, in an array, or at the top).
    public mutating func beginObject() {
        separate()
        bytes.append(UInt8(ascii: "{"))
        first = true
    }

    /// Closes the object opened last.
    public mutating func endObject() {
        bytes.append(UInt8(ascii: "}"))
        first = false
    }

    /// Opens an array.
    public mutating func beginArray() {
        separate()
        bytes.append(UInt8(ascii: "["))
        first = true
    }

    /// Closes the array opened last.
    public mutating func endArray() {
        bytes.append(UInt8(ascii: "]"))
        first = false
    }

    /// A member's key, quoted and followed by `:`; its value comes next. `key` must need no escaping (at most 60
    /// bytes). Written with one append: a key is most of what a rendered answer's writer does.
    public mutating func key(_ key: StaticString) {
        let comma = !first
        first = true
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 64) { scratch in
            var count = 0
            if comma {
                scratch[0] = UInt8(ascii: ",")
                count = 1
            }
            scratch[count] = UInt8(ascii: "\"")
            count += 1
            key.withUTF8Buffer { name in
                assert(name.count <= 60, "a key of at most 60 bytes")
                for byte in name.prefix(60) {
                    scratch[count] = byte
                    count += 1
                }
            }
            scratch[count] = UInt8(ascii: "\"")
            scratch[count + 1] = UInt8(ascii: ":")
            bytes.append(contentsOf: UnsafeBufferPointer(rebasing: scratch[..<(count + 2)]))
        }
    }

    /// A string made of a fixed prefix and a part that needs no escaping (an id: `resp_` and hex digits).
    public mutating func string(prefix: StaticString, _ plain: String) {
        separate()
        bytes.append(UInt8(ascii: "\""))
        prefix.withUTF8Buffer { bytes.append(contentsOf: $0) }
        bytes.append(contentsOf: plain.utf8)
        bytes.append(UInt8(ascii: "\""))
    }

    /// A string value.
    public mutating func string(_ text: String) {
        separate()
        JSONValue.encodeString(text, into: &bytes)
    }

    /// A string value, or `null`.
    public mutating func string(orNull text: String?) {
        if let text { string(text) } else { literal("null") }
    }

    /// An integer value (its digits written here: `String(value)` was most of the cost of a usage object).
    public mutating func int(_ value: Int) {
        separate()
        if value >= 0, value < 10 { return bytes.append(UInt8(ascii: "0") + UInt8(value)) }
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 24) { scratch in
            var position = 24
            var rest = value.magnitude
            repeat {
                position -= 1
                scratch[position] = UInt8(ascii: "0") + UInt8(rest % 10)
                rest /= 10
            } while rest > 0
            if value < 0 {
                position -= 1
                scratch[position] = UInt8(ascii: "-")
            }
            bytes.append(contentsOf: UnsafeBufferPointer(rebasing: scratch[position...]))
        }
    }

    /// A literal piece of JSON (`null`, `true`, `[]`, `{"type":"text"}`): one whole value.
    public mutating func literal(_ json: StaticString) {
        separate()
        json.withUTF8Buffer { bytes.append(contentsOf: $0) }
    }

    /// Any value, encoded.
    public mutating func value(_ value: JSONValue) {
        separate()
        value.encode(into: &bytes)
    }

    /// A value, or `literal` (the API's default) when there is none.
    public mutating func value(_ value: JSONValue?, orLiteral literal: StaticString) {
        if let value { self.value(value) } else { self.literal(literal) }
    }

    /// The text of one whole value already encoded (`raw` must be valid JSON).
    public mutating func encoded(_ raw: some Collection<UInt8>) {
        separate()
        bytes.append(contentsOf: raw)
    }

    /// A comma before an element that follows another (a member's value follows its key with none).
    private mutating func separate() {
        if !first { bytes.append(UInt8(ascii: ",")) }
        first = false
    }
}
