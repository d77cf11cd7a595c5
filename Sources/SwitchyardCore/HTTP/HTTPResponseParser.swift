#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// An HTTP/1.1 response parser (RFC 9112) fed bytes as they arrive, in pieces of any size.
///
/// It reports a response as its parts: the head, the body's bytes (unframed: chunk sizes and the chunked
/// encoding's line endings removed) and the end. Interim `1xx` responses are skipped. It is strict where leniency
/// hides a broken or hostile peer: bare LF line endings, folded header lines, a `Content-Length` together with a
/// `Transfer-Encoding`, differing lengths and malformed chunk sizes are errors, never guesses.
///
/// After an error the parser stays failed. After a response's end it expects the next response's head.
public struct HTTPResponseParser: Sendable {
    /// How a response's body is delimited.
    public enum Framing: Sendable, Equatable {
        /// No body (`204`, `304`, or the answer to a `HEAD`).
        case none
        /// `Content-Length` bytes.
        case length(Int)
        /// `Transfer-Encoding: chunked`.
        case chunked
        /// Everything until the connection closes.
        case untilClose
    }

    /// One header field as sent (name in the case the peer used).
    public struct Field: Sendable, Equatable {
        /// The field's name.
        public let name: String
        /// The value, without surrounding whitespace.
        public let value: String

        /// Creates a field.
        public init(name: String, value: String) {
            self.name = name
            self.value = value
        }
    }

    /// A head's fields, kept as the head's bytes and where each name and value lies in them: a field becomes
    /// strings only when asked for, and a lookup by name compares bytes.
    public struct Fields: Sendable, Equatable, RandomAccessCollection {
        private let bytes: [UInt8]
        /// Name start, name end, value start, value end, per field.
        private let bounds: [Int32]

        init(bytes: [UInt8], bounds: [Int32]) {
            self.bytes = bytes
            self.bounds = bounds
        }

        /// No fields.
        public init() {
            self.init(bytes: [], bounds: [])
        }

        public var startIndex: Int { 0 }
        public var endIndex: Int { bounds.count / 4 }

        public subscript(position: Int) -> Field {
            Field(name: string(bounds[4 * position], bounds[4 * position + 1]), value: value(at: position))
        }

        /// The value of the field at `position`.
        public func value(at position: Int) -> String {
            string(bounds[4 * position + 2], bounds[4 * position + 3])
        }

        /// The value of the first field named `name` (ASCII case-insensitive), if any.
        public func value(of name: String) -> String? {
            firstIndex(named: name).map(value(at:))
        }

        /// Calls `body` with each field's name and value as bytes, in order (valid only during the call): a
        /// caller that wants a few fields makes strings of those only.
        public func forEachField(_ body: (_ name: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer) -> Void) {
            bytes.withUnsafeBytes { raw in
                for at in stride(from: 0, to: bounds.count, by: 4) {
                    body(
                        UnsafeRawBufferPointer(rebasing: raw[range(at)]),
                        UnsafeRawBufferPointer(rebasing: raw[range(at + 2)]))
                }
            }
        }

        private func firstIndex(named name: String) -> Int? {
            var name = name
            return name.withUTF8 { wanted in
                bytes.withUnsafeBytes { raw in
                    indices.first { position in
                        let candidate = range(4 * position)
                        guard candidate.count == wanted.count else { return false }
                        return zip(raw[candidate], wanted).allSatisfy {
                            HTTPResponseParser.foldCase($0) == HTTPResponseParser.foldCase($1)
                        }
                    }
                }
            }
        }

        private func range(_ at: Int) -> Range<Int> { Int(bounds[at])..<Int(bounds[at + 1]) }

        private func string(_ start: Int32, _ end: Int32) -> String {
            String(decoding: bytes[Int(start)..<Int(end)], as: UTF8.self)
        }

        public static func == (lhs: Fields, rhs: Fields) -> Bool {
            lhs.elementsEqual(rhs)
        }
    }

    /// A response's status line and fields.
    public struct Head: Sendable, Equatable {
        /// The status code.
        public var status: Int
        /// `1` for HTTP/1.1, `0` for HTTP/1.0.
        public var minorVersion: Int
        /// The fields, in order (empty when the parser was made not to keep them).
        public var fields: Fields
        /// How the body is delimited.
        public var framing: Framing
        /// Whether the connection can carry another request after this response.
        public var keepAlive: Bool

        /// The value of the first field named `name` (ASCII case-insensitive), if any.
        public func value(of name: String) -> String? {
            fields.value(of: name)
        }
    }

