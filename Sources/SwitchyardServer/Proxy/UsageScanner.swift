import SwitchyardCore

/// Finds the top-level `usage` object in a response without parsing the whole body.
enum UsageScanner {
    /// The value after the last unescaped `"usage":` in `bytes`, parsed; nil when there is none.
    static func usage(in bytes: some RandomAccessCollection<UInt8>) -> JSONValue? {
        let array = Array(bytes)
        let needle = Array("\"usage\"".utf8)
        guard array.count > needle.count else { return nil }
        var index = array.count - needle.count
        while index >= 0 {
            if array[index] == UInt8(ascii: "\""), array[index..<(index + needle.count)].elementsEqual(needle),
                index == 0 || array[index - 1] != UInt8(ascii: "\\")
            {
                var position = index + needle.count
                while position < array.count, array[position] == UInt8(ascii: " ") { position += 1 }
                guard position < array.count, array[position] == UInt8(ascii: ":") else {
                    index -= 1
                    continue
                }
                position += 1
                while position < array.count, array[position] == UInt8(ascii: " ") { position += 1 }
                guard position < array.count, array[position] == UInt8(ascii: "{") else { return nil }
                guard let end = matchingBrace(array, from: position) else { return nil }
                return try? JSONParser.parse(array[position...end])
            }
            index -= 1
        }
        return nil
    }

    /// The index of the `}` closing the object that opens at `start`, skipping strings.
    static func matchingBrace(_ bytes: [UInt8], from start: Int) -> Int? {
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
