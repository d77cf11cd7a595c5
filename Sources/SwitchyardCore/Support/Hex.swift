/// Lowercase hex and random ids, built by hand: Foundation's formatting and `UUID().uuidString` cost
/// microseconds on Linux, and they run on every request.
public enum Hex {
    private static let digits = Array("0123456789abcdef".utf8)

    /// Lowercase hex of bytes.
    public static func lowercase<Bytes: Sequence>(_ bytes: Bytes) -> String where Bytes.Element == UInt8 {
        var out: [UInt8] = []
        out.reserveCapacity(64)
        for byte in bytes {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 0x0f)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// A random (version 4) UUID in lowercase, e.g. `0f8e2c1a-6b4d-4e2f-9a31-5c7d8e9f0a1b`.
    public static func uuid() -> String {
        var generator = SystemRandomNumberGenerator()
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