    /// A part of a response.
    public enum Part {
        /// The head, once whole.
        case head(Head)
        /// Body bytes, valid only during the call that reports them.
        case body(UnsafeRawBufferPointer)
        /// The response is complete.
        case end
    }

    /// Why the bytes are not an HTTP/1.1 response.
    public struct ParseError: Error, Sendable, Equatable, CustomStringConvertible {
        /// What was wrong, in words.
        public let reason: String

        /// Creates an error.
        public init(_ reason: String) { self.reason = reason }

        /// The reason.
        public var description: String { reason }
    }

    private enum ChunkLinePhase: Sendable {
        case digits, whitespace, `extension`
    }

    private enum State: Sendable {
        /// Reading a head: bytes of its current line seen so far.
        case head(lineBytes: Int)
        case length(remaining: Int)
        /// Reading a chunk-size line: its value, digits read, and what part of the line.
        case chunkSize(value: Int, digits: Int, phase: ChunkLinePhase)
        /// After the chunk-size line's CR.
        case chunkSizeLF(value: Int)
        case chunkData(remaining: Int)
        /// The CRLF after a chunk's data: `sawCR` once its CR arrived.
        case chunkDataEnd(sawCR: Bool)
        /// Trailer lines after the last chunk: bytes of the current line and whether it ended with CR.
        case trailers(lineLength: Int, sawCR: Bool)
        case untilClose
        case failed(ParseError)
    }

    /// The longest head (and the longest trailer section) accepted.
    public let maxHeadBytes: Int
    /// Whether heads keep their fields as strings (the framing is read either way).
    public let keepsFields: Bool
    private var state = State.head(lineBytes: 0)
    private var headBytes: [UInt8] = []
    private var headSeen = 0
    private var previousByte: UInt8 = 0
    private var trailerBytes = 0
    private var noBody = false

    /// Creates a parser.
    public init(maxHeadBytes: Int = 64 * 1024, keepsFields: Bool = true) {
        self.maxHeadBytes = maxHeadBytes
        self.keepsFields = keepsFields
    }

    /// Whether the parser is between responses, with no byte of the next one seen.
    public var isIdle: Bool {
        if case .head(let lineBytes) = state { return lineBytes == 0 && headSeen == 0 }
        return false
    }

    /// The next response answers a `HEAD` request: it has no body whatever its fields say.
    public mutating func expectNoBody() {
        noBody = true
    }

    /// Parses `bytes`, reporting each part to `onPart` as it completes.
    public mutating func parse(_ bytes: UnsafeRawBufferPointer, _ onPart: (Part) -> Void) throws(ParseError) {
        var index = 0
        let count = bytes.count
        while index < count {
            switch state {
            case .failed(let error):
                throw error
            case .head(let lineBytes):
                index = try scanHead(bytes, from: index, lineBytes: lineBytes, onPart)
            case .length(let remaining):
                let take = min(remaining, count - index)
                onPart(.body(UnsafeRawBufferPointer(rebasing: bytes[index..<index + take])))
                index += take
                if take == remaining {
                    endMessage(onPart)
                } else {
                    state = .length(remaining: remaining - take)
                }
            case .chunkSize(let value, let digits, let phase):
                let byte = bytes[index]
                index += 1
                if phase == .digits, let digit = Self.hexValue(byte) {
                    guard digits < 15 else { try fail("chunk size too large") }
                    state = .chunkSize(value: value << 4 | digit, digits: digits + 1, phase: .digits)
                } else if digits == 0 {
                    try fail("invalid chunk size")
                } else if byte == .cr {
                    state = .chunkSizeLF(value: value)
                } else if phase != .extension, byte == .space || byte == .tab {
                    state = .chunkSize(value: value, digits: digits, phase: .whitespace)
                } else if phase == .extension || byte == .semicolon {
                    // Chunk extensions are read past, not interpreted.
                    guard byte >= 0x20 || byte == .tab, byte != 0x7F else { try fail("invalid byte in chunk extension") }
                    trailerBytes += 1
                    guard trailerBytes <= maxHeadBytes else { try fail("chunk extension too long") }
                    state = .chunkSize(value: value, digits: digits, phase: .extension)
                } else {
                    try fail("invalid chunk size")
                }
            case .chunkSizeLF(let value):
                guard bytes[index] == .lf else { try fail("chunk size line not ended by CRLF") }
                index += 1
                trailerBytes = 0
                state = value == 0 ? .trailers(lineLength: 0, sawCR: false) : .chunkData(remaining: value)
            case .chunkData(let remaining):
                let take = min(remaining, count - index)
                onPart(.body(UnsafeRawBufferPointer(rebasing: bytes[index..<index + take])))
                index += take
                state = take == remaining ? .chunkDataEnd(sawCR: false) : .chunkData(remaining: remaining - take)
            case .chunkDataEnd(let sawCR):
                let byte = bytes[index]
                index += 1
                if !sawCR, byte == .cr {
                    state = .chunkDataEnd(sawCR: true)
                } else if sawCR, byte == .lf {
                    state = .chunkSize(value: 0, digits: 0, phase: .digits)
                } else {
                    try fail("chunk data not followed by CRLF")
                }
            case .trailers(let lineLength, let sawCR):
                let byte = bytes[index]
                index += 1
                trailerBytes += 1
                guard trailerBytes <= maxHeadBytes else { try fail("trailer section too large") }
                if sawCR {
                    guard byte == .lf else { try fail("trailer line not ended by CRLF") }
                    if lineLength == 0 {
                        endMessage(onPart)
                    } else {
                        state = .trailers(lineLength: 0, sawCR: false)
                    }
                } else if byte == .cr {
                    state = .trailers(lineLength: lineLength, sawCR: true)
                } else if byte == .lf {
                    try fail("bare LF in trailers")
                } else {
                    state = .trailers(lineLength: lineLength + 1, sawCR: false)
                }
            case .untilClose:
                onPart(.body(UnsafeRawBufferPointer(rebasing: bytes[index...])))
                index = count
            }
        }
    }

