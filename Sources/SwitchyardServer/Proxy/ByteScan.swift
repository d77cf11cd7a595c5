/// Word-at-a-time byte scans for the markers the relay looks for in JSON it does not parse.
enum ByteScan {
    /// The places among `start[0..<8]` that may start a quoted five-letter word (`"usage"`, `"error"`): a word
    /// with the high bit of byte i set when `start[i]` and `start[i + 6]` may both be quotes (a few false
    /// positives are possible: the caller checks the bytes themselves). Reads 14 bytes from `start`.
    static func quotedFiveLetterCandidates(_ start: UnsafePointer<UInt8>) -> UInt64 {
        // Byte i of the words is the byte at start + i (and start + 6 + i).
        let here = UInt64(littleEndian: UnsafeRawPointer(start).loadUnaligned(as: UInt64.self))
        let later = UInt64(littleEndian: UnsafeRawPointer(start + 6).loadUnaligned(as: UInt64.self))
        return quoteBytes(here) & quoteBytes(later)
    }

    /// A word with the high bit of each byte set where `word` has a quote (and maybe of a byte above one).
    private static func quoteBytes(_ word: UInt64) -> UInt64 {
        let zeroWhereQuote = word ^ 0x2222_2222_2222_2222
        return (zeroWhereQuote &- 0x0101_0101_0101_0101) & ~zeroWhereQuote & 0x8080_8080_8080_8080
    }
}
