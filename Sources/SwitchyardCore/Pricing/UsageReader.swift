extension Usage {
    /// Reads a `usage` object straight from its bytes, as `init(json:completionIncludesReasoning:)` reads the
    /// parsed value (the last of repeated keys wins; a field that is not an integer counts as absent), without
    /// building the value: parsing it made a string of every key and a value of every member, and this runs on
    /// every answer. Nil when the bytes are not plainly one JSON object (a key with an escape, anything
    /// malformed): the caller then parses them and reads the value. With `allowingTrailingBytes`, the object
    /// is read from the start of `bytes` and whatever follows its end is left alone.
    public static func read(
        object bytes: UnsafeBufferPointer<UInt8>, completionIncludesReasoning: Bool, allowingTrailingBytes: Bool = false
    ) -> Usage? {
        var reader = UsageBytesReader(bytes: bytes)
        var prompt: Int?
        var input: Int?
        var completion: Int?
        var output: Int?
        var reasoning: Int?
        var cached: Int?
        var ticks: Double?
        let complete = reader.members { reader, key in
            if reader.keyIs(key, "prompt_tokens") { return reader.integer(into: &prompt) }
            if reader.keyIs(key, "completion_tokens") { return reader.integer(into: &completion) }
            if reader.keyIs(key, "input_tokens") { return reader.integer(into: &input) }
            if reader.keyIs(key, "output_tokens") { return reader.integer(into: &output) }
            if reader.keyIs(key, "cost_in_usd_ticks") { return reader.double(into: &ticks) }
            if reader.keyIs(key, "completion_tokens_details") { return reader.detail("reasoning_tokens", into: &reasoning) }
            if reader.keyIs(key, "prompt_tokens_details") { return reader.detail("cached_tokens", into: &cached) }
            if reader.keyIs(key, "output_tokens_details") { return reader.detail("reasoning_tokens", into: &reasoning) }
            if reader.keyIs(key, "input_tokens_details") { return reader.detail("cached_tokens", into: &cached) }
            return reader.skipValue(depth: 0)
        }
        guard complete, allowingTrailingBytes || reader.atEnd else { return nil }
        let reasoningTokens = reasoning ?? 0
        let completionTokens = completion ?? output ?? 0
        // The Responses API's `output_tokens` counts reasoning, whoever serves it.
        let includesReasoning = completionIncludesReasoning || (completion == nil && output != nil)
        return Usage(
            promptTokens: prompt ?? input ?? 0,
            completionTokens: includesReasoning ? max(0, completionTokens - reasoningTokens) : completionTokens,
            reasoningTokens: reasoningTokens, cachedTokens: cached ?? 0, upstreamCostUSD: ticks.map { $0 / 10_000_000_000 })
    }
}

/// A cursor over the bytes of one JSON object, for `Usage.read`: it reads members and numbers and skips the
/// rest, checking the structure as it goes (false from any step means the bytes are not plain JSON).
private struct UsageBytesReader {
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
    mutating func members(_ member: (inout UsageBytesReader, Range<Int>) -> Bool) -> Bool {
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
        while index < bytes.count {
            let byte = bytes[index]
            if byte == UInt8(ascii: "\"") {
                index += 1
                return start..<(index - 1)
            }
            if byte == UInt8(ascii: "\\") || byte < 0x20 { return nil }
            index += 1
        }
        return nil
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

    /// Skips one value of any kind, checking its structure; nesting is bounded.
    mutating func skipValue(depth: Int) -> Bool {
        skipSpace()
        guard index < bytes.count, depth < 64 else { return false }
        switch bytes[index] {
        case UInt8(ascii: "\""):
            index += 1
            while index < bytes.count {
                let byte = bytes[index]
                if byte == UInt8(ascii: "\"") {
                    index += 1
                    return true
                }
                if byte < 0x20 { return false }
                if byte == UInt8(ascii: "\\") {
                    guard escape() else { return false }
                } else {
                    index += 1
                }
            }
            return false
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

    /// Skips a valid escape at the cursor (the backslash and what it escapes).
    mutating func escape() -> Bool {
        guard index + 1 < bytes.count else { return false }
        switch bytes[index + 1] {
        case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"), UInt8(ascii: "b"), UInt8(ascii: "f"),
            UInt8(ascii: "n"), UInt8(ascii: "r"), UInt8(ascii: "t"):
            index += 2
            return true
        case UInt8(ascii: "u"):
            guard index + 5 < bytes.count else { return false }
            for offset in 2...5 {
                switch bytes[index + offset] {
                case UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "a")...UInt8(ascii: "f"),
                    UInt8(ascii: "A")...UInt8(ascii: "F"):
                    continue
                default: return false
                }
            }
            index += 6
            return true
        default: return false
        }
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