    /// The connection closed: a body delimited by the close ends here; a response cut short is an error.
    public mutating func finish(_ onPart: (Part) -> Void) throws(ParseError) {
        switch state {
        case .untilClose:
            endMessage(onPart)
        case .failed(let error):
            throw error
        case .head where isIdle:
            return
        default:
            try fail("connection closed before the response ended")
        }
    }

    // MARK: Head

    private mutating func scanHead(
        _ bytes: UnsafeRawBufferPointer, from start: Int, lineBytes: Int, _ onPart: (Part) -> Void
    ) throws(ParseError) -> Int {
        let count = bytes.count
        // Bytes that cannot start a response fail at once, not when a blank line ends them (which may be never).
        var checked = start
        while headSeen + checked - start < 7, checked < count {
            guard bytes[checked] == Self.statusPrefix(at: headSeen + checked - start) else {
                try fail("malformed status line")
            }
            checked += 1
        }
        // Line by line: each line feed must follow a carriage return, and a line of just that ends the head.
        var lineBytes = lineBytes
        var previous = previousByte
        var index = start
        var ended = false
        while index < count {
            let lineFeed = Self.lineFeed(in: bytes, from: index)
            guard lineFeed < count else {
                lineBytes += count - index
                previous = bytes[count - 1]
                index = count
                break
            }
            guard (lineFeed > index ? bytes[lineFeed - 1] : previous) == .cr else {
                try fail("bare LF in the response head")
            }
            lineBytes += lineFeed - index
            index = lineFeed + 1
            previous = .lf
            if lineBytes == 1 {
                ended = true
                break
            }
            lineBytes = 0
        }
        previousByte = previous
        let seen = index - start
        guard headSeen + seen <= maxHeadBytes else {
            try fail("response head larger than \(maxHeadBytes) bytes")
        }
        guard ended else {
            headBytes.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[start..<index]))
            headSeen += seen
            state = .head(lineBytes: lineBytes)
            return index
        }
        let head: Head?
        if headBytes.isEmpty {
            head = try readHead(UnsafeRawBufferPointer(rebasing: bytes[start..<index]))
        } else {
            headBytes.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[start..<index]))
            let whole = headBytes
            let read = whole.withUnsafeBytes { raw in Result { () throws(ParseError) -> Head? in try readHead(raw) } }
            head = try read.get()
            headBytes.removeAll(keepingCapacity: true)
        }
        headSeen = 0
        previousByte = 0
        state = .head(lineBytes: 0)
        // An interim (1xx) response: its head is dropped and the final one follows.
        guard let head else { return index }
        onPart(.head(head))
        noBody = false
        switch head.framing {
        case .none, .length(0): endMessage(onPart)
        case .length(let length): state = .length(remaining: length)
        case .chunked: state = .chunkSize(value: 0, digits: 0, phase: .digits)
        case .untilClose: state = .untilClose
        }
        return index
    }

    /// The head in `raw` (ending with CRLFCRLF), or nil for an interim response.
    private mutating func readHead(_ raw: UnsafeRawBufferPointer) throws(ParseError) -> Head? {
        var lineStart = 0
        // Every line feed in `raw` follows a carriage return (checked while scanning); a stray CR inside a line is
        // refused below as a byte no status line, name or value may hold.
        func nextLine() -> Range<Int> {
            let end = Self.lineFeed(in: raw, from: lineStart)
            defer { lineStart = end + 1 }
            return lineStart..<(end - 1)
        }
        let statusLine = nextLine()
        let (minor, status) = try Self.readStatusLine(UnsafeRawBufferPointer(rebasing: raw[statusLine]))
        var bounds: [Int32] = []
        if keepsFields { bounds.reserveCapacity(64) }
        var length: Int?
        var chunked = false
        var transferEncoded = false
        var close = false
        var keepAliveToken = false
        while true {
            let line = nextLine()
            if line.isEmpty { break }
            guard raw[line.lowerBound] != .space, raw[line.lowerBound] != .tab else {
                try fail("folded header line")
            }
            var colon = line.lowerBound
            while colon < line.upperBound, raw[colon] != .colon {
                guard Self.isTokenByte(raw[colon]) else { try fail("invalid header name") }
                colon += 1
            }
            guard colon < line.upperBound, colon > line.lowerBound else { try fail("header line without a name and colon") }
            var valueStart = colon + 1
            var valueEnd = line.upperBound
            while valueStart < valueEnd, raw[valueStart] == .space || raw[valueStart] == .tab { valueStart += 1 }
            while valueEnd > valueStart, raw[valueEnd - 1] == .space || raw[valueEnd - 1] == .tab { valueEnd -= 1 }
            for position in valueStart..<valueEnd {
                let byte = raw[position]
                guard byte >= 0x20 || byte == .tab, byte != 0x7F else { try fail("invalid byte in header value") }
            }
            let name = UnsafeRawBufferPointer(rebasing: raw[line.lowerBound..<colon])
            let value = UnsafeRawBufferPointer(rebasing: raw[valueStart..<valueEnd])
            // Only three names decide the framing; most fields are ruled out by their length.
            switch name.count {
            case 14 where Self.isLowercase(name, "content-length"):
                let parsed = try Self.readLength(value)
                guard length == nil || length == parsed else { try fail("conflicting Content-Length values") }
                length = parsed
            case 17 where Self.isLowercase(name, "transfer-encoding"):
                transferEncoded = true
                chunked = Self.lastToken(of: value).map { Self.isLowercase($0, "chunked") } ?? false
            case 10 where Self.isLowercase(name, "connection"):
                Self.forEachToken(of: value) { token in
                    if Self.isLowercase(token, "close") { close = true }
                    if Self.isLowercase(token, "keep-alive") { keepAliveToken = true }
                }
            default: break
            }
            if keepsFields {
                bounds.append(Int32(line.lowerBound))
                bounds.append(Int32(colon))
                bounds.append(Int32(valueStart))
                bounds.append(Int32(valueEnd))
            }
        }
        if status < 200 {
            guard status != 101 else { try fail("switching protocols is not supported") }
            return nil
        }
        var keepAlive = minor == 1 ? !close : keepAliveToken && !close
        let framing: Framing
        if noBody || status == 204 || status == 304 {
            framing = .none
        } else if transferEncoded {
            guard length == nil else { try fail("both Content-Length and Transfer-Encoding") }
            framing = chunked ? .chunked : .untilClose
        } else if let length {
            framing = .length(length)
        } else {
            framing = .untilClose
        }
        if framing == .untilClose { keepAlive = false }
        let fields = keepsFields ? Fields(bytes: Array(raw), bounds: bounds) : Fields()
        return Head(status: status, minorVersion: minor, fields: fields, framing: framing, keepAlive: keepAlive)
    }

    /// The byte at `position` of `HTTP/1.`, the start of every status line.
    private static func statusPrefix(at position: Int) -> UInt8 {
        switch position {
        case 0: UInt8(ascii: "H")
        case 1, 2: UInt8(ascii: "T")
        case 3: UInt8(ascii: "P")
        case 4: UInt8(ascii: "/")
        case 5: UInt8(ascii: "1")
        default: UInt8(ascii: ".")
        }
    }

    private static func readStatusLine(_ line: UnsafeRawBufferPointer) throws(ParseError) -> (minor: Int, status: Int) {
        let prefix = "HTTP/1.".utf8
        guard line.count >= 12, line.starts(with: prefix), line[7] == UInt8(ascii: "0") || line[7] == UInt8(ascii: "1"),
            line[8] == .space, line.count == 12 || line[12] == .space
        else { throw ParseError("malformed status line") }
        var status = 0
        for position in 9..<12 {
            let byte = line[position]
            guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") else { throw ParseError("malformed status code") }
            status = status * 10 + Int(byte - UInt8(ascii: "0"))
        }
        guard status >= 100 else { throw ParseError("malformed status code") }
        for position in 12..<line.count {
            let byte = line[position]
            guard byte >= 0x20 || byte == .tab, byte != 0x7F else { throw ParseError("invalid byte in the reason phrase") }
        }
        return (Int(line[7] - UInt8(ascii: "0")), status)
    }

    private static func readLength(_ value: UnsafeRawBufferPointer) throws(ParseError) -> Int {
        guard !value.isEmpty, value.count <= 18 else { throw ParseError("invalid Content-Length") }
        var length = 0
        for byte in value {
            guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") else { throw ParseError("invalid Content-Length") }
            length = length * 10 + Int(byte - UInt8(ascii: "0"))
        }
        return length
    }

    // MARK: Helpers

    private mutating func endMessage(_ onPart: (Part) -> Void) {
        state = .head(lineBytes: 0)
        onPart(.end)
    }

    private mutating func fail(_ reason: String) throws(ParseError) -> Never {
        let error = ParseError(reason)
        state = .failed(error)
        headBytes = []
        throw error
    }

    private static func hexValue(_ byte: UInt8) -> Int? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): Int(byte - UInt8(ascii: "0"))
        case UInt8(ascii: "a")...UInt8(ascii: "f"): Int(byte - UInt8(ascii: "a") + 10)
        case UInt8(ascii: "A")...UInt8(ascii: "F"): Int(byte - UInt8(ascii: "A") + 10)
        default: nil
        }
    }

    /// RFC 9110's tchar: `!#$%&'*+-.^_`|~`, digits and letters. One bit per byte value below 128.
    static func isTokenByte(_ byte: UInt8) -> Bool {
        // Bytes 0-63: ! # $ % & ' * + - . and 0-9; bytes 64-127: A-Z ^ _ ` a-z | ~.
        let low: UInt64 = 0x03FF_6CFA_0000_0000
        let high: UInt64 = 0x57FF_FFFF_C7FF_FFFE
        return byte < 64 ? (low >> UInt64(byte)) & 1 == 1 : byte < 128 && (high >> UInt64(byte - 64)) & 1 == 1
    }

    /// The index of the first line feed in `bytes` at or after `start` (`bytes.count` when there is none).
    static func lineFeed(in bytes: UnsafeRawBufferPointer, from start: Int) -> Int {
        guard start < bytes.count, let base = bytes.baseAddress,
            let found = memchr(base + start, Int32(UInt8(ascii: "\n")), bytes.count - start)
        else { return bytes.count }
        return base.distance(to: UnsafeRawPointer(found))
    }

    /// Whether `bytes`, lower-cased (ASCII), are `lowercase`.
    static func isLowercase(_ bytes: UnsafeRawBufferPointer, _ lowercase: StaticString) -> Bool {
        guard bytes.count == lowercase.utf8CodeUnitCount else { return false }
        let expected = lowercase.utf8Start
        for index in 0..<bytes.count {
            let byte = bytes[index]
            let folded = byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z") ? byte | 0x20 : byte
            guard folded == expected[index] else { return false }
        }
        return true
    }

    static func foldCase(_ byte: UInt8) -> UInt8 {
        byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z") ? byte | 0x20 : byte
    }

    /// Calls `body` with each comma-separated token of a field value, trimmed.
    static func forEachToken(of value: UnsafeRawBufferPointer, _ body: (UnsafeRawBufferPointer) -> Void) {
        var start = 0
        while start <= value.count {
            var end = start
            while end < value.count, value[end] != .comma { end += 1 }
            var low = start
            var high = end
            while low < high, value[low] == .space || value[low] == .tab { low += 1 }
            while high > low, value[high - 1] == .space || value[high - 1] == .tab { high -= 1 }
            if low < high { body(UnsafeRawBufferPointer(rebasing: value[low..<high])) }
            start = end + 1
        }
    }

    private static func lastToken(of value: UnsafeRawBufferPointer) -> UnsafeRawBufferPointer? {
        var last: UnsafeRawBufferPointer?
        forEachToken(of: value) { last = $0 }
        return last
    }
}

extension UInt8 {
    fileprivate static let cr = UInt8(ascii: "\r")
    fileprivate static let lf = UInt8(ascii: "\n")
    fileprivate static let space = UInt8(ascii: " ")
    fileprivate static let tab = UInt8(ascii: "\t")
    fileprivate static let colon = UInt8(ascii: ":")
    fileprivate static let semicolon = UInt8(ascii: ";")
    fileprivate static let comma = UInt8(ascii: ",")
}
