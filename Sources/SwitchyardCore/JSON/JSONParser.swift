/// Why a byte sequence is not the JSON the parser expected.
public struct JSONParseError: Error, Sendable, Equatable, CustomStringConvertible {
    /// What was wrong.
    public let reason: String
    /// Byte offset of the problem in the input.
    public let offset: Int

    /// A one-line description for error messages.
    public var description: String { "\(reason) at byte \(offset)" }
}

/// A strict RFC 8259 JSON parser over UTF-8 bytes with a nesting limit.
public struct JSONParser {
    private let bytes: [UInt8]
    private var index = 0
    private var depth = 0
    private let maxDepth: Int
    /// Whether a string held bytes that are not UTF-8 (decoded with replacement characters): the document's
    /// text then differs from what its values encode to, so none of it is reused (`JSONObject.parsedText`).
    private var replacedInvalidUTF8 = false
    /// Keys compared while adding members to objects (a hash lookup counts as one): linear in the members
    /// read, which a test checks so that a quadratic search cannot come back unseen.
    private(set) var keyComparisons = 0

    private init(bytes: [UInt8], maxDepth: Int) {
        self.bytes = bytes
        self.maxDepth = maxDepth
    }

    /// Parses one JSON document; trailing non-space bytes are an error.
    ///
    /// Inlinable so the copy into an array is specialized where it is called (a `ByteBufferView` becomes one
    /// memory copy); the parsing itself is not generic.
    @inlinable
    public static func parse(_ bytes: some Collection<UInt8>, maxDepth: Int = 128) throws(JSONParseError) -> JSONValue {
        try parse(array: Array(bytes), maxDepth: maxDepth)
    }

    /// Parses one JSON document held in an array.
    public static func parse(array bytes: [UInt8], maxDepth: Int = 128) throws(JSONParseError) -> JSONValue {
        try parseCounting(array: bytes, maxDepth: maxDepth).value
    }

    /// Parses one JSON document and says how many keys were compared on the way (for tests).
    static func parseCounting(array bytes: [UInt8], maxDepth: Int = 128) throws(JSONParseError) -> (
        value: JSONValue, keyComparisons: Int
    ) {
        var parser = JSONParser(bytes: bytes, maxDepth: maxDepth)
        parser.skipSpace()
        let value = try parser.parseValue()
        parser.skipSpace()
        guard parser.index == parser.bytes.count else { throw parser.error("unexpected data after the JSON value") }
        if parser.replacedInvalidUTF8, case .object(let object) = value {
            return (.object(object.forgettingSource()), parser.keyComparisons)
        }
        return (value, parser.keyComparisons)
    }

    /// Parses one JSON document from a string.
    public static func parse(_ text: String) throws(JSONParseError) -> JSONValue {
        try parse(array: Array(text.utf8))
    }

    private func error(_ reason: String) -> JSONParseError {
        JSONParseError(reason: reason, offset: index)
    }

    private mutating func skipSpace() {
        while index < bytes.count {
            switch bytes[index] {
            case UInt8(ascii: " "), UInt8(ascii: "\n"), UInt8(ascii: "\r"), UInt8(ascii: "\t"): index += 1
            default: return
            }
        }
    }

    private mutating func parseValue() throws(JSONParseError) -> JSONValue {
        guard index < bytes.count else { throw error("unexpected end of JSON") }
        switch bytes[index] {
        case UInt8(ascii: "{"): return try parseObject()
        case UInt8(ascii: "["): return try parseArray()
        case UInt8(ascii: "\""): return .string(try parseString())
        case UInt8(ascii: "t"): try expectWord("true"); return .bool(true)
        case UInt8(ascii: "f"): try expectWord("false"); return .bool(false)
        case UInt8(ascii: "n"): try expectWord("null"); return .null
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return try parseNumber()
        default: throw error("unexpected character")
        }
    }

