/// Why a Responses request cannot be translated to Chat Completions: a 400 for the client, naming the field.
public struct TranslationError: Error, Sendable, Equatable {
    /// The field at fault, e.g. `input[2].type`.
    public let param: String
    /// What is wrong and what would do.
    public let message: String

    /// An error.
    public init(param: String, message: String) {
        self.param = param
        self.message = message
    }
}

/// What a translated answer echoes back of its request (the Responses object repeats its settings).
public struct ResponsesEcho: Sendable, Equatable {
    /// The model the client asked for (its alias).
    public var model: String
    /// `instructions` (nil: null).
    public var instructions: JSONValue?
    /// `tools`, as sent (nil: none).
    public var tools: JSONValue?
    /// `tool_choice`, as sent (nil: `auto`).
    public var toolChoice: JSONValue?
    /// `text`, as sent (nil: plain text).
    public var text: JSONValue?
    /// `reasoning`, as sent (nil: no effort, no summary).
    public var reasoning: JSONValue?
    /// `temperature`, `top_p`, `max_output_tokens`, `parallel_tool_calls` (nil: true), `store` (nil: true),
    /// `metadata` (nil: empty), `previous_response_id`, `user`, as sent (nil: null, where not said otherwise). The
    /// defaults are written as literals: most requests set none of these.
    public var temperature: JSONValue?
    public var topP: JSONValue?
    public var maxOutputTokens: JSONValue?
    public var parallelToolCalls: JSONValue?
    public var store: JSONValue?
    public var metadata: JSONValue?
    public var previousResponseID: JSONValue?
    public var user: JSONValue?

    /// An echo of `model` with the API's defaults.
    public init(model: String) {
        self.model = model
    }
}

/// A Responses request made into a Chat Completions request.
public struct TranslatedResponsesRequest: Sendable {
    /// The chat body (its `model` is still the client's alias; the engine rewrites it per deployment).
    public var chat: JSONObject
    /// Whether the client asked for a stream.
    public var stream: Bool
    /// What the answer repeats.
    public var echo: ResponsesEcho
    /// The conversation's input items (earlier turns, then this request's input; a string input as a user message):
    /// what is kept with the answer.
    public var items: [JSONValue] = []
}

