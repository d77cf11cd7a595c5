/// Where JSON text is written: a byte array, or a `JSONWriter`'s buffer. The encoder is generic over it, so each
/// kind of output gets its own specialized code.
public protocol JSONByteSink: ~Copyable {
    /// Appends one byte.
    mutating func append(_ byte: UInt8)
    /// Appends bytes.
    mutating func append(bytes: UnsafeRawBufferPointer)
}

extension JSONByteSink where Self: ~Copyable {
    /// Appends a literal's bytes.
    @inlinable
    public mutating func append(static text: StaticString) {
        text.withUTF8Buffer { append(bytes: UnsafeRawBufferPointer($0)) }
    }
}

extension Array: JSONByteSink where Element == UInt8 {
    /// Appends bytes.
    @inlinable
    public mutating func append(bytes: UnsafeRawBufferPointer) { append(contentsOf: bytes) }
}

extension JSONValue {
    /// The compact JSON text of this value as UTF-8 bytes; `capacity` is a hint of its size (a request's own
    /// size, say), which spares the copies of a growing buffer.
    public func encodedBytes(capacity: Int = 256) -> [UInt8] {
        var output: [UInt8] = []
        output.reserveCapacity(capacity)
        encode(into: &output)
        return output
    }

    /// The compact JSON text of this value.
    public func encodedString() -> String {
        String(decoding: encodedBytes(), as: UTF8.self)
    }

    /// Appends the compact JSON text of this value to `output`.
    public func encode<Sink: JSONByteSink & ~Copyable>(into output: inout Sink) {
        switch self {
        case .null: output.append(static: "null")
        case .bool(let value): value ? output.append(static: "true") : output.append(static: "false")
        case .number(let text):
            var text = text
            text.withUTF8 { output.append(bytes: UnsafeRawBufferPointer($0)) }
        case .string(let text): Self.encodeString(text, into: &output)
        case .array(let values):
            output.append(UInt8(ascii: "["))
            for (position, value) in values.enumerated() {
                if position > 0 { output.append(UInt8(ascii: ",")) }
                value.encode(into: &output)
            }
            output.append(UInt8(ascii: "]"))
        case .object(let object):
            output.append(UInt8(ascii: "{"))
            for (position, member) in object.members.enumerated() {
                if position > 0 { output.append(UInt8(ascii: ",")) }
                // A member unchanged since the document was parsed is its text again.
                if let text = object.parsedText(at: position) {
                    text.withUnsafeBytes { output.append(bytes: $0) }
                    continue
                }
                Self.encodeString(member.key, into: &output)
                output.append(UInt8(ascii: ":"))
                member.value.encode(into: &output)
            }
            output.append(UInt8(ascii: "}"))
        }
    }

    /// Appends `text` as a quoted, escaped JSON string. Runs of bytes that need no escape are copied whole.
    public static func encodeString<Sink: JSONByteSink & ~Copyable>(_ text: String, into output: inout Sink) {
        output.append(UInt8(ascii: "\""))
        var text = text
        text.withUTF8 { bytes in
            var runStart = 0
            while true {
                // Plain bytes are found eight at a time and copied as one run.
                let position = JSONStringScan.plainRun(in: bytes, from: runStart).end
                if runStart < position {
                    output.append(bytes: UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer(bytes)[runStart..<position]))
                }
                guard position < bytes.count else { break }
                let byte = bytes[position]
                runStart = position + 1
                output.append(UInt8(ascii: "\\"))
                switch byte {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"): output.append(byte)
                case 0x0A: output.append(UInt8(ascii: "n"))
                case 0x0D: output.append(UInt8(ascii: "r"))
                case 0x09: output.append(UInt8(ascii: "t"))
                default:
                    output.append(static: "u00")
                    output.append(hexDigit(byte >> 4))
                    output.append(hexDigit(byte & 0x0F))
                }
            }
        }
        output.append(UInt8(ascii: "\""))
    }

    private static func hexDigit(_ nibble: UInt8) -> UInt8 {
        nibble < 10 ? UInt8(ascii: "0") + nibble : UInt8(ascii: "a") + nibble - 10
    }

    /// A JSON string literal for `text`, quotes included.
    public static func quoted(_ text: String) -> String {
        var output: [UInt8] = []
        encodeString(text, into: &output)
        return String(decoding: output, as: UTF8.self)
    }
}
