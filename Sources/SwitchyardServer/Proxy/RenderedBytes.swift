import NIOCore

/// Writes bytes into raw memory of a known size, for heads rendered in one go: each `ByteBuffer.writeString`
/// costs a few hundred instructions (capacity, uniqueness and exclusivity checks), and a head is thirty of them.
/// Once the room runs out nothing more is written and `fits` is false; the caller grows the room and tries again.
struct RawByteWriter {
    private let base: UnsafeMutableRawPointer?
    private let room: Int
    private(set) var count = 0
    private(set) var fits = true

    init(_ memory: UnsafeMutableRawBufferPointer) {
        base = memory.baseAddress
        room = memory.count
    }

    mutating func add(_ text: StaticString) {
        add(UnsafeRawBufferPointer(start: text.utf8Start, count: text.utf8CodeUnitCount))
    }

    mutating func add(string text: String) {
        var text = text
        text.withUTF8 { add(UnsafeRawBufferPointer($0)) }
    }

    /// Adds `text`; false (and nothing added) when it holds CR, LF or NUL, which would end a header line.
    mutating func addChecked(_ text: String) -> Bool {
        var text = text
        return text.withUTF8 { utf8 in
            guard Self.isLineSafe(utf8) else { return false }
            add(UnsafeRawBufferPointer(utf8))
            return true
        }
    }

    /// Adds a header line, `name: value` and CRLF, as they are.
    mutating func addField(_ name: String, _ value: String) {
        _ = addField(name, value, checked: false)
    }

    /// Adds a header line; false (and nothing added) when the name or value holds CR, LF or NUL.
    mutating func addCheckedField(_ name: String, _ value: String) -> Bool {
        addField(name, value, checked: true)
    }

    private mutating func addField(_ name: String, _ value: String, checked: Bool) -> Bool {
        var name = name
        var value = value
        return name.withUTF8 { name in
            value.withUTF8 { value in
                if checked, !Self.isLineSafe(name) || !Self.isLineSafe(value) { return false }
                let size = name.count + value.count + 4
                guard fits, let base, count + size <= room else {
                    fits = false
                    return true
                }
                var at = base + count
                if let source = name.baseAddress { at.copyMemory(from: source, byteCount: name.count) }
                at += name.count
                at.storeBytes(of: UInt8(ascii: ":"), as: UInt8.self)
                (at + 1).storeBytes(of: UInt8(ascii: " "), as: UInt8.self)
                at += 2
                if let source = value.baseAddress { at.copyMemory(from: source, byteCount: value.count) }
                at += value.count
                at.storeBytes(of: UInt8(ascii: "\r"), as: UInt8.self)
                (at + 1).storeBytes(of: UInt8(ascii: "\n"), as: UInt8.self)
                count += size
                return true
            }
        }
    }

    /// Whether `bytes` hold no CR, LF or NUL.
    private static func isLineSafe(_ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        for byte in bytes where byte == 0x0D || byte == 0x0A || byte == 0 { return false }
        return true
    }

    mutating func add(_ bytes: UnsafeRawBufferPointer) {
        guard fits, let base, count + bytes.count <= room else {
            fits = fits && bytes.isEmpty
            return
        }
        if let source = bytes.baseAddress { (base + count).copyMemory(from: source, byteCount: bytes.count) }
        count += bytes.count
    }

    /// Adds a decimal number.
    mutating func add(decimal value: Int) {
        var digits: (UInt64, UInt64, UInt64) = (0, 0, 0)  // 24 bytes: room for any Int
        withUnsafeMutableBytes(of: &digits) { scratch in
            var magnitude = value.magnitude
            var index = scratch.count
            repeat {
                index -= 1
                scratch[index] = UInt8(ascii: "0") + UInt8(magnitude % 10)
                magnitude /= 10
            } while magnitude > 0
            if value < 0 {
                index -= 1
                scratch[index] = UInt8(ascii: "-")
            }
            add(UnsafeRawBufferPointer(rebasing: scratch[index...]))
        }
    }
}

extension ByteBuffer {
    /// Appends what `render` writes, in one write to the buffer's memory: `estimate` bytes of room first, twice
    /// as much each time that was not enough. `render` may run more than once and must write the same each time;
    /// when it throws, nothing is appended.
    mutating func writeRendered<Result, Failure: Error>(
        estimate: Int, _ render: (inout RawByteWriter) throws(Failure) -> Result
    ) throws(Failure) -> Result {
        var room = Swift.max(estimate, 64)
        while true {
            var outcome: Result?
            var failure: Failure?
            writeWithUnsafeMutableBytes(minimumWritableBytes: room) { memory in
                var writer = RawByteWriter(memory)
                do throws(Failure) {
                    let result = try render(&writer)
                    guard writer.fits else { return 0 }
                    outcome = result
                    return writer.count
                } catch {
                    failure = error
                    return 0
                }
            }
            if let failure { throw failure }
            if let outcome { return outcome }
            room *= 2
        }
    }
}