/// OpenAI's Responses API over an upstream that has only Chat Completions: the request one way. Pure.
///
/// `input` (a string, or items: messages with text or image parts, `function_call` and `function_call_output`
/// items; `reasoning` items are dropped, as a chat upstream has no place for them), `instructions` (a system message
/// first), `tools` (function tools), `tool_choice`, `text.format` (`json_schema`, `json_object`), `reasoning.effort`,
/// `max_output_tokens`, `temperature`, `top_p`, `parallel_tool_calls`, `user`, `stream`. Tools other than
/// functions (web search, file search, code interpreter) need an upstream that runs them: a 400 says so.
public enum ResponsesRequest {
    /// Translates a Responses body; `history` is the stored conversation `previous_response_id` names (its input
    /// and output items, oldest first), placed before this request's input.
    public static func toChat(_ body: JSONObject, history: [JSONValue] = []) -> Result<
        TranslatedResponsesRequest, TranslationError
    > {
        guard let model = body["model"]?.stringValue, !model.isEmpty else {
            return .failure(TranslationError(param: "model", message: "model is required: name a model alias."))
        }
        var echo = ResponsesEcho(model: model)
        var chat: JSONObject = ["model": .string(model)]
        var messages: [JSONValue] = []
        if let instructions = body["instructions"], instructions != .null {
            guard let text = instructions.stringValue else {
                return .failure(TranslationError(param: "instructions", message: "instructions must be a string."))
            }
            echo.instructions = instructions
            messages.append(.object(["role": "system", "content": .string(text)]))
        }
        var items = history
        switch body["input"] {
        case .string(let text)?: items.append(.object(["role": "user", "content": .string(text)]))
        case .array(let list)?: items.append(contentsOf: list)
        case nil, .null?: if items.isEmpty { return .failure(TranslationError(param: "input", message: "input is required.")) }
        default: return .failure(TranslationError(param: "input", message: "input must be a string or a list of items."))
        }
        if history.isEmpty, case .string? = body["input"] {
            // The commonest request: one user message, the same object in both APIs.
            messages.append(contentsOf: items)
        } else {
            switch messagesFrom(items: items, offset: history.count) {
            case .success(let translated): messages.append(contentsOf: translated)
            case .failure(let error): return .failure(error)
            }
        }
        chat["messages"] = .array(messages)

        if let tools = body["tools"], tools != .null {
            guard case .array(let list) = tools else {
                return .failure(TranslationError(param: "tools", message: "tools must be a list."))
            }
            var converted: [JSONValue] = []
            for (index, tool) in list.enumerated() {
                guard let object = tool.objectValue, object["type"]?.stringValue == "function",
                    let name = object["name"]?.stringValue
                else {
                    let kind = tool.objectValue?["type"]?.stringValue ?? "?"
                    return .failure(
                        TranslationError(
                            param: "tools[\(index)]",
                            message:
                                "tools[\(index)] is a '\(kind)' tool; this model's upstream speaks Chat Completions, which "
                                + "runs function tools only (name, description, parameters). Use a model whose upstream "
                                + "has the Responses API for server-side tools."))
                }
                var function: JSONObject = ["name": .string(name)]
                if let description = object["description"], description != .null { function["description"] = description }
                if let parameters = object["parameters"], parameters != .null { function["parameters"] = parameters }
                if let strict = object["strict"], strict != .null { function["strict"] = strict }
                converted.append(.object(["type": "function", "function": .object(function)]))
            }
            echo.tools = tools
            if !converted.isEmpty { chat["tools"] = .array(converted) }
        }
        if let choice = body["tool_choice"], choice != .null {
            echo.toolChoice = choice
            switch choice {
            case .string(let mode) where ["auto", "none", "required"].contains(mode): chat["tool_choice"] = choice
            case .object(let object) where object["type"]?.stringValue == "function":
                guard let name = object["name"]?.stringValue else {
                    return .failure(TranslationError(param: "tool_choice.name", message: "tool_choice names no function."))
                }
                chat["tool_choice"] = .object(["type": "function", "function": .object(["name": .string(name)])])
            default:
                return .failure(
                    TranslationError(
                        param: "tool_choice", message: "tool_choice must be auto, none, required or {type: function, name}."))
            }
        }
        if let text = body["text"], text != .null {
            echo.text = text
            if let format = text.objectValue?["format"]?.objectValue {
                switch format["type"]?.stringValue {
                case "json_schema"?:
                    var schema: JSONObject = ["name": format["name"] ?? "response"]
                    if let value = format["schema"] { schema["schema"] = value }
                    if let strict = format["strict"], strict != .null { schema["strict"] = strict }
                    if let description = format["description"], description != .null { schema["description"] = description }
                    chat["response_format"] = .object(["type": "json_schema", "json_schema": .object(schema)])
                case "json_object"?: chat["response_format"] = .object(["type": "json_object"])
                case "text"?, nil: break
                case let other?:
                    return .failure(
                        TranslationError(
                            param: "text.format.type",
                            message: "text.format.type '\(other)' is not text, json_object or json_schema."))
                }
            }
        }
        if let reasoning = body["reasoning"], reasoning != .null {
            echo.reasoning = reasoning
            if let effort = reasoning.objectValue?["effort"], effort != .null { chat["reasoning_effort"] = effort }
        }
        if let value = body["max_output_tokens"], value != .null {
            echo.maxOutputTokens = value
            chat["max_completion_tokens"] = value
        }
        // Passed as they are, and echoed.
        func pass(_ name: String, _ slot: inout JSONValue?) {
            guard let value = body[name], value != .null else { return }
            slot = value
            chat[name] = value
        }
        pass("temperature", &echo.temperature)
        pass("top_p", &echo.topP)
        pass("user", &echo.user)
        pass("parallel_tool_calls", &echo.parallelToolCalls)
        if let value = body["store"], value != .null { echo.store = value }
        if let value = body["metadata"], value != .null { echo.metadata = value }
        if let value = body["previous_response_id"], value != .null { echo.previousResponseID = value }
        let stream = body["stream"]?.boolValue ?? false
        if stream { chat["stream"] = true }
        return .success(TranslatedResponsesRequest(chat: chat, stream: stream, echo: echo, items: items))
    }

