/// Seeded random edits of bytes, for tests that throw mangled requests and answers at the proxy: the same
/// edits every run.
struct Mangler {
    private var state: UInt64

    init(seed: UInt64) { state = seed }

    /// The next number of a linear congruential sequence (its high bits).
    mutating func next() -> UInt64 {
        state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
        return state >> 29
    }

    /// Edits `bytes` one to `maxEdits` times at random places: a byte replaced by one of `alphabet`, dropped or
    /// duplicated.
    mutating func mangle(_ bytes: inout [UInt8], maxEdits: UInt64 = 3, alphabet: [UInt8]) {
        for _ in 0..<(1 + next() % maxEdits) where !bytes.isEmpty {
            let position = Int(next() % UInt64(bytes.count))
            switch next() % 3 {
            case 0: bytes[position] = alphabet[Int(next() % UInt64(alphabet.count))]
            case 1: bytes.remove(at: position)
            default: bytes.insert(bytes[position], at: position)
            }
        }
    }
}
