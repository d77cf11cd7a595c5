#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Cuts a byte stream into whole Server-Sent Events, keeping each event's bytes exactly as received.
///
/// Chunk boundaries mean nothing: a partial event waits in the buffer until its blank line arrives.
/// Events end at `\n\n`, `\r\n\r\n` or `\r\r`. The buffer is bounded: an event larger than
/// `maxEventBytes` is an error, so a hostile upstream cannot grow memory without limit.
public struct SSEEventSplitter: Sendable {
    /// Largest single event accepted.
    public let maxEventBytes: Int
    @usableFromInline var buffer: [UInt8] = []
    private var scanned = 0

    /// An event over the size limit.
    public struct EventTooLarge: Error, Sendable {
        /// The limit that was exceeded.
        public let limit: Int
    }

    /// Creates a splitter.
    public init(maxEventBytes: Int = 4 * 1024 * 1024) {
        self.maxEventBytes = maxEventBytes
    }

    /// Bytes received but not yet part of a whole event.
    public var pendingByteCount: Int { buffer.count }

    /// Whether the pending bytes hold anything but white space.
    public var hasPendingContent: Bool {
        buffer.contains { $0 != UInt8(ascii: "\n") && $0 != UInt8(ascii: "\r") && $0 != UInt8(ascii: " ") }
    }

    /// Adds bytes and returns every event they complete, each with its terminating blank line.
    ///
    /// Inlinable so the copy of `bytes` is specialized where it is called; the scan is not generic.
    @inlinable
    public mutating func append(_ bytes: some Collection<UInt8>) throws(EventTooLarge) -> [[UInt8]] {
        buffer.append(contentsOf: bytes)
        return try splitBuffered()
    }

    /// Calls `body` with each whole event that `bytes` complete, terminating blank line included (the pointer is
    /// valid only during the call). When nothing is pending, events are read in place from `bytes` and only an
    /// unfinished tail is kept: no copy and no array per event, as a relay sees most chunks.
    public mutating func forEachEvent(
        in bytes: UnsafeRawBufferPointer, _ body: (UnsafeBufferPointer<UInt8>) -> Void
    ) throws(EventTooLarge) {
        guard buffer.isEmpty else {
            buffer.append(contentsOf: bytes)
            for event in try splitBuffered() { event.withUnsafeBufferPointer(body) }
            return
        }
        let input = UnsafeBufferPointer(start: bytes.baseAddress?.assumingMemoryBound(to: UInt8.self), count: bytes.count)
        var start = 0
        var index = 0
        if let base = bytes.baseAddress, memchr(base, Int32(UInt8(ascii: "\r")), bytes.count) == nil {
            // No CR (the usual stream): events end at `\n\n` only, and line feeds are found by `memchr`.
            while index < input.count, let found = memchr(base + index, Int32(UInt8(ascii: "\n")), input.count - index) {
                let newline = base.distance(to: UnsafeRawPointer(found))
                index = newline + 1
                guard index < input.count, input[index] == UInt8(ascii: "\n") else { continue }
                index += 1
                body(UnsafeBufferPointer(rebasing: input[start..<index]))
                start = index
            }
            index = input.count
        }
        while index < input.count {
            let byte = input[index]
            if byte <= UInt8(ascii: "\r"), byte == UInt8(ascii: "\n") || byte == UInt8(ascii: "\r"),
                let end = Self.eventEnd(input, newlineAt: index)
            {
                body(UnsafeBufferPointer(rebasing: input[start..<end]))
                start = end
                index = end
                continue
            }
            index += 1
        }
        guard start < input.count else { return }
        buffer.append(contentsOf: UnsafeBufferPointer(rebasing: input[start...]))
        scanned = max(0, buffer.count - 3)
        if buffer.count > maxEventBytes { throw EventTooLarge(limit: maxEventBytes) }
    }

    /// Cuts every whole event off the front of the buffer.
    @usableFromInline
    mutating func splitBuffered() throws(EventTooLarge) -> [[UInt8]] {
        let from = max(scanned, 0)
        let (events, start) = buffer.withUnsafeBufferPointer { bytes -> ([[UInt8]], Int) in
            var events: [[UInt8]] = []
            var start = 0
            var index = from
            while index < bytes.count {
                let byte = bytes[index]
                // One comparison rules out all but control bytes.
                if byte <= UInt8(ascii: "\r"), byte == UInt8(ascii: "\n") || byte == UInt8(ascii: "\r"),
                    let end = Self.eventEnd(bytes, newlineAt: index)
                {
                    events.append(Array(bytes[start..<end]))
                    start = end
                    index = end
                    continue
                }
                index += 1
            }
            return (events, start)
        }
        if start > 0 { buffer.removeFirst(start) }
        // Re-scan the last few bytes next time: a terminator may straddle chunks.
        scanned = max(0, buffer.count - 3)
        if buffer.count > maxEventBytes { throw EventTooLarge(limit: maxEventBytes) }
        return events
    }

