/// A cheap estimate of a request's prompt tokens (about four UTF-8 bytes per token, plus a few per message),
/// for local `tpm` limits and `max_input_tokens` checks before the upstream counts for real.
public enum TokenEstimate {
    /// Estimated prompt tokens of a chat, completion or embedding request body.
    public static func prompt(of body: JSONObject) -> Int {
        if case .array(let messages)? = body["messages"] {
            return messages.reduce(0) { $0 + 4 + tokens(in: $1.objectValue?["content"]) }
        }
        return tokens(in: body["prompt"]) + tokens(in: body["input"])
    }

    /// Tokens of every string inside a value (text parts of multi-part content included).
    static func tokens(in value: JSONValue?) -> Int {
        switch value {
        case .string(let text)?: return (text.utf8.count + 3) / 4
        case .array(let items)?: return items.reduce(0) { $0 + tokens(in: $1) }
        case .object(let object)?: return tokens(in: object["text"])
        default: return 0
        }
    }
}
