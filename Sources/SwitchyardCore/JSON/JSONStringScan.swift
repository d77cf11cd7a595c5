/// Finds where a run of string bytes that JSON leaves as they are ends (a quote, a backslash or a control byte),
/// eight bytes at a time: the encoder, the parser and the byte reader spend most of their time in string text.
enum JSONStringScan {
    /// The index of the first byte at or after `start` that is a quote, a backslash or below 0x20 (`buffer.count`
    /// when there is none), and whether the bytes before it hold any byte outside ASCII.
    static func plainRun(in buffer: UnsafeBufferPointer<UInt8>, from start: Int) -> (end: Int, nonASCII: Bool) {
        guard let base = buffer.baseAddress else { return (start, false) }
        var position = start
        var high: UInt64 = 0
        while position + 8 <= buffer.count {
            let word = UInt64(littleEndian: UnsafeRawPointer(base + position).loadUnaligned(as: UInt64.self))
            if needsEscape(word) != 0 { break }
            high |= word
            position += 8
        }
        var seen: UInt8 = 0
        while position < buffer.count {
            let byte = buffer[position]
            if byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") || byte < 0x20 { break }
            seen |= byte
            position += 1
        }
        return (position, seen >= 0x80 || high & 0x8080_8080_8080_8080 != 0)
    }

    /// Nonzero when a byte of `word` is a quote, a backslash or below 0x20 (the high bit of such a byte is set; a
    /// byte above a real one may be marked too, which only matters to callers that look for the place).
    @inline(__always)
    static func needsEscape(_ word: UInt64) -> UInt64 {
        let ones: UInt64 = 0x0101_0101_0101_0101
        let highs: UInt64 = 0x8080_8080_8080_8080
        let quotes = word ^ (ones &* 0x22)
        let backslashes = word ^ (ones &* 0x5C)
        // A byte below n makes `byte - n` borrow into its high bit (for bytes below 0x80: the `& ~word`).
        let control = (word &- ones &* 0x20) & ~word
        let quote = (quotes &- ones) & ~quotes
        let backslash = (backslashes &- ones) & ~backslashes
        return (control | quote | backslash) & highs
    }
}
