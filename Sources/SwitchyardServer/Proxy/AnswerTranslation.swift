import Foundation
import NIOCore
import SwitchyardCore
import Synchronization

/// How an upstream's Chat Completions answer becomes the client's surface, for one attempt: a JSON answer whole,
/// a stream event by event. Surfaces the upstream speaks natively have none.
protocol AnswerTranslation: AnyObject, Sendable {
    /// The client's JSON answer for the upstream's, and the usage read on the way (nil when it has none).
    func json(_ answer: ByteBuffer, model: String?) throws(ProxyError) -> (body: ByteBuffer, usage: Usage?)
    /// What the client gets for one upstream data event (not `[DONE]`): frames, possibly none.
    func event(_ data: UnsafeBufferPointer<UInt8>) -> [UInt8]
    /// The same, for an event the relay has parsed already.
    func event(parsed: JSONObject) -> [UInt8]
    /// What the client gets when the upstream's stream ended well.
    func done() -> [UInt8]
    /// What the client gets when the stream broke.
    func failed(_ error: ProxyError) -> [UInt8]
    /// What the client gets for an upstream keep-alive (a comment-only event), so that nothing between them
    /// closes a quiet stream: Anthropic's `ping` event, else a comment.
    func keepAlive() -> [UInt8]
}

extension AnswerTranslation {
    /// A comment line: every SSE client skips it.
    func keepAlive() -> [UInt8] { Array(": keepalive\n\n".utf8) }

    /// A whole stream of upstream frames (the built-in mock's), translated.
    func translate(frames: [[UInt8]]) -> [UInt8] {
        var output: [UInt8] = []
        for frame in frames {
            let parsed = SSEEvent(bytes: frame)
            guard let data = parsed.data else { continue }
            if parsed.isDone {
                output += done()
            } else {
                output += data.withUnsafeBufferPointer { self.event($0) }
            }
        }
        return output
    }
}

/// The Responses API's answer from a Chat Completions upstream (`ResponsesAnswer`, `ResponsesStream`).
final class ResponsesTranslation: AnswerTranslation {
    private let echo: ResponsesEcho
    private let ids: ResponsesAnswer.IDs
    private let createdAt: Int
    private let completionIncludesReasoning: Bool
    /// One attempt's stream is translated by one task at a time; the lock only makes that safe to say. Made with
    /// the first event (a JSON answer needs none).
    private let stream = Mutex<ResponsesStream?>(nil)
    /// The conversation's input items (earlier turns included), kept with the answer when `store` is not false.
    let conversation: [JSONValue]
    /// The response's JSON text as the client got it, once it is whole (and is to be kept).
    private let completed = Mutex<String?>(nil)

    init(
        echo: ResponsesEcho, ids: ResponsesAnswer.IDs, createdAt: Int, completionIncludesReasoning: Bool,
        conversation: [JSONValue] = []
    ) {
        self.conversation = conversation
        self.echo = echo
        self.ids = ids
        self.createdAt = createdAt
        self.completionIncludesReasoning = completionIncludesReasoning
    }

    func json(_ answer: ByteBuffer, model: String?) throws(ProxyError) -> (body: ByteBuffer, usage: Usage?) {
        let turn = try ModelTurn.read(answer, from: model, completionIncludesReasoning: completionIncludesReasoning)
        let bytes = ResponsesAnswer.render(turn, echo: echo, ids: ids, createdAt: createdAt)
        // The store keeps the very text the client got.
        if keeps { completed.withLock { $0 = String(decoding: bytes, as: UTF8.self) } }
        return (ByteBuffer(bytes: bytes), turn.usage)
    }

    /// Whether the answer is kept (`store` is not false).
    var keeps: Bool { echo.store?.boolValue ?? true }

    /// The response's id.
    var responseID: String { ids.response }

    /// The whole response's JSON text, once the answer was complete (and is to be kept).
    var completedResponse: String? { completed.withLock { $0 } }

