/// Anthropic's Messages API (`POST /v1/messages`, as Claude Code speaks it) made into a Chat Completions request
/// (`toChat`) or a Responses API one (`toResponses`), for the deployment's upstream. Pure.
///
/// `system` (a string or text blocks) becomes the first message; content blocks map to chat: `text`, `image`
/// (base64 or URL, as an image part), an assistant's `tool_use` blocks to `tool_calls`, a user's `tool_result` blocks
/// to `tool` messages (before the user's other text); `thinking` blocks are dropped (a chat upstream takes no
/// signed thinking back). `tools` (`input_schema`) become function tools, `tool_choice` (auto, any, tool, none)
/// chat's, `thinking.budget_tokens` a `reasoning_effort` (under 4,096 low, under 16,384 medium, else high),
/// `stop_sequences` `stop`, `max_tokens`, `temperature`, `top_p`, `metadata.user_id` `user`; `top_k` has no chat
/// equivalent and is dropped.
public enum MessagesRequest {
    /// Translates a Messages body.
    public static func toChat(_ body: JSONObject) -> Result<(chat: JSONObject, stream: Bool, model: String), TranslationError> {
        let common: Common
        switch Common.read(body) {
        case .success(let value): common = value
        case .failure(let error): return .failure(error)
        }
        var chat: JSONObject = ["model": .string(common.model), "max_tokens": common.maxTokens]
        var messages: [JSONValue] = []
        if let system = common.system { messages.append(.object(["role": "system", "content": .string(system)])) }
        for (index, item) in common.messages.enumerated() {
            switch message(item, index: index) {
            case .success(let translated): messages.append(contentsOf: translated)
            case .failure(let error): return .failure(error)
            }
        }
        chat["messages"] = .array(messages)
        if let tools = common.tools {
            chat["tools"] = .array(tools.map { .object(["type": "function", "function": .object($0)]) })
        }
        switch common.toolChoice {
        case .mode(let mode)?: chat["tool_choice"] = .string(mode)
        case .function(let name)?:
            chat["tool_choice"] = .object(["type": "function", "function": .object(["name": .string(name)])])
        case nil: break
        }
        if common.oneToolAtATime { chat["parallel_tool_calls"] = false }
        if let effort = common.reasoningEffort { chat["reasoning_effort"] = .string(effort) }
        if let stops = body["stop_sequences"], stops != .null, stops.arrayValue?.isEmpty == false { chat["stop"] = stops }
        common.pass(into: &chat)
        return .success((chat, common.stream, common.model))
    }

    /// Translates a Messages body for an upstream that has the Responses API (xAI's, OpenAI's): `system` becomes
    /// `instructions`; messages become input items (text and images as message parts, an assistant's `tool_use`
    /// blocks `function_call` items, a user's `tool_result` blocks `function_call_output` items before the user's other
    /// content; `thinking` blocks are dropped: their signatures are Anthropic's); `tools` flat function tools,
    /// `tool_choice` the Responses one, `thinking.budget_tokens` `reasoning.effort` (as for chat), `max_tokens`
    /// `max_output_tokens`, `metadata.user_id` `user`. The Responses API has no stop sequences: `stop_sequences` is
    /// dropped here (a chat upstream gets it as `stop`). `store` is false: the client sends the whole conversation
    /// each turn, so the upstream need not keep it.
    public static func toResponses(_ body: JSONObject) -> Result<
        (responses: JSONObject, stream: Bool, model: String), TranslationError
    > {
        let common: Common
        switch Common.read(body) {
        case .success(let value): common = value
        case .failure(let error): return .failure(error)
        }
        var request: JSONObject = ["model": .string(common.model), "max_output_tokens": common.maxTokens, "store": false]
        if let system = common.system { request["instructions"] = .string(system) }
        var input: [JSONValue] = []
        for (index, item) in common.messages.enumerated() {
            switch inputItems(item, index: index) {
            case .success(let items): input.append(contentsOf: items)
            case .failure(let error): return .failure(error)
            }
        }
        request["input"] = .array(input)
        if let tools = common.tools {
            request["tools"] = .array(
                tools.map { function in
                    var flat: JSONObject = ["type": "function"]
                    for (key, value) in function { flat[key] = value }
                    return .object(flat)
                })
        }
        switch common.toolChoice {
        case .mode(let mode)?: request["tool_choice"] = .string(mode)
        case .function(let name)?: request["tool_choice"] = .object(["type": "function", "name": .string(name)])
        case nil: break
        }
        if common.oneToolAtATime { request["parallel_tool_calls"] = false }
        if let effort = common.reasoningEffort { request["reasoning"] = .object(["effort": .string(effort)]) }
        common.pass(into: &request)
        return .success((request, common.stream, common.model))
    }

