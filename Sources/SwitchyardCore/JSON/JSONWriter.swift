/// Writes JSON text straight into bytes, for answers the proxy makes itself on the request path (a translated
/// response is ~30 members): no `JSONObject` is built, hashed and encoded again, and a key is one copy of a static
/// `"key":`. Commas are placed by the writer; the caller opens and closes what it writes, in order.
///
/// Values from a client or an upstream (`value(_:)`, `string(_:)`) are escaped as `JSONValue` encodes them, so the
/// text is always valid JSON; a test parses what each writer makes.
public struct JSONWriter: JSONByteSink, ~Copyable {
    /// The memory written into, owned by the writer (not copyable: a copy could outlive a growth of the other).
    /// Its address, length and room are the writer's own fields, so a write is a bounds check and a store (an
    /// `Array` append cost ~100 instructions).
    private var base: UnsafeMutablePointer<UInt8>
    private var count = 0
    private var capacity: Int
    /// Whether the next member or element is the first of its container (no comma before it).
    private var first = true

    /// A writer with room for `capacity` bytes (it grows as needed).
    public init(capacity: Int = 1024) {
        let capacity = max(capacity, 16)
        base = .allocate(capacity: capacity)
        self.capacity = capacity
    }

    deinit { base.deallocate() }

    /// The text so far.
    public var bytes: [UInt8] { Array(UnsafeBufferPointer(start: base, count: count)) }

    /// Calls `body` with the text so far, without copying it.
    public func withBytes<Result>(_ body: (UnsafeRawBufferPointer) throws -> Result) rethrows -> Result {
        try body(UnsafeRawBufferPointer(start: base, count: count))
    }

    @inline(__always)
    private mutating func reserve(_ extra: Int) {
        if count + extra > capacity { grow(extra) }
    }

    private mutating func grow(_ extra: Int) {
        let newCapacity = max(capacity * 2, count + extra)
        let grown = UnsafeMutablePointer<UInt8>.allocate(capacity: newCapacity)
        grown.update(from: base, count: count)
        base.deallocate()
        base = grown
        capacity = newCapacity
    }

    /// Appends one byte (`JSONByteSink`).
    @inline(__always)
    public mutating func append(_ byte: UInt8) {
        reserve(1)
        base[count] = byte
        count += 1
    }

    /// Appends bytes (`JSONByteSink`).
    @inline(__always)
    public mutating func append(bytes: UnsafeRawBufferPointer) {
        guard let source = bytes.baseAddress, !bytes.isEmpty else { return }
        reserve(bytes.count)
        UnsafeMutableRawPointer(base + count).copyMemory(from: source, byteCount: bytes.count)
        count += bytes.count
    }

    /// Opens an object (as a value: after `key(_:)`, in an array, or at the top).
    public mutating func beginObject() {
        separate()
        append(UInt8(ascii: "{"))
        first = true
    }

    /// Closes the object opened last.
    public mutating func endObject() {
        append(UInt8(ascii: "}"))
        first = false
    }

    /// Opens an array.
    public mutating func beginArray() {
        separate()
        append(UInt8(ascii: "["))
        first = true
    }

    /// Closes the array opened last.
    public mutating func endArray() {
        append(UInt8(ascii: "]"))
        first = false
    }

    /// A member's key, quoted and followed by `:`; its value comes next. `key` must need no escaping. Written in
    /// one go: keys are most of what a rendered answer's writer writes.
    public mutating func key(_ key: StaticString) {
        let length = key.utf8CodeUnitCount
        reserve(length + 4)
        if !first {
            base[count] = UInt8(ascii: ",")
            count += 1
        }
        first = true
        base[count] = UInt8(ascii: "\"")
        UnsafeMutableRawPointer(base + count + 1).copyMemory(from: key.utf8Start, byteCount: length)
        base[count + 1 + length] = UInt8(ascii: "\"")
        base[count + 2 + length] = UInt8(ascii: ":")
        count += length + 3
    }

    /// A string made of a fixed prefix and a part that needs no escaping (an id: `resp_` and hex digits).
    public mutating func string(prefix: StaticString, _ plain: String) {
        separate()
        append(UInt8(ascii: "\""))
        append(static: prefix)
        var plain = plain
        plain.withUTF8 { append(bytes: UnsafeRawBufferPointer($0)) }
        append(UInt8(ascii: "\""))
    }

    /// A string value.
    public mutating func string(_ text: String) {
        separate()
        JSONValue.encodeString(text, into: &self)
    }

    /// A string value, or `null`.
    public mutating func string(orNull text: String?) {
        if let text { string(text) } else { literal("null") }
    }

    /// An integer value (its digits written here: `String(value)` was most of the cost of a usage object).
    public mutating func int(_ value: Int) {
        separate()
        reserve(21)
        if value >= 0, value < 10 {
            base[count] = UInt8(ascii: "0") + UInt8(value)
            count += 1
            return
        }
        var digits = 0
        var rest = value.magnitude
        repeat {
            digits += 1
            rest /= 10
        } while rest > 0
        if value < 0 {
            base[count] = UInt8(ascii: "-")
            count += 1
        }
        rest = value.magnitude
        for position in stride(from: count + digits - 1, through: count, by: -1) {
            base[position] = UInt8(ascii: "0") + UInt8(rest % 10)
            rest /= 10
        }
        count += digits
    }

    /// A literal piece of JSON (`null`, `true`, `[]`, `{"type":"text"}`): one whole value.
    public mutating func literal(_ json: StaticString) {
        separate()
        append(static: json)
    }

    /// Any value, encoded.
    public mutating func value(_ value: JSONValue) {
        separate()
        value.encode(into: &self)
    }

    /// A value, or `literal` (the API's default) when there is none.
    public mutating func value(_ value: JSONValue?, orLiteral literal: StaticString) {
        if let value { self.value(value) } else { self.literal(literal) }
    }

    /// The text of one whole value already encoded (`raw` must be valid JSON).
    public mutating func encoded(_ raw: some Collection<UInt8>) {
        separate()
        for byte in raw { append(byte) }
    }

    /// A comma before an element that follows another (a member's value follows its key with none).
    @inline(__always)
    private mutating func separate() {
        if !first { append(UInt8(ascii: ",")) }
        first = false
    }
}