    private mutating func expectWord(_ word: String) throws(JSONParseError) {
        for expected in word.utf8 {
            guard index < bytes.count else { throw error("unexpected end of JSON") }
            guard bytes[index] == expected else { throw error("invalid literal") }
            index += 1
        }
    }

    private mutating func enter() throws(JSONParseError) {
        depth += 1
        if depth > maxDepth { throw error("nesting deeper than \(maxDepth) levels") }
    }

    private mutating func parseObject() throws(JSONParseError) -> JSONValue {
        try enter()
        index += 1
        var object = JSONObject()
        // The document's own object keeps where its members' text lies, to encode them again by copying it.
        var texts: [Range<Int>?] = []
        if depth == 1 { texts.reserveCapacity(16) }
        skipSpace()
        if index < bytes.count, bytes[index] == UInt8(ascii: "}") {
            index += 1
            depth -= 1
            return .object(object)
        }
        while true {
            skipSpace()
            guard index < bytes.count, bytes[index] == UInt8(ascii: "\"") else { throw error("expected a string key") }
            let start = index
            let key = try parseString()
            skipSpace()
            guard index < bytes.count, bytes[index] == UInt8(ascii: ":") else { throw error("expected ':'") }
            index += 1
            skipSpace()
            keyComparisons &+= object.parsedMember(key, try parseValue())
            if depth == 1 { texts.append(start..<index) }
            skipSpace()
            guard index < bytes.count else { throw error("unexpected end of JSON") }
            if bytes[index] == UInt8(ascii: ",") {
                index += 1
                continue
            }
            guard bytes[index] == UInt8(ascii: "}") else { throw error("expected ',' or '}'") }
            index += 1
            // A repeated key leaves fewer members than texts: such an object is encoded from its values.
            if depth == 1, texts.count == object.members.count { object.keepText(texts, of: bytes) }
            depth -= 1
            return .object(object)
        }
    }

    private mutating func parseArray() throws(JSONParseError) -> JSONValue {
        try enter()
        index += 1
        var array: [JSONValue] = []
        skipSpace()
        if index < bytes.count, bytes[index] == UInt8(ascii: "]") {
            index += 1
            depth -= 1
            return .array(array)
        }
        while true {
            skipSpace()
            array.append(try parseValue())
            skipSpace()
            guard index < bytes.count else { throw error("unexpected end of JSON") }
            if bytes[index] == UInt8(ascii: ",") {
                index += 1
                continue
            }
            guard bytes[index] == UInt8(ascii: "]") else { throw error("expected ',' or ']'") }
            index += 1
            depth -= 1
            return .array(array)
        }
    }

    private mutating func parseNumber() throws(JSONParseError) -> JSONValue {
        let start = index
        if bytes[index] == UInt8(ascii: "-") { index += 1 }
        guard index < bytes.count, isDigit(bytes[index]) else { throw error("invalid number") }
        if bytes[index] == UInt8(ascii: "0") {
            index += 1
        } else {
            while index < bytes.count, isDigit(bytes[index]) { index += 1 }
        }
        if index < bytes.count, bytes[index] == UInt8(ascii: ".") {
            index += 1
            guard index < bytes.count, isDigit(bytes[index]) else { throw error("invalid number") }
            while index < bytes.count, isDigit(bytes[index]) { index += 1 }
        }
        if index < bytes.count, bytes[index] == UInt8(ascii: "e") || bytes[index] == UInt8(ascii: "E") {
            index += 1
            if index < bytes.count, bytes[index] == UInt8(ascii: "+") || bytes[index] == UInt8(ascii: "-") { index += 1 }
            guard index < bytes.count, isDigit(bytes[index]) else { throw error("invalid number") }
            while index < bytes.count, isDigit(bytes[index]) { index += 1 }
        }
        return .number(String(decoding: bytes[start..<index], as: UTF8.self))
    }

    private func isDigit(_ byte: UInt8) -> Bool {
        byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9")
    }