    /// Chat messages for Responses input items. Consecutive `function_call` items become one assistant message with
    /// tool calls (a chat upstream wants them together, before their outputs).
    static func messagesFrom(items: [JSONValue], offset: Int) -> Result<[JSONValue], TranslationError> {
        var messages: [JSONValue] = []
        var pendingCalls: [JSONValue] = []
        func flushCalls() {
            guard !pendingCalls.isEmpty else { return }
            messages.append(.object(["role": "assistant", "content": .null, "tool_calls": .array(pendingCalls)]))
            pendingCalls = []
        }
        for (position, item) in items.enumerated() {
            // Named only when something is wrong (an interpolated string per item was a fifth of a translation).
            var param: String { position >= offset ? "input[\(position - offset)]" : "previous_response_id" }
            guard let object = item.objectValue else {
                return .failure(TranslationError(param: param, message: "\(param) must be an object."))
            }
            let type = object["type"]?.stringValue ?? (object["role"] != nil ? "message" : "")
            switch type {
            case "message":
                flushCalls()
                guard let role = object["role"]?.stringValue, Self.isRole(role) else {
                    return .failure(
                        TranslationError(
                            param: "\(param).role", message: "\(param).role must be user, assistant, system or developer."))
                }
                switch content(of: object["content"], role: role, param: { "\(param).content" }) {
                case .success(let value):
                    messages.append(.object(["role": .string(role == "developer" ? "system" : role), "content": value]))
                case .failure(let error): return .failure(error)
                }
            case "function_call":
                guard let callID = object["call_id"]?.stringValue, let name = object["name"]?.stringValue else {
                    return .failure(
                        TranslationError(param: param, message: "\(param) (a function_call) needs call_id and name."))
                }
                pendingCalls.append(
                    .object([
                        "id": .string(callID), "type": "function",
                        "function": .object([
                            "name": .string(name), "arguments": object["arguments"] ?? .string("{}"),
                        ]),
                    ]))
            case "function_call_output":
                flushCalls()
                guard let callID = object["call_id"]?.stringValue else {
                    return .failure(
                        TranslationError(param: "\(param).call_id", message: "\(param) (a function_call_output) needs call_id."))
                }
                let output: JSONValue
                switch object["output"] {
                case .string(let text)?: output = .string(text)
                case let other?: output = .string(other.encodedString())
                case nil: output = ""
                }
                messages.append(.object(["role": "tool", "tool_call_id": .string(callID), "content": output]))
            case "reasoning":
                continue  // a chat upstream has no place for reasoning items (nor encrypted content)
            default:
                return .failure(
                    TranslationError(
                        param: "\(param).type",
                        message:
                            "\(param).type '\(type)' cannot go to a Chat Completions upstream (message, function_call, "
                            + "function_call_output and reasoning can)."))
            }
        }
        flushCalls()
        return .success(messages)
    }

    /// Whether `role` is a message role the Responses API takes.
    static func isRole(_ role: String) -> Bool {
        switch role {
        case "user", "assistant", "system", "developer": true
        default: false
        }
    }

    /// A message's content as Chat Completions takes it: a string stays one; parts become chat parts. `param` names
    /// the content in an error.
    static func content(of value: JSONValue?, role: String, param name: () -> String) -> Result<JSONValue, TranslationError> {
        var param: String { name() }
        switch value {
        case .string?: return .success(value ?? "")
        case .array(let parts)?:
            var texts: [String] = []
            var chatParts: [JSONValue] = []
            var hasImage = false
            for (index, part) in parts.enumerated() {
                guard let object = part.objectValue, let type = object["type"]?.stringValue else {
                    return .failure(TranslationError(param: "\(param)[\(index)]", message: "each content part needs a type."))
                }
                switch type {
                case "input_text", "output_text", "text":
                    let text = object["text"]?.stringValue ?? ""
                    texts.append(text)
                    chatParts.append(.object(["type": "text", "text": .string(text)]))
                case "input_image":
                    hasImage = true
                    let url = object["image_url"] ?? object["file_id"] ?? .null
                    var image: JSONObject = ["url": url]
                    if let detail = object["detail"], detail != .null { image["detail"] = detail }
                    chatParts.append(.object(["type": "image_url", "image_url": .object(image)]))
                case "refusal":
                    texts.append(object["refusal"]?.stringValue ?? "")
                default:
                    return .failure(
                        TranslationError(
                            param: "\(param)[\(index)].type",
                            message: "content part type '\(type)' cannot go to a Chat Completions upstream."))
                }
            }
            // Text alone goes as a string (every chat upstream takes that); images need the parts.
            if hasImage, role == "user" { return .success(.array(chatParts)) }
            return .success(.string(texts.joined()))
        case nil, .null?: return .success("")
        default: return .failure(TranslationError(param: param, message: "\(param) must be a string or a list of parts."))
        }
    }
}