    func event(_ data: UnsafeBufferPointer<UInt8>) -> [UInt8] {
        render { translator in
            // Read from the bytes; parsed whole only when they are not plain JSON (an escaped key, say).
            if let events = translator.chunk(bytes: data) { return events }
            guard case .object(let chunk)? = try? JSONParser.parse(data) else { return [] }
            return translator.chunk(chunk)
        }
    }

    func event(parsed chunk: JSONObject) -> [UInt8] { render { translator in translator.chunk(chunk) } }

    func done() -> [UInt8] {
        render { translator in
            let events = translator.finish()
            if keeps, let response = events.last?["response"], response.objectValue?["status"] != "failed" {
                completed.withLock { $0 = response.encodedString() }
            }
            return events
        }
    }

    func failed(_ error: ProxyError) -> [UInt8] {
        render { translator in translator.fail(code: error.code, message: error.message) }
    }

    /// The frames of the events `make` returns, after the opening ones the first time.
    private func render(_ make: (inout ResponsesStream) -> [JSONObject]) -> [UInt8] {
        stream.withLock { state in
            var events: [JSONObject] = []
            var translator: ResponsesStream
            if let existing = state {
                translator = existing
                state = nil
            } else {
                translator = ResponsesStream(
                    echo: echo, ids: ids, createdAt: createdAt, completionIncludesReasoning: completionIncludesReasoning)
                events = translator.start()
            }
            events += make(&translator)
            state = translator
            var bytes: [UInt8] = []
            for event in events { bytes += ResponsesStream.frame(event) }
            return bytes
        }
    }
}

/// Anthropic's Messages API answer from a Chat Completions upstream (`MessagesAnswer`, `MessagesStream`).
final class MessagesTranslation: AnswerTranslation {
    private let id: String
    private let model: String
    private let completionIncludesReasoning: Bool
    private let stream: Mutex<MessagesStream>

    init(id: String, model: String, completionIncludesReasoning: Bool) {
        self.id = id
        self.model = model
        self.completionIncludesReasoning = completionIncludesReasoning
        self.stream = Mutex(MessagesStream(id: id, model: model, completionIncludesReasoning: completionIncludesReasoning))
    }

    func json(_ answer: ByteBuffer, model upstream: String?) throws(ProxyError) -> (body: ByteBuffer, usage: Usage?) {
        let turn = try ModelTurn.read(answer, from: upstream, completionIncludesReasoning: completionIncludesReasoning)
        return (ByteBuffer(bytes: MessagesAnswer.render(turn, id: id, model: model)), turn.usage)
    }

    func event(_ data: UnsafeBufferPointer<UInt8>) -> [UInt8] {
        // Read from the bytes; parsed whole only when they are not plain JSON.
        if let events = stream.withLock({ $0.chunk(bytes: data) }) { return Self.frames(events) }
        guard case .object(let chunk)? = try? JSONParser.parse(data) else { return [] }
        return event(parsed: chunk)
    }

    func event(parsed chunk: JSONObject) -> [UInt8] { Self.frames(stream.withLock { $0.chunk(chunk) }) }

    func done() -> [UInt8] { Self.frames(stream.withLock { $0.finish() }) }

    func keepAlive() -> [UInt8] { MessagesTranslation.frames(stream.withLock { $0.keepAlive() }) }

    func failed(_ error: ProxyError) -> [UInt8] {
        Self.frames(stream.withLock { $0.fail(status: error.status, message: error.message) })
    }

    static func frames(_ events: [JSONObject]) -> [UInt8] {
        var bytes: [UInt8] = []
        for event in events { bytes += MessagesStream.frame(event) }
        return bytes
    }
}

/// Anthropic's Messages API answer from an upstream's Responses API (`ModelTurn(response:)`, `MessagesAnswer`,
/// `MessagesStream.responsesEvent`).
final class MessagesFromResponsesTranslation: AnswerTranslation {
    private let id: String
    private let model: String
    private let stream: Mutex<MessagesStream>

    init(id: String, model: String) {
        self.id = id
        self.model = model
        // A Responses API's output tokens count reasoning, whoever serves it.
        self.stream = Mutex(MessagesStream(id: id, model: model, completionIncludesReasoning: true))
    }