    /// What both translations read the same way: the required fields, `system` as text, client tools, the tool
    /// choice, the thinking budget as an effort, and the parameters passed as they are.
    struct Common {
        enum ToolChoice {
            /// `auto`, `required` or `none`.
            case mode(String)
            /// One named function.
            case function(String)
        }

        var model: String
        var maxTokens: JSONValue
        var system: String?
        var messages: [JSONValue]
        /// Each tool's name, description and parameters.
        var tools: [JSONObject]?
        var toolChoice: ToolChoice?
        /// `disable_parallel_tool_use`.
        var oneToolAtATime = false
        var reasoningEffort: String?
        var stream: Bool
        private var passed: JSONObject = [:]

        static func read(_ body: JSONObject) -> Result<Common, TranslationError> {
            guard let model = body["model"]?.stringValue, !model.isEmpty else {
                return .failure(TranslationError(param: "model", message: "model: Field required"))
            }
            guard let maxTokens = body["max_tokens"], maxTokens.intValue != nil else {
                return .failure(TranslationError(param: "max_tokens", message: "max_tokens: Field required"))
            }
            let system: String?
            switch body["system"] {
            case .string(let text)?: system = text
            case .array(let blocks)?: system = blocks.compactMap { $0.objectValue?["text"]?.stringValue }.joined(separator: "\n")
            case nil, .null?: system = nil
            default:
                return .failure(TranslationError(param: "system", message: "system: must be a string or a list of text blocks"))
            }
            guard case .array(let messages)? = body["messages"] else {
                return .failure(TranslationError(param: "messages", message: "messages: Field required"))
            }
            var common = Common(
                model: model, maxTokens: maxTokens, system: system, messages: messages,
                reasoningEffort: MessagesRequest.reasoningEffort(body), stream: body["stream"]?.boolValue ?? false)
            if case .array(let tools)? = body["tools"], !tools.isEmpty {
                var converted: [JSONObject] = []
                for (index, tool) in tools.enumerated() {
                    switch clientTool(tool, index: index) {
                    case .success(let function): converted.append(function)
                    case .failure(let error): return .failure(error)
                    }
                }
                common.tools = converted
            }
            if let choice = body["tool_choice"]?.objectValue {
                switch choice["type"]?.stringValue {
                case "auto"?: common.toolChoice = .mode("auto")
                case "any"?: common.toolChoice = .mode("required")
                case "none"?: common.toolChoice = .mode("none")
                case "tool"?:
                    guard let name = choice["name"]?.stringValue else {
                        return .failure(TranslationError(param: "tool_choice.name", message: "tool_choice.name: Field required"))
                    }
                    common.toolChoice = .function(name)
                default:
                    return .failure(
                        TranslationError(param: "tool_choice.type", message: "tool_choice.type: must be auto, any, tool or none"))
                }
                common.oneToolAtATime = choice["disable_parallel_tool_use"]?.boolValue == true
            }
            for name in ["temperature", "top_p"] {
                if let value = body[name], value != .null { common.passed[name] = value }
            }
            if let user = body["metadata"]?.objectValue?["user_id"], user != .null { common.passed["user"] = user }
            if common.stream { common.passed["stream"] = true }
            return .success(common)
        }

        /// `temperature`, `top_p`, `metadata.user_id` as `user`, and `stream`, as both APIs take them.
        func pass(into request: inout JSONObject) {
            for (key, value) in passed { request[key] = value }
        }
    }

    /// The reasoning effort `thinking.budget_tokens` asks for (under 4,096 low, under 16,384 medium, else high), when
    /// thinking is enabled.
    static func reasoningEffort(_ body: JSONObject) -> String? {
        guard let thinking = body["thinking"]?.objectValue, thinking["type"]?.stringValue == "enabled" else { return nil }
        let budget = thinking["budget_tokens"]?.intValue ?? 0
        return budget < 4096 ? "low" : budget < 16384 ? "medium" : "high"
    }

