#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// The head of an HTTP/1.1 (or 1.0) request whose body, if any, is delimited by one `Content-Length`: the only
/// kind the proxy's front reads itself. It reads strictly and declines rather than guesses: a head it does not
/// take (malformed, bare line feeds, a transfer coding, differing lengths, `CONNECT`, an upgrade) is left whole
/// to a full HTTP/1 decoder, which answers it or refuses it.
public struct RequestHead: Sendable {
    /// The method, as sent.
    public let method: String
    /// The request target, as sent (origin form starts with `/`).
    public let target: String
    /// `1` for HTTP/1.1, `0` for HTTP/1.0.
    public let minorVersion: Int
    /// The fields, in order.
    public let fields: HTTPResponseParser.Fields
    /// The body's length (0 without `Content-Length`).
    public let contentLength: Int
    /// Whether the connection can carry another request after this one's answer.
    public let keepAlive: Bool
    /// Whether the client waits for `100 Continue` before sending the body.
    public let expectsContinue: Bool

    /// Where a head ends in `bytes` (which start with it).
    public enum End: Equatable, Sendable {
        /// No blank line yet.
        case incomplete
        /// The head is `bytes[..<index]`, blank line included.
        case at(Int)
        /// A line feed without its carriage return: not a head this reader takes.
        case unusual
    }

    /// Finds the end of the head that starts `bytes`, looking for line feeds from `from` on (a caller that saw
    /// part of the head before starts where it stopped, less three bytes).
    public static func end(in bytes: UnsafeRawBufferPointer, from: Int = 0) -> End {
        guard let base = bytes.baseAddress else { return .incomplete }
        var index = max(from, 0)
        while index < bytes.count, let found = memchr(base + index, Int32(UInt8(ascii: "\n")), bytes.count - index) {
            let lf = base.distance(to: UnsafeRawPointer(found))
            guard lf > 0, bytes[lf - 1] == UInt8(ascii: "\r") else { return .unusual }
            if lf >= 3, bytes[lf - 2] == UInt8(ascii: "\n"), bytes[lf - 3] == UInt8(ascii: "\r") { return .at(lf + 1) }
            index = lf + 1
        }
        return .incomplete
    }

