/// A cursor over the bytes of one JSON document, for readers that want a few of its fields without building the
/// value (`Usage.read`, `ModelTurn(chatBytes:)`, `JSONByteReader.topLevelString`): it reads members, numbers and
/// strings and skips the rest, checking the structure as it goes (false or nil from any step means the bytes are not
/// plain JSON, and the caller parses them instead). Linear in the bytes; nesting is bounded.
public struct JSONByteReader {
    let bytes: UnsafeBufferPointer<UInt8>
    var index = 0

    init(bytes: UnsafeBufferPointer<UInt8>) {
        self.bytes = bytes
    }

    var atEnd: Bool {
        var probe = self
        probe.skipSpace()
        return probe.index == bytes.count
    }

    mutating func skipSpace() {
        while index < bytes.count {
            switch bytes[index] {
            case 0x20, 0x0A, 0x0D, 0x09: index += 1
            default: return
            }
        }
    }

    /// Whether the next byte (after white space) is `byte`; consumed when it is.
    mutating func take(_ byte: UInt8) -> Bool {
        skipSpace()
        guard index < bytes.count, bytes[index] == byte else { return false }
        index += 1
        return true
    }

    /// Reads `{ "key": value, ... }`, calling `member` with each key's range; `member` reads or skips the value.
    mutating func members(_ member: (inout JSONByteReader, Range<Int>) -> Bool) -> Bool {
        guard take(UInt8(ascii: "{")) else { return false }
        if take(UInt8(ascii: "}")) { return true }
        while true {
            guard let key = plainKey(), take(UInt8(ascii: ":")) else { return false }
            skipSpace()
            guard member(&self, key) else { return false }
            if take(UInt8(ascii: ",")) { continue }
            return take(UInt8(ascii: "}"))
        }
    }

    /// A key without escapes (nil for one with any, which the caller leaves to the parser).
    mutating func plainKey() -> Range<Int>? {
        guard take(UInt8(ascii: "\"")) else { return nil }
        let start = index
        index = JSONStringScan.plainRun(in: bytes, from: index).end
        guard index < bytes.count, bytes[index] == UInt8(ascii: "\"") else { return nil }
        index += 1
        return start..<(index - 1)
    }

    func keyIs(_ key: Range<Int>, _ name: StaticString) -> Bool {
        guard key.count == name.utf8CodeUnitCount else { return false }
        return name.withUTF8Buffer { letters in
            for offset in 0..<letters.count where bytes[key.lowerBound + offset] != letters[offset] { return false }
            return true
        }
    }

    /// The range of a JSON number at the cursor (consumed), or nil when there is none.
    mutating func number() -> Range<Int>? {
        let start = index
        func digits() -> Bool {
            let first = index
            while index < bytes.count, bytes[index] >= UInt8(ascii: "0"), bytes[index] <= UInt8(ascii: "9") { index += 1 }
            return index > first
        }
        if index < bytes.count, bytes[index] == UInt8(ascii: "-") { index += 1 }
        let integerStart = index
        guard digits() else { return nil }
        if bytes[integerStart] == UInt8(ascii: "0"), index - integerStart > 1 { return nil }
        if index < bytes.count, bytes[index] == UInt8(ascii: ".") {
            index += 1
            guard digits() else { return nil }
        }
        if index < bytes.count, bytes[index] == UInt8(ascii: "e") || bytes[index] == UInt8(ascii: "E") {
            index += 1
            if index < bytes.count, bytes[index] == UInt8(ascii: "+") || bytes[index] == UInt8(ascii: "-") { index += 1 }
            guard digits() else { return nil }
        }
        return start..<index
    }

    /// An integer value into `slot` (nil for a value that is not an integer, as `JSONValue.intValue` has it).
    mutating func integer(into slot: inout Int?) -> Bool {
        numberValue(into: &slot) { bytes, range in Self.integer(bytes, range) }
    }

    /// A number value into `slot` (nil for a value that is not a number).
    mutating func double(into slot: inout Double?) -> Bool {
        numberValue(into: &slot) { bytes, range in
            Double(String(decoding: UnsafeBufferPointer(rebasing: bytes[range]), as: UTF8.self))
        }
    }