    /// A client tool's name, description and parameters (`input_schema`); a server tool is refused.
    static func clientTool(_ tool: JSONValue, index: Int) -> Result<JSONObject, TranslationError> {
        guard let object = tool.objectValue, let name = object["name"]?.stringValue else {
            return .failure(TranslationError(param: "tools.\(index).name", message: "tools.\(index).name: Field required"))
        }
        if let type = object["type"]?.stringValue, type != "custom" {
            return .failure(
                TranslationError(
                    param: "tools.\(index).type",
                    message:
                        "tools.\(index): '\(type)' is a server tool; this model's upstream runs client tools "
                        + "(name, description, input_schema) only."))
        }
        var function: JSONObject = ["name": .string(name)]
        if let description = object["description"], description != .null { function["description"] = description }
        function["parameters"] = object["input_schema"] ?? .object(["type": "object"])
        return .success(function)
    }

    /// A `tool_result` block's content as text (`Error: ` before it when `is_error`).
    static func toolResultText(_ fields: JSONObject) -> String {
        var content: String
        switch fields["content"] {
        case .string(let text)?: content = text
        case .array(let inner)?: content = inner.compactMap { $0.objectValue?["text"]?.stringValue }.joined(separator: "\n")
        default: content = ""
        }
        if fields["is_error"]?.boolValue == true { content = "Error: " + content }
        return content
    }

    /// An image block's URL (a `data:` URL for base64), or the error naming what is wrong.
    static func imageURL(_ fields: JSONObject, param: String) -> Result<String, TranslationError> {
        guard let source = fields["source"]?.objectValue else {
            return .failure(TranslationError(param: "\(param).source", message: "\(param).source: Field required"))
        }
        switch source["type"]?.stringValue {
        case "base64"?:
            return .success(
                "data:\(source["media_type"]?.stringValue ?? "image/png");base64,\(source["data"]?.stringValue ?? "")")
        case "url"?: return .success(source["url"]?.stringValue ?? "")
        default:
            return .failure(
                TranslationError(param: "\(param).source.type", message: "\(param).source.type: must be base64 or url"))
        }
    }

    /// One Anthropic message's role and content: plain text, or blocks.
    enum MessageContent {
        case text(role: String, String)
        case blocks(role: String, [JSONValue])
    }

    /// A message's role (user or assistant) and content (a string or a list of blocks), or the error naming which.
    static func roleAndBlocks(_ item: JSONValue, index: Int) -> Result<MessageContent, TranslationError> {
        guard let object = item.objectValue, let role = object["role"]?.stringValue, role == "user" || role == "assistant"
        else {
            return .failure(
                TranslationError(param: "messages.\(index).role", message: "messages.\(index).role: must be user or assistant"))
        }
        switch object["content"] {
        case .string(let text)?: return .success(.text(role: role, text))
        case .array(let list)?: return .success(.blocks(role: role, list))
        default:
            return .failure(
                TranslationError(
                    param: "messages.\(index).content", message: "messages.\(index).content: must be a string or a list of blocks"
                ))
        }
    }

    /// The Responses input items for one Anthropic message (a user's tool results first, as `function_call_output`).
    static func inputItems(_ item: JSONValue, index: Int) -> Result<[JSONValue], TranslationError> {
        let role: String
        let blocks: [JSONValue]
        switch roleAndBlocks(item, index: index) {
        case .success(.text(let sender, let text)):
            return .success([.object(["role": .string(sender), "content": .string(text)])])
        case .success(.blocks(let sender, let list)): (role, blocks) = (sender, list)
        case .failure(let error): return .failure(error)
        }
        var results: [JSONValue] = []
        var parts: [JSONValue] = []
        var texts: [String] = []
        var calls: [JSONValue] = []
        for (position, block) in blocks.enumerated() {
            let param = "messages.\(index).content.\(position)"
            guard let fields = block.objectValue, let type = fields["type"]?.stringValue else {
                return .failure(TranslationError(param: param, message: "\(param).type: Field required"))
            }
            switch type {
            case "text":
                let text = fields["text"]?.stringValue ?? ""
                texts.append(text)
                parts.append(.object(["type": role == "user" ? "input_text" : "output_text", "text": .string(text)]))
            case "image":
                guard role == "user" else {
                    return .failure(TranslationError(param: param, message: "\(param): images go in user messages"))
                }
                switch imageURL(fields, param: param) {
                case .success(let url): parts.append(.object(["type": "input_image", "image_url": .string(url)]))
                case .failure(let error): return .failure(error)
                }
            case "tool_use":
                guard role == "assistant", let id = fields["id"]?.stringValue, let name = fields["name"]?.stringValue else {
                    return .failure(
                        TranslationError(param: param, message: "\(param): tool_use needs id and name, in an assistant message"))
                }
                calls.append(
                    .object([
                        "type": "function_call", "call_id": .string(id), "name": .string(name),
                        "arguments": .string((fields["input"] ?? .object([:])).encodedString()),
                    ]))
            case "tool_result":
                guard let id = fields["tool_use_id"]?.stringValue else {
                    return .failure(
                        TranslationError(param: "\(param).tool_use_id", message: "\(param).tool_use_id: Field required"))
                }
                results.append(
                    .object([
                        "type": "function_call_output", "call_id": .string(id), "output": .string(toolResultText(fields)),
                    ]))
            case "thinking", "redacted_thinking":
                continue
            default:
                return .failure(
                    TranslationError(
                        param: "\(param).type", message: "\(param).type: '\(type)' blocks cannot be translated"))
            }
        }
        var items = results
        if role == "assistant" {
            // The text the assistant said, then the calls it made.
            if !texts.isEmpty { items.append(.object(["role": "assistant", "content": .string(texts.joined())])) }
            items += calls
        } else if !parts.isEmpty || results.isEmpty {
            items.append(.object(["role": "user", "content": .array(parts)]))
        }
        return .success(items)
    }

