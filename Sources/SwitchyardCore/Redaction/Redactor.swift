/// Masks every secret the proxy knows, and secret-shaped text, in strings bound for logs or clients.
///
/// Masks: configured keys and the master key (exact text), `Bearer <token>`, `xai-…` and `sk-…`
/// shaped tokens, and `key=` / `api_key=` values in URLs and query strings.
public struct Redactor: Sendable {
    /// What a masked secret becomes.
    public static let mask = "[REDACTED]"

    private let secrets: [[UInt8]]
    private let secretFirstBytes: Set<UInt8>
    /// Byte pairs that start something worth a closer look: `xa`, `sk`, `be` (bearer), `ke`, `ap`, and each secret's.
    private let triggerPairs: Set<UInt16>

    /// A redactor that also masks these exact strings (shorter than 6 characters are ignored).
    public init(secrets: some Sequence<String> = []) {
        let unique = Set(secrets.filter { $0.utf8.count >= 6 })
        self.secrets = unique.map { Array($0.utf8) }.sorted { $0.count > $1.count }
        self.secretFirstBytes = Set(self.secrets.compactMap(\.first))
        var pairs: Set<UInt16> = []
        for word in ["xa", "sk", "be", "Be", "BE", "ke", "Ke", "KE", "ap", "Ap", "AP"] {
            let bytes = Array(word.utf8)
            pairs.insert(UInt16(bytes[0]) << 8 | UInt16(bytes[1]))
        }
        for secret in self.secrets where secret.count >= 2 {
            pairs.insert(UInt16(secret[0]) << 8 | UInt16(secret[1]))
        }
        self.triggerPairs = pairs
    }

    /// A redactor that knows these secrets too.
    public func adding(secrets more: some Sequence<String>) -> Redactor {
        Redactor(secrets: self.secrets.map { String(decoding: $0, as: UTF8.self) } + Array(more))
    }

    /// `text` with every secret masked.
    public func redact(_ text: String) -> String {
        let input = Array(text.utf8)
        guard mightContainSecret(input) else { return text }
        return String(decoding: redact(bytes: input), as: UTF8.self)
    }

    /// `bytes` with every secret masked.
    public func redact(bytes input: [UInt8]) -> [UInt8] {
        var output: [UInt8] = []
        output.reserveCapacity(input.count)
        var index = 0
        while index < input.count {
            if let end = matchSecret(input, at: index) {
                output.append(contentsOf: Self.mask.utf8)
                index = end
                continue
            }
            if let end = matchPattern(input, at: index, output: &output) {
                index = end
                continue
            }
            output.append(input[index])
            index += 1
        }
        return output
    }

    private func mightContainSecret(_ input: [UInt8]) -> Bool {
        guard input.count >= 2 else { return false }
        var previous = UInt16(input[0])
        for byte in input.dropFirst() {
            let pair = previous << 8 | UInt16(byte)
            if triggerPairs.contains(pair) { return true }
            previous = UInt16(byte)
        }
        return false
    }

    /// Exact configured secret at `index`: returns the end index (the mask is written by the caller).
    private func matchSecret(_ input: [UInt8], at index: Int) -> Int? {
        guard secretFirstBytes.contains(input[index]) else { return nil }
        for secret in secrets where index + secret.count <= input.count {
            if input[index..<(index + secret.count)].elementsEqual(secret) { return index + secret.count }
        }
        return nil
    }

    private static func isTokenByte(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
            UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "_"), UInt8(ascii: "."):
            return true
        default: return false
        }
    }

    private static func hasPrefix(_ input: [UInt8], at index: Int, _ prefix: String, caseInsensitive: Bool) -> Bool {
        let bytes = Array(prefix.utf8)
        guard index + bytes.count <= input.count else { return false }
        for offset in 0..<bytes.count {
            var byte = input[index + offset]
            if caseInsensitive, byte >= UInt8(ascii: "A"), byte <= UInt8(ascii: "Z") { byte += 32 }
            if byte != bytes[offset] { return false }
        }
        return true
    }

    private static func tokenEnd(_ input: [UInt8], from start: Int) -> Int {
        var end = start
        while end < input.count, isTokenByte(input[end]) { end += 1 }
        return end
    }

    /// A secret-shaped pattern at `index`: writes the kept prefix and the mask, returns the end index.
    private func matchPattern(_ input: [UInt8], at index: Int, output: inout [UInt8]) -> Int? {
        let previous: UInt8? = index > 0 ? input[index - 1] : nil
        let atWordStart = previous.map { !Self.isTokenByte($0) } ?? true
        // Bearer tokens.
        if atWordStart, Self.hasPrefix(input, at: index, "bearer ", caseInsensitive: true) {
            var start = index + 7
            while start < input.count, input[start] == UInt8(ascii: " ") { start += 1 }
            let end = Self.tokenEnd(input, from: start)
            if end - start >= 4 {
                output.append(contentsOf: input[index..<(index + 7)])
                output.append(contentsOf: Self.mask.utf8)
                return end
            }
        }
        // xai- and sk- shaped keys.
        for prefix in ["xai-", "sk-"] where atWordStart && Self.hasPrefix(input, at: index, prefix, caseInsensitive: false) {
            let start = index + prefix.utf8.count
            let end = Self.tokenEnd(input, from: start)
            if end - start >= 6 {
                output.append(contentsOf: Self.mask.utf8)
                return end
            }
        }
        // key=value in URLs and query strings.
        for prefix in ["key=", "api_key=", "api-key=", "apikey="]
        where atWordStart && Self.hasPrefix(input, at: index, prefix, caseInsensitive: true) {
            let start = index + prefix.utf8.count
            var end = start
            while end < input.count {
                let byte = input[end]
                if byte == UInt8(ascii: "&") || byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\"")
                    || byte == UInt8(ascii: "'") || byte == UInt8(ascii: "\n") || byte == UInt8(ascii: ",")
                {
                    break
                }
                end += 1
            }
            if end > start {
                output.append(contentsOf: input[index..<start])
                output.append(contentsOf: Self.mask.utf8)
                return end
            }
        }
        return nil
    }
}
