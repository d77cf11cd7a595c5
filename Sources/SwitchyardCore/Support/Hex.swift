/// Lowercase hex and random ids, built by hand: Foundation's formatting and `UUID().uuidString` cost
/// microseconds on Linux, and they run on every request.
public enum Hex {
    private static let digits = Array("0123456789abcdef".utf8)

    /// Lowercase hex of bytes. Inlinable so the copy of `bytes` is specialized where it is called (generic
    /// code called across modules reads a sequence one witness call per byte).
    @inlinable
    public static func lowercase<Bytes: Sequence>(_ bytes: Bytes) -> String where Bytes.Element == UInt8 {
        lowercase(array: Array(bytes))
    }

    /// Lowercase hex of the bytes of an array.
    public static func lowercase(array bytes: [UInt8]) -> String {
        bytes.withUnsafeBytes { lowercase(buffer: $0) }
    }

    /// Lowercase hex of bytes in memory, written straight into the string's storage (a key's or a request's digest,
    /// on every request with storage on).
    public static func lowercase(buffer bytes: UnsafeRawBufferPointer) -> String {
        String(unsafeUninitializedCapacity: bytes.count * 2) { out in
            var position = 0
            for byte in bytes {
                out[position] = digit(byte >> 4)
                out[position + 1] = digit(byte & 0x0f)
                position += 2
            }
            return position
        }
    }

    /// The lowercase hex digit of a value under 16.
    @inline(__always)
    static func digit(_ value: UInt8) -> UInt8 {
        value < 10 ? UInt8(ascii: "0") + value : UInt8(ascii: "a") - 10 + value
    }

    /// A random (version 4) UUID in lowercase, e.g. `0f8e2c1a-6b4d-4e2f-9a31-5c7d8e9f0a1b`.
    /// 32 random lowercase hex digits (128 bits from the pooled generator), for ids such as `resp_...`.
    public static func random128() -> String {
        var generator = PooledRandomGenerator()
        var words: (UInt64, UInt64) = (generator.next(), generator.next())
        return withUnsafeBytes(of: &words) { lowercase(buffer: $0) }
    }

    public static func uuid() -> String {
        var generator = PooledRandomGenerator()
        var high = generator.next() as UInt64
        var low = generator.next() as UInt64
        high = (high & ~0xF000) | 0x4000  // version 4
        low = (low & ~(0xC000 << 48)) | (0x8000 << 48)  // RFC 4122 variant
        var out = [UInt8](repeating: UInt8(ascii: "-"), count: 36)
        var position = 0
        for (index, shift) in stride(from: 60, through: 0, by: -4).enumerated() {
            if index == 8 || index == 12 { position += 1 }
            out[position] = digits[Int((high >> UInt64(shift)) & 0xF)]
            position += 1
        }
        for (index, shift) in stride(from: 60, through: 0, by: -4).enumerated() {
            if index == 0 || index == 4 { position += 1 }
            out[position] = digits[Int((low >> UInt64(shift)) & 0xF)]
            position += 1
        }
        return String(decoding: out, as: UTF8.self)
    }
}