    /// The chat messages for one Anthropic message (a user's tool results come first, as `tool` messages).
    static func message(_ item: JSONValue, index: Int) -> Result<[JSONValue], TranslationError> {
        let role: String
        let blocks: [JSONValue]
        switch roleAndBlocks(item, index: index) {
        case .success(.text(let sender, let text)):
            return .success([.object(["role": .string(sender), "content": .string(text)])])
        case .success(.blocks(let sender, let list)): (role, blocks) = (sender, list)
        case .failure(let error): return .failure(error)
        }
        var results: [JSONValue] = []
        var parts: [JSONValue] = []
        var texts: [String] = []
        var calls: [JSONValue] = []
        var hasImage = false
        for (position, block) in blocks.enumerated() {
            let param = "messages.\(index).content.\(position)"
            guard let fields = block.objectValue, let type = fields["type"]?.stringValue else {
                return .failure(TranslationError(param: param, message: "\(param).type: Field required"))
            }
            switch type {
            case "text":
                let text = fields["text"]?.stringValue ?? ""
                texts.append(text)
                parts.append(.object(["type": "text", "text": .string(text)]))
            case "image":
                let url: String
                switch imageURL(fields, param: param) {
                case .success(let value): url = value
                case .failure(let error): return .failure(error)
                }
                hasImage = true
                parts.append(.object(["type": "image_url", "image_url": .object(["url": .string(url)])]))
            case "tool_use":
                guard role == "assistant", let id = fields["id"]?.stringValue, let name = fields["name"]?.stringValue else {
                    return .failure(
                        TranslationError(param: param, message: "\(param): tool_use needs id and name, in an assistant message"))
                }
                calls.append(
                    .object([
                        "id": .string(id), "type": "function",
                        "function": .object([
                            "name": .string(name), "arguments": .string((fields["input"] ?? .object([:])).encodedString()),
                        ]),
                    ]))
            case "tool_result":
                guard let id = fields["tool_use_id"]?.stringValue else {
                    return .failure(
                        TranslationError(param: "\(param).tool_use_id", message: "\(param).tool_use_id: Field required"))
                }
                results.append(
                    .object(["role": "tool", "tool_call_id": .string(id), "content": .string(toolResultText(fields))]))
            case "thinking", "redacted_thinking":
                continue
            default:
                return .failure(
                    TranslationError(
                        param: "\(param).type",
                        message: "\(param).type: '\(type)' blocks cannot go to a Chat Completions upstream"))
            }
        }
        var messages = results
        if role == "assistant" {
            if !calls.isEmpty || !texts.isEmpty {
                var message: JSONObject = ["role": "assistant", "content": texts.isEmpty ? .null : .string(texts.joined())]
                if !calls.isEmpty { message["tool_calls"] = .array(calls) }
                messages.append(.object(message))
            }
        } else if hasImage {
            messages.append(.object(["role": "user", "content": .array(parts)]))
        } else if !texts.isEmpty || results.isEmpty {
            messages.append(.object(["role": "user", "content": .string(texts.joined(separator: "\n"))]))
        }
        return .success(messages)
    }
}
