import NIOCore
import SwitchyardCore

/// Finds the top-level `usage` object in a response without parsing the whole body.
enum UsageScanner {
    /// The usage of an answer held in a buffer, read in place: the object's bytes are read directly when they
    /// are plain JSON (the usual case), else parsed.
    static func read(in buffer: ByteBuffer, completionIncludesReasoning: Bool) -> Usage? {
        buffer.withUnsafeReadableBytes { raw in
            let bytes = UnsafeBufferPointer(start: raw.baseAddress?.assumingMemoryBound(to: UInt8.self), count: raw.count)
            guard let start = objectStart(in: bytes) else { return nil }
            // Read from its opening brace; the reader finds the end itself.
            if let usage = Usage.read(
                object: UnsafeBufferPointer(rebasing: bytes[start...]), completionIncludesReasoning: completionIncludesReasoning,
                allowingTrailingBytes: true)
            {
                return usage
            }
            guard let end = matchingBrace(bytes, from: start) else { return nil }
            return Usage(
                json: try? JSONParser.parse(array: Array(bytes[start...end])),
                completionIncludesReasoning: completionIncludesReasoning)
        }
    }

    /// The `usage` object of an answer held in a buffer, parsed.
    static func usage(in buffer: ByteBuffer) -> JSONValue? {
        buffer.withUnsafeReadableBytes { raw in
            usage(in: UnsafeBufferPointer(start: raw.baseAddress?.assumingMemoryBound(to: UInt8.self), count: raw.count))
        }
    }

    /// The `usage` object of an answer held in an array, parsed.
    static func usage(in bytes: [UInt8]) -> JSONValue? {
        bytes.withUnsafeBufferPointer { usage(in: $0) }
    }

    /// The value after the last unescaped `"usage":` in `bytes`, parsed; nil when there is none.
    static func usage(in bytes: UnsafeBufferPointer<UInt8>) -> JSONValue? {
        guard let range = objectRange(in: bytes) else { return nil }
        return try? JSONParser.parse(array: Array(bytes[range]))
    }

    /// Where the object after the last unescaped `"usage":` in `bytes` lies; nil when there is none (or the
    /// value is not an object, or it does not end).
    static func objectRange(in bytes: UnsafeBufferPointer<UInt8>) -> ClosedRange<Int>? {
        guard let start = objectStart(in: bytes), let end = matchingBrace(bytes, from: start) else { return nil }
        return start...end
    }

    /// Where the value after the last unescaped `"usage":` in `bytes` opens, when it is an object. Read from the
    /// end, eight places at a time (`ByteScan`): the usage object is near the end of an answer.
    static func objectStart(in bytes: UnsafeBufferPointer<UInt8>) -> Int? {
        let length = 7  // `"usage"`
        guard bytes.count > length, let base = bytes.baseAddress else { return nil }
        /// nil: not here, keep looking; .some(nil): here, but its value is not an object.
        func valueStart(at index: Int) -> Int?? {
            guard matches(bytes, at: index, "\"usage\""), index == 0 || bytes[index - 1] != UInt8(ascii: "\\") else { return nil }
            var position = index + length
            while position < bytes.count, bytes[position] == UInt8(ascii: " ") { position += 1 }
            guard position < bytes.count, bytes[position] == UInt8(ascii: ":") else { return nil }
            position += 1
            while position < bytes.count, bytes[position] == UInt8(ascii: " ") { position += 1 }
            guard position < bytes.count, bytes[position] == UInt8(ascii: "{") else { return .some(nil) }
            return position
        }
        // The places a `"usage"` can start, from the last down; those whose 14 bytes fit are read by words.
        var index = bytes.count - length
        while index >= 0, index + 14 > bytes.count {
            if let found = valueStart(at: index) { return found }
            index -= 1
        }
        while index >= 7 {
            let start = index - 7
            var candidates = ByteScan.quotedFiveLetterCandidates(base + start)
            while candidates != 0 {
                let place = start + (63 - candidates.leadingZeroBitCount) / 8
                if let found = valueStart(at: place) { return found }
                candidates &= ~(UInt64(0x80) << (8 * UInt64(place - start)))
            }
            index = start - 1
        }
        while index >= 0 {
            if let found = valueStart(at: index) { return found }
            index -= 1
        }
        return nil
    }

    /// Whether `needle` starts at `index` in `bytes` (which has room for it).
    private static func matches(_ bytes: UnsafeBufferPointer<UInt8>, at index: Int, _ needle: StaticString) -> Bool {
        needle.withUTF8Buffer { pattern in
            for offset in 0..<pattern.count where bytes[index + offset] != pattern[offset] { return false }
            return true
        }
    }

    /// The index of the `}` closing the object that opens at `start`, skipping strings.
    static func matchingBrace(_ bytes: UnsafeBufferPointer<UInt8>, from start: Int) -> Int? {
        var depth = 0
        var index = start
        var inString = false
        while index < bytes.count {
            let byte = bytes[index]
            if inString {
                if byte == UInt8(ascii: "\\") {
                    index += 2
                    continue
                }
                if byte == UInt8(ascii: "\"") { inString = false }
            } else if byte == UInt8(ascii: "\"") {
                inString = true
            } else if byte == UInt8(ascii: "{") {
                depth += 1
            } else if byte == UInt8(ascii: "}") {
                depth -= 1
                if depth == 0 { return index }
            }
            index += 1
        }
        return nil
    }
}