    /// A value read by `convert` when it is a number; any other value is skipped and leaves `slot` nil.
    private mutating func numberValue<Value>(
        into slot: inout Value?, _ convert: (UnsafeBufferPointer<UInt8>, Range<Int>) -> Value?
    ) -> Bool {
        let start = index
        guard let range = number() else {
            slot = nil
            index = start
            return skipValue(depth: 0)
        }
        slot = convert(bytes, range)
        return true
    }

    /// The integer member `name` of an object value into `slot`; any other value leaves `slot` nil.
    mutating func detail(_ name: StaticString, into slot: inout Int?) -> Bool {
        skipSpace()
        slot = nil
        guard index < bytes.count, bytes[index] == UInt8(ascii: "{") else { return skipValue(depth: 0) }
        var found: Int?
        let read = members { reader, key in
            reader.keyIs(key, name) ? reader.integer(into: &found) : reader.skipValue(depth: 1)
        }
        slot = found
        return read
    }

    /// A string value at the cursor into `slot` (consumed, escapes decoded as the parser decodes them); any other
    /// value is skipped and leaves `slot` nil, as `JSONValue.stringValue` reads it.
    mutating func string(into slot: inout String?) -> Bool {
        skipSpace()
        slot = nil
        guard index < bytes.count, bytes[index] == UInt8(ascii: "\"") else { return skipValue(depth: 0) }
        let start = index
        guard let escaped = skipString() else { return false }
        if escaped {
            slot = (try? JSONParser.parse(array: Array(bytes[start..<index])))?.stringValue
            return slot != nil
        }
        slot = String(decoding: UnsafeBufferPointer(rebasing: bytes[(start + 1)..<(index - 1)]), as: UTF8.self)
        return true
    }

    /// Skips the string at the cursor (its opening quote), checking its escapes; whether it had any, or nil when it is
    /// not well formed.
    mutating func skipString() -> Bool? {
        index += 1
        var escaped = false
        while index < bytes.count {
            index = JSONStringScan.plainRun(in: bytes, from: index).end
            guard index < bytes.count else { return nil }
            let byte = bytes[index]
            if byte == UInt8(ascii: "\"") {
                index += 1
                return escaped
            }
            if byte < 0x20 { return nil }
            if byte == UInt8(ascii: "\\") {
                guard escape() else { return nil }
                escaped = true
            } else {
                index += 1
            }
        }
        return nil
    }

    /// The range of the value at the cursor (consumed), or nil when it is not well formed.
    mutating func valueRange(depth: Int) -> Range<Int>? {
        skipSpace()
        let start = index
        guard skipValue(depth: depth) else { return nil }
        return start..<index
    }

    /// Reads `[ value, ... ]`, calling `element` with each element's position; `element` reads or skips it.
    mutating func elements(_ element: (inout JSONByteReader, Int) -> Bool) -> Bool {
        guard take(UInt8(ascii: "[")) else { return false }
        if take(UInt8(ascii: "]")) { return true }
        var position = 0
        while true {
            skipSpace()
            guard element(&self, position) else { return false }
            position += 1
            if take(UInt8(ascii: ",")) { continue }
            return take(UInt8(ascii: "]"))
        }
    }

    /// Whether the value at the cursor (after white space) starts with `byte`, not consuming it.
    mutating func peek(_ byte: UInt8) -> Bool {
        skipSpace()
        return index < bytes.count && bytes[index] == byte
    }

    /// The string member `name` of the object `bytes` hold, read without parsing the rest (a Responses answer's
    /// `id`); nil when there is none, or the bytes are not plainly one object (the caller may parse them then).
    public static func topLevelString(_ name: StaticString, in bytes: UnsafeBufferPointer<UInt8>) -> String? {
        var reader = JSONByteReader(bytes: bytes)
        var found: String?
        let read = reader.members { reader, key in
            reader.keyIs(key, name) ? reader.string(into: &found) : reader.skipValue(depth: 1)
        }
        guard read, reader.atEnd else { return nil }
        return found
    }