    /// The end index of an event whose terminator starts at `index`, or nil.
    private static func eventEnd(_ bytes: UnsafeBufferPointer<UInt8>, newlineAt index: Int) -> Int? {
        let lf = UInt8(ascii: "\n")
        let cr = UInt8(ascii: "\r")
        let count = bytes.count
        if bytes[index] == lf {
            if index + 1 < count, bytes[index + 1] == lf { return index + 2 }
            if index + 2 < count, bytes[index + 1] == cr, bytes[index + 2] == lf { return index + 3 }
            return nil
        }
        // CR
        if index + 1 < count, bytes[index + 1] == lf {
            if index + 3 < count, bytes[index + 2] == cr, bytes[index + 3] == lf { return index + 4 }
            if index + 2 < count, bytes[index + 2] == lf { return index + 3 }
            return nil
        }
        if index + 1 < count, bytes[index + 1] == cr { return index + 2 }
        return nil
    }

    /// Takes whatever is left when the stream ends (an unterminated last event), clearing the buffer.
    public mutating func drain() -> [UInt8] {
        defer {
            buffer.removeAll()
            scanned = 0
        }
        return buffer
    }
}

/// What one SSE event is, from its field lines.
public struct SSEEvent: Sendable, Equatable {
    /// The joined `data:` lines, or nil when the event has none.
    public let data: [UInt8]?
    /// Whether the event has only `:` comment lines.
    public let isCommentOnly: Bool

    /// Parses one event's bytes (as produced by ``SSEEventSplitter``).
    public init(bytes: [UInt8]) {
        var data: [UInt8]?
        var sawField = false
        var lineStart = 0
        var index = 0
        func handleLine(_ line: ArraySlice<UInt8>) {
            guard !line.isEmpty else { return }
            if line.first == UInt8(ascii: ":") { return }
            sawField = true
            var name = line[...]
            var value: ArraySlice<UInt8> = []
            if let colon = line.firstIndex(of: UInt8(ascii: ":")) {
                name = line[line.startIndex..<colon]
                value = line[(colon + 1)...]
                if value.first == UInt8(ascii: " ") { value = value.dropFirst() }
            }
            if name.elementsEqual("data".utf8) {
                if data == nil { data = Array(value) } else { data?.append(UInt8(ascii: "\n")); data?.append(contentsOf: value) }
            }
        }
        bytes.withUnsafeBufferPointer { buffer in
            while index < buffer.count {
                let byte = buffer[index]
                // One comparison rules out all but control bytes.
                if byte <= UInt8(ascii: "\r"), byte == UInt8(ascii: "\n") || byte == UInt8(ascii: "\r") {
                    handleLine(bytes[lineStart..<index])
                    if byte == UInt8(ascii: "\r"), index + 1 < buffer.count, buffer[index + 1] == UInt8(ascii: "\n") {
                        index += 1
                    }
                    lineStart = index + 1
                }
                index += 1
            }
        }
        if lineStart < bytes.count { handleLine(bytes[lineStart..<bytes.count]) }
        self.data = data
        self.isCommentOnly = !sawField
    }

    /// Whether the data is the `[DONE]` sentinel.
    public var isDone: Bool {
        guard let data else { return false }
        return data.elementsEqual("[DONE]".utf8)
    }
}

extension Collection<UInt8> {
    /// Whether these bytes contain `needle` (a short ASCII marker).
    ///
    /// Inlinable so the call site gets a specialized copy: the generic version, called across modules,
    /// went through witness tables and a heap-allocated coroutine frame for every byte it read (about
    /// 250,000 instructions per SSE event, measured with callgrind).
    @inlinable
    public func containsBytes(_ needle: StaticString) -> Bool {
        needle.withUTF8Buffer { pattern in
            if let found = withContiguousStorageIfAvailable({ ByteSearch.contains($0, pattern) }) { return found }
            return Array(self).withUnsafeBufferPointer { ByteSearch.contains($0, pattern) }
        }
    }
}

/// Byte-level search over contiguous memory.
public enum ByteSearch {
    /// Whether `haystack` contains `needle` (an empty needle is never found). A plain loop: `memchr` hopping
    /// between the first byte's places measured slower on JSON, where the markers start with a quote.
    public static func contains(_ haystack: UnsafeBufferPointer<UInt8>, _ needle: UnsafeBufferPointer<UInt8>) -> Bool {
        guard let first = needle.first, haystack.count >= needle.count else { return false }
        let last = haystack.count - needle.count
        var index = 0
        while index <= last {
            if haystack[index] == first {
                var offset = 1
                while offset < needle.count, haystack[index + offset] == needle[offset] { offset += 1 }
                if offset == needle.count { return true }
            }
            index += 1
        }
        return false
    }
}