    /// The index of the first byte at or after `start` that ends a run of plain string bytes: a quote, a
    /// backslash or a control character (`bytes.count` when there is none); and whether the run holds a byte
    /// outside ASCII.
    private func endOfPlainRun(from start: Int) -> (end: Int, nonASCII: Bool) {
        bytes.withUnsafeBufferPointer { JSONStringScan.plainRun(in: $0, from: start) }
    }

    /// `utf8` as a string, with replacement characters in place of bytes that are not UTF-8 (which sets
    /// `replacedInvalidUTF8`); `nonASCII` says whether `utf8` may hold any (a string of ASCII bytes cannot).
    private mutating func string(_ utf8: ArraySlice<UInt8>, nonASCII: Bool) -> String {
        let text = String(decoding: utf8, as: UTF8.self)
        if nonASCII, !text.utf8.elementsEqual(utf8) { replacedInvalidUTF8 = true }
        return text
    }

    private mutating func parseString() throws(JSONParseError) -> String {
        index += 1
        // Runs of plain bytes are copied whole; only a string with escapes needs a buffer of its own.
        var unescaped: [UInt8] = []
        var escapes = false
        var nonASCII = false
        var runStart = index
        while true {
            let run = endOfPlainRun(from: index)
            index = run.end
            nonASCII = nonASCII || run.nonASCII
            guard index < bytes.count else { throw error("unterminated string") }
            let byte = bytes[index]
            if byte == UInt8(ascii: "\"") {
                let text: String
                if escapes {
                    unescaped.append(contentsOf: bytes[runStart..<index])
                    text = string(unescaped[...], nonASCII: nonASCII)
                } else {
                    text = string(bytes[runStart..<index], nonASCII: nonASCII)
                }
                index += 1
                return text
            }
            if byte < 0x20 { throw error("control character in string") }
            escapes = true
            unescaped.append(contentsOf: bytes[runStart..<index])
            index += 1
            guard index < bytes.count else { throw error("unterminated string") }
            let escaped = bytes[index]
            index += 1
            switch escaped {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): unescaped.append(escaped)
            case UInt8(ascii: "b"): unescaped.append(0x08)
            case UInt8(ascii: "f"): unescaped.append(0x0C)
            case UInt8(ascii: "n"): unescaped.append(0x0A)
            case UInt8(ascii: "r"): unescaped.append(0x0D)
            case UInt8(ascii: "t"): unescaped.append(0x09)
            case UInt8(ascii: "u"):
                var code = try parseHex4()
                if (0xD800...0xDBFF).contains(code) {
                    guard index + 1 < bytes.count, bytes[index] == UInt8(ascii: "\\"), bytes[index + 1] == UInt8(ascii: "u")
                    else { throw error("unpaired surrogate in string") }
                    index += 2
                    let low = try parseHex4()
                    guard (0xDC00...0xDFFF).contains(low) else { throw error("unpaired surrogate in string") }
                    code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
                } else if (0xDC00...0xDFFF).contains(code) {
                    throw error("unpaired surrogate in string")
                }
                guard let scalar = Unicode.Scalar(code) else { throw error("invalid unicode escape") }
                UTF8.encode(scalar) { unescaped.append($0) }
            default: throw error("invalid escape")
            }
            runStart = index
        }
    }

    private mutating func parseHex4() throws(JSONParseError) -> UInt32 {
        guard index + 4 <= bytes.count else { throw error("invalid unicode escape") }
        var value: UInt32 = 0
        for _ in 0..<4 {
            let byte = bytes[index]
            let digit: UInt32
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = UInt32(byte - UInt8(ascii: "0"))
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = UInt32(byte - UInt8(ascii: "a") + 10)
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = UInt32(byte - UInt8(ascii: "A") + 10)
            default: throw error("invalid unicode escape")
            }
            value = value * 16 + digit
            index += 1
        }
        return value
    }
}