    /// A Responses API event's top-level `type`, and whether it has a top-level `error` that is not null, read
    /// without parsing the rest (an event's `response` envelope, which holds an `"error": null` of its own, is
    /// skipped); nil when the bytes are not plainly one object.
    public static func responsesEventKind(in bytes: UnsafeBufferPointer<UInt8>) -> (type: String?, hasError: Bool)? {
        var reader = JSONByteReader(bytes: bytes)
        var type: String?
        var hasError = false
        let read = reader.members { reader, key in
            if reader.keyIs(key, "type") { return reader.string(into: &type) }
            guard reader.keyIs(key, "error") else { return reader.skipValue(depth: 1) }
            hasError = !reader.literal("null")
            return hasError ? reader.skipValue(depth: 1) : true
        }
        guard read, reader.atEnd else { return nil }
        return (type, hasError)
    }

    /// Skips one value of any kind, checking its structure; nesting is bounded.
    mutating func skipValue(depth: Int) -> Bool {
        skipSpace()
        guard index < bytes.count, depth < 64 else { return false }
        switch bytes[index] {
        case UInt8(ascii: "\""):
            return skipString() != nil
        case UInt8(ascii: "{"):
            return members { reader, _ in reader.skipValue(depth: depth + 1) }
        case UInt8(ascii: "["):
            index += 1
            if take(UInt8(ascii: "]")) { return true }
            while true {
                guard skipValue(depth: depth + 1) else { return false }
                if take(UInt8(ascii: ",")) { continue }
                return take(UInt8(ascii: "]"))
            }
        case UInt8(ascii: "t"): return literal("true")
        case UInt8(ascii: "f"): return literal("false")
        case UInt8(ascii: "n"): return literal("null")
        default: return number() != nil
        }
    }

    /// Skips a valid escape at the cursor (the backslash and what it escapes); a `\u` escape of a surrogate must be
    /// a high one followed by a low one, as the parser has it.
    mutating func escape() -> Bool {
        guard index + 1 < bytes.count else { return false }
        switch bytes[index + 1] {
        case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"), UInt8(ascii: "b"), UInt8(ascii: "f"),
            UInt8(ascii: "n"), UInt8(ascii: "r"), UInt8(ascii: "t"):
            index += 2
            return true
        case UInt8(ascii: "u"):
            guard let code = unicodeEscape() else { return false }
            if (0xDC00...0xDFFF).contains(code) { return false }
            guard (0xD800...0xDBFF).contains(code) else { return true }
            guard let low = unicodeEscape(), (0xDC00...0xDFFF).contains(low) else { return false }
            return true
        default: return false
        }
    }

    /// The code unit of a `\uXXXX` escape at the cursor (consumed), or nil when there is none.
    private mutating func unicodeEscape() -> UInt32? {
        guard index + 5 < bytes.count, bytes[index] == UInt8(ascii: "\\"), bytes[index + 1] == UInt8(ascii: "u") else {
            return nil
        }
        var code: UInt32 = 0
        for offset in 2...5 {
            let byte = bytes[index + offset]
            let digit: UInt8
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = byte - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = byte - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = byte - UInt8(ascii: "A") + 10
            default: return nil
            }
            code = code << 4 | UInt32(digit)
        }
        index += 6
        return code
    }

    mutating func literal(_ word: StaticString) -> Bool {
        let count = word.utf8CodeUnitCount
        guard index + count <= bytes.count, keyIs(index..<(index + count), word) else { return false }
        index += count
        return true
    }

    /// The integer a number's text denotes, as `JSONValue.intValue` reads it: plain digits directly, any other
    /// form (a fraction, an exponent, too many digits) through `Double` when it is whole.
    static func integer(_ bytes: UnsafeBufferPointer<UInt8>, _ range: Range<Int>) -> Int? {
        var value = 0
        var position = range.lowerBound
        let negative = bytes[position] == UInt8(ascii: "-")
        if negative { position += 1 }
        if range.upperBound - position <= 18 {
            var plain = true
            while position < range.upperBound {
                let byte = bytes[position]
                guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") else {
                    plain = false
                    break
                }
                value = value * 10 + Int(byte - UInt8(ascii: "0"))
                position += 1
            }
            if plain { return negative ? -value : value }
        }
        let text = String(decoding: UnsafeBufferPointer(rebasing: bytes[range]), as: UTF8.self)
        return Int(text) ?? Double(text).flatMap { Int(exactly: $0) }
    }
}
