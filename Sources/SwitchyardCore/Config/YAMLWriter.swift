extension YAMLNode {
    /// The node as JSON, typed as YAML 1.2's core schema types plain scalars: `null`, `~` and empty are null,
    /// `true`/`false` (and their capitalised forms) booleans, decimal numbers numbers, the rest strings. Quoted and
    /// block scalars are strings.
    public var jsonValue: JSONValue {
        switch self {
        case .scalar(let text, let plain, _):
            guard plain else { return .string(text) }
            switch text {
            case "", "~", "null", "Null", "NULL": return .null
            case "true", "True", "TRUE": return .bool(true)
            case "false", "False", "FALSE": return .bool(false)
            default:
                if let number = try? JSONParser.parse(text), case .number = number { return number }
                return .string(text)
            }
        case .mapping(let pairs, _):
            var object = JSONObject()
            for pair in pairs { object[pair.key.scalarText ?? pair.key.jsonValue.encodedString()] = pair.value.jsonValue }
            return .object(object)
        case .sequence(let items, _): return .array(items.map(\.jsonValue))
        }
    }
}

/// Writes JSON values as block-style YAML that `YAMLReader` (and any YAML 1.2 reader) reads back to the same
/// values: strings are double-quoted (JSON's escapes are YAML's), numbers, booleans and null plain.
public enum YAMLWriter {
    /// A document for a top-level object.
    public static func document(_ object: JSONObject) -> String {
        var out = ""
        write(object, indent: 0, into: &out)
        return out
    }

    static func scalar(_ value: JSONValue) -> String? {
        switch value {
        case .null: "null"
        case .bool(let flag): flag ? "true" : "false"
        case .number(let text): text
        case .string: value.encodedString()
        case .object(let object) where object.isEmpty: "{}"
        case .array(let items) where items.isEmpty: "[]"
        case .object, .array: nil
        }
    }

    static func key(_ text: String) -> String {
        let plain =
            !text.isEmpty
            && text.utf8.allSatisfy { byte in
                PromptText.isNameByte(byte) || byte == UInt8(ascii: "/")
            } && !["true", "false", "null", "yes", "no", "on", "off", "~"].contains(text.lowercased())
            && (try? JSONParser.parse(text)) == nil
        return plain ? text : JSONValue.string(text).encodedString()
    }

    static func write(_ object: JSONObject, indent: Int, into out: inout String) {
        let pad = String(repeating: " ", count: indent)
        for (name, value) in object {
            if let text = scalar(value) {
                out += "\(pad)\(key(name)): \(text)\n"
            } else if case .object(let inner) = value {
                out += "\(pad)\(key(name)):\n"
                write(inner, indent: indent + 2, into: &out)
            } else if case .array(let items) = value {
                out += "\(pad)\(key(name)):\n"
                write(items, indent: indent + 2, into: &out)
            }
        }
    }

    static func write(_ items: [JSONValue], indent: Int, into out: inout String) {
        let pad = String(repeating: " ", count: indent)
        for item in items {
            if let text = scalar(item) {
                out += "\(pad)- \(text)\n"
            } else if case .object(let inner) = item {
                // The first key on the dash's line, the others under it.
                var nested = ""
                write(inner, indent: indent + 2, into: &nested)
                out += "\(pad)- " + nested.dropFirst(indent + 2)
            } else if case .array(let inner) = item {
                out += "\(pad)-\n"
                write(inner, indent: indent + 2, into: &out)
            }
        }
    }
}