    /// Reads a whole head (its blank line included); nil when it is not one this reader takes (or it has more
    /// than `maxFields` fields).
    public static func read(_ head: UnsafeRawBufferPointer, maxFields: Int = 1000) -> RequestHead? {
        var lineStart = 0
        /// The next line without its CRLF (`end` found every LF preceded by a CR).
        func nextLine() -> Range<Int>? {
            guard lineStart < head.count, let base = head.baseAddress,
                let found = memchr(base + lineStart, Int32(UInt8(ascii: "\n")), head.count - lineStart)
            else { return nil }
            let lf = base.distance(to: UnsafeRawPointer(found))
            guard lf > lineStart, head[lf - 1] == UInt8(ascii: "\r") else { return nil }
            defer { lineStart = lf + 1 }
            return lineStart..<(lf - 1)
        }
        guard let requestLine = nextLine(),
            let (method, target, minor) = readRequestLine(UnsafeRawBufferPointer(rebasing: head[requestLine]))
        else { return nil }
        guard method != "CONNECT" else { return nil }
        var bounds: [Int32] = []
        bounds.reserveCapacity(48)
        var length: Int?
        var close = false
        var keepAliveToken = false
        var expectsContinue = false
        while true {
            guard let line = nextLine() else { return nil }
            if line.isEmpty { break }
            guard bounds.count < 4 * maxFields else { return nil }
            var colon = line.lowerBound
            while colon < line.upperBound, head[colon] != UInt8(ascii: ":") {
                guard HTTPResponseParser.isTokenByte(head[colon]) else { return nil }
                colon += 1
            }
            guard colon < line.upperBound, colon > line.lowerBound else { return nil }
            var valueStart = colon + 1
            var valueEnd = line.upperBound
            while valueStart < valueEnd, head[valueStart] == UInt8(ascii: " ") || head[valueStart] == UInt8(ascii: "\t") {
                valueStart += 1
            }
            while valueEnd > valueStart, head[valueEnd - 1] == UInt8(ascii: " ") || head[valueEnd - 1] == UInt8(ascii: "\t") {
                valueEnd -= 1
            }
            for position in valueStart..<valueEnd {
                let byte = head[position]
                guard byte >= 0x20 || byte == UInt8(ascii: "\t"), byte != 0x7F else { return nil }
            }
            let name = UnsafeRawBufferPointer(rebasing: head[line.lowerBound..<colon])
            let value = UnsafeRawBufferPointer(rebasing: head[valueStart..<valueEnd])
            // Only a few names matter here; most fields are ruled out by their length.
            switch name.count {
            case 14 where HTTPResponseParser.isLowercase(name, "content-length"):
                guard let parsed = readLength(value), length == nil || length == parsed else { return nil }
                length = parsed
            case 17 where HTTPResponseParser.isLowercase(name, "transfer-encoding"):
                return nil
            case 7 where HTTPResponseParser.isLowercase(name, "upgrade"):
                return nil
            case 10 where HTTPResponseParser.isLowercase(name, "connection"):
                HTTPResponseParser.forEachToken(of: value) { token in
                    if HTTPResponseParser.isLowercase(token, "close") { close = true }
                    if HTTPResponseParser.isLowercase(token, "keep-alive") { keepAliveToken = true }
                }
            case 6 where HTTPResponseParser.isLowercase(name, "expect"):
                expectsContinue = HTTPResponseParser.isLowercase(value, "100-continue")
            default: break
            }
            bounds.append(Int32(line.lowerBound))
            bounds.append(Int32(colon))
            bounds.append(Int32(valueStart))
            bounds.append(Int32(valueEnd))
        }
        guard lineStart == head.count else { return nil }
        return RequestHead(
            method: method, target: target, minorVersion: minor,
            fields: HTTPResponseParser.Fields(bytes: Array(head), bounds: bounds), contentLength: length ?? 0,
            keepAlive: minor == 1 ? !close : keepAliveToken && !close, expectsContinue: expectsContinue && minor == 1)
    }

    /// `METHOD SP TARGET SP HTTP/1.x`: a token, a target of visible ASCII, HTTP/1.0 or 1.1.
    private static func readRequestLine(_ line: UnsafeRawBufferPointer) -> (String, String, Int)? {
        var space = 0
        while space < line.count, line[space] != UInt8(ascii: " ") {
            guard HTTPResponseParser.isTokenByte(line[space]) else { return nil }
            space += 1
        }
        guard space > 0, line.count >= space + 1 + 1 + 9 else { return nil }
        let version = line.count - 8
        guard line[version - 1] == UInt8(ascii: " ") else { return nil }
        let target = UnsafeRawBufferPointer(rebasing: line[(space + 1)..<(version - 1)])
        guard !target.isEmpty, target.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) else { return nil }
        let prefix: StaticString = "HTTP/1."
        for index in 0..<7 where line[version + index] != prefix.utf8Start[index] { return nil }
        let minor = line[version + 7]
        guard minor == UInt8(ascii: "0") || minor == UInt8(ascii: "1") else { return nil }
        return (
            String(decoding: UnsafeRawBufferPointer(rebasing: line[..<space]), as: UTF8.self),
            String(decoding: target, as: UTF8.self), Int(minor - UInt8(ascii: "0"))
        )
    }

    private static func readLength(_ value: UnsafeRawBufferPointer) -> Int? {
        guard !value.isEmpty, value.count <= 18 else { return nil }
        var length = 0
        for byte in value {
            guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") else { return nil }
            length = length * 10 + Int(byte - UInt8(ascii: "0"))
        }
        return length
    }
}