    func json(_ answer: ByteBuffer, model upstream: String?) throws(ProxyError) -> (body: ByteBuffer, usage: Usage?) {
        let turn: ModelTurn
        // Read from the bytes; parsed when they are unusual.
        if let fast = answer.withUnsafeReadableBytes({ ModelTurn(responseBytes: $0.bindMemory(to: UInt8.self)) }) {
            turn = fast
        } else if case .object(let response)? = try? JSONParser.parse(answer.readableBytesView) {
            turn = ModelTurn(response: response)
        } else {
            throw ProxyError.upstreamBadResponse(upstream ?? "the upstream", reason: "its answer is not a JSON object")
        }
        return (ByteBuffer(bytes: MessagesAnswer.render(turn, id: id, model: model)), turn.usage)
    }

    func event(_ data: UnsafeBufferPointer<UInt8>) -> [UInt8] {
        // An event of a type the translation does not read is not parsed (`response.created` is the whole request).
        if let events = stream.withLock({ $0.responsesEvent(bytes: data) }) { return MessagesTranslation.frames(events) }
        guard case .object(let object)? = try? JSONParser.parse(data) else { return [] }
        return event(parsed: object)
    }

    func event(parsed event: JSONObject) -> [UInt8] { MessagesTranslation.frames(stream.withLock { $0.responsesEvent(event) }) }

    func done() -> [UInt8] { MessagesTranslation.frames(stream.withLock { $0.finish() }) }

    func keepAlive() -> [UInt8] { MessagesTranslation.frames(stream.withLock { $0.keepAlive() }) }

    func failed(_ error: ProxyError) -> [UInt8] {
        MessagesTranslation.frames(stream.withLock { $0.fail(status: error.status, message: error.message) })
    }
}

extension ModelTurn {
    /// The turn of an upstream's whole Chat Completions answer: read from its bytes, or parsed when they are unusual.
    static func read(_ answer: ByteBuffer, from upstream: String?, completionIncludesReasoning: Bool) throws(ProxyError)
        -> ModelTurn
    {
        let fast = answer.withUnsafeReadableBytes { raw in
            ModelTurn(chatBytes: raw.bindMemory(to: UInt8.self), completionIncludesReasoning: completionIncludesReasoning)
        }
        if let fast { return fast }
        guard case .object(let completion)? = try? JSONParser.parse(answer.readableBytesView) else {
            throw ProxyError.upstreamBadResponse(upstream ?? "the upstream", reason: "its answer is not a JSON object")
        }
        return ModelTurn(chat: completion, completionIncludesReasoning: completionIncludesReasoning)
    }
}

/// What a surface does to a request before the engine runs it, and to each attempt's answer: the upstream APIs it
/// can go to, in order of preference, each with its translation (none for the client's own API).
struct SurfaceAdapter: Sendable {
    /// The maker of an upstream request body from the client's, and of each attempt's answer translation.
    typealias Translate =
        @Sendable (JSONObject) throws(ProxyError) -> (
            JSONObject, @Sendable (Deployment) -> any AnswerTranslation
        )

    /// One upstream API a surface's request can go to.
    struct Form: Sendable {
        /// Its place in `forms`.
        let position: Int
        /// The upstream endpoint.
        let endpoint: UpstreamEndpoint
        /// The request's translation for it; nil when it takes the client's request as it is.
        let translate: Translate?
    }

    /// An adapter: `forms` in order of preference (a deployment gets the first whose endpoint it serves).
    init(
        forms: [(endpoint: UpstreamEndpoint, translate: Translate?)],
        errorBody: (@Sendable (ProxyError, Redactor) -> JSONValue)? = nil,
        check: @escaping @Sendable (JSONObject) throws(ProxyError) -> Void
    ) {
        self.forms = forms.enumerated().map {
            Form(position: $0.offset, endpoint: $0.element.endpoint, translate: $0.element.translate)
        }
        self.errorBody = errorBody
        self.check = check
    }

    /// The upstream APIs, in order of preference.
    let forms: [Form]
    /// The body of an error answer in the surface's own envelope; nil for OpenAI's.
    let errorBody: (@Sendable (ProxyError, Redactor) -> JSONValue)?
    /// Refuses a body no upstream would take (what is required, the types of what is given), before any attempt.
    let check: @Sendable (JSONObject) throws(ProxyError) -> Void

    /// The adapter of a surface the upstream does not speak, or nil for one relayed as is.
    static func forSurface(_ surface: ClientSurface) -> SurfaceAdapter? {
        switch surface {
        case .chatCompletions, .completions, .embeddings: nil
        case .responses: responses
        case .messages: messages
        }
    }

    /// Anthropic's Messages API: to an upstream's Responses API where it has one (xAI, OpenAI), else over Chat
    /// Completions; with Anthropic's error envelope.
    static let messages = SurfaceAdapter(
        forms: [(.responses, messagesToResponses), (.chatCompletions, messagesToChat)],
        errorBody: { error, redactor in MessagesAnswer.errorBody(status: error.status, message: redactor.redact(error.message)) }
    ) { body throws(ProxyError) in
        guard let model = body["model"]?.stringValue, !model.isEmpty else {
            throw ProxyError.invalidRequest("model: Field required", param: "model")
        }
        guard body["max_tokens"]?.intValue != nil else {
            throw ProxyError.invalidRequest("max_tokens: Field required", param: "max_tokens")
        }
        guard case .array? = body["messages"] else {
            throw ProxyError.invalidRequest("messages: Field required", param: "messages")
        }
    }

    private static let messagesToChat: Translate = { body throws(ProxyError) in
        let translated: (chat: JSONObject, stream: Bool, model: String)
        switch MessagesRequest.toChat(body) {
        case .success(let value): translated = value
        case .failure(let error): throw ProxyError.invalidRequest(error.message, param: error.param)
        }
        let id = "msg_" + Hex.random128()
        let model = translated.model
        return (
            translated.chat,
            { deployment in
                MessagesTranslation(
                    id: id, model: model, completionIncludesReasoning: deployment.provider?.completionIncludesReasoning ?? false)
            }
        )
    }

    private static let messagesToResponses: Translate = { body throws(ProxyError) in
        let translated: (responses: JSONObject, stream: Bool, model: String)
        switch MessagesRequest.toResponses(body) {
        case .success(let value): translated = value
        case .failure(let error): throw ProxyError.invalidRequest(error.message, param: error.param)
        }
        let id = "msg_" + Hex.random128()
        let model = translated.model
        return (translated.responses, { _ in MessagesFromResponsesTranslation(id: id, model: model) })
    }

    /// OpenAI's Responses API: natively to a provider that serves it, else over Chat Completions.
    static let responses = SurfaceAdapter(forms: [(.responses, nil), (.chatCompletions, responsesToChat)]) {
        body throws(ProxyError) in try ProxyEngine.check(body, endpoint: .responses)
    }

    private static let responsesToChat: Translate = { body throws(ProxyError) in
        let translated: TranslatedResponsesRequest
        switch ResponsesRequest.toChat(body) {
        case .success(let value): translated = value
        case .failure(let error): throw ProxyError.invalidRequest(error.message, param: error.param)
        }
        if let previous = body["previous_response_id"]?.stringValue {
            throw ProxyError(
                status: 404, type: "invalid_request_error", code: "previous_response_not_found",
                message: "Previous response with id '\(previous)' not found.", param: "previous_response_id")
        }
        let echo = translated.echo
        let conversation = translated.items
        let ids = ResponsesAnswer.IDs(stem: Hex.random128())
        let createdAt = Int(Date().timeIntervalSince1970)
        return (
            translated.chat,
            { deployment in
                ResponsesTranslation(
                    echo: echo, ids: ids, createdAt: createdAt,
                    completionIncludesReasoning: deployment.provider?.completionIncludesReasoning ?? false,
                    conversation: conversation)
            }
        )
    }
}
