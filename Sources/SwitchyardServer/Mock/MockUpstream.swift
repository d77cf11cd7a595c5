import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdCore
import HummingbirdTLS
import Logging
import NIOCore
import NIOPosix
import NIOSSL
import SwitchyardCore
import Synchronization

/// A standalone HTTP server that behaves like xAI's API (see shared/xai-upstream.md): flat error bodies,
/// rejected parameters, reasoning deltas, the usage chunk, and faults chosen by magic words in the prompt.
///
/// Its models, their parameter rejections, context windows and prices come from a model catalog (the shipped one
/// unless `options.catalog` says otherwise), so the mock and the proxy read the same facts; a mock fed a row the
/// proxy lacks answers with the 400 xAI would, which is how a proxy behind on its catalog shows up. The checks
/// that are not model facts (content type, names on non-user messages, tool counts) are written here.
public struct MockUpstream: Sendable {
    /// Options.
    public let options: MockUpstreamOptions
    /// What it has seen.
    public let recorder: MockRecorder
    /// Where requests whose prompt says `FAULT:hold` wait until it opens.
    public let held = HoldGate()
    private let counter = ResponseCounter()
    private let promptCache = PromptCache()
    /// Responses this mock made, which a `previous_response_id` may name (xAI keeps them for the key that made them).
    let responseIDs = ResponseIDs()
    /// The models it serves, from the catalog.
    let models: MockModels

    /// Creates a mock upstream.
    public init(options: MockUpstreamOptions = MockUpstreamOptions(), recorder: MockRecorder = MockRecorder()) {
        self.options = options
        self.recorder = recorder
        self.models = MockModels(catalog: options.catalog)
    }

    /// A router serving the xAI routes under `/v1`.
    public func buildRouter() -> Router<BasicRequestContext> {
        let router = Router(context: BasicRequestContext.self)
        router.get("/v1/models") { _, _ in
            let data: [JSONValue] = self.models.listed.map {
                .object(["id": .string($0), "created": 1_700_000_000, "object": "model", "owned_by": "xai"])
            }
            return Self.json(.object(["object": "list", "data": .array(data)]))
        }
        router.post("/v1/chat/completions") { request, _ in await self.handle(request, kind: .chatCompletions) }
        router.post("/v1/completions") { request, _ in await self.handle(request, kind: .completions) }
        router.post("/v1/embeddings") { request, _ in await self.handle(request, kind: .embeddings) }
        router.post("/v1/responses") { request, _ in await self.handle(request, kind: .responses) }
        // xAI keeps a response (unless `store` was false) for the key that made it: GET and DELETE by id.
        router.get("/v1/responses/:id") { request, context in self.keptResponse(request, id: context.parameters.get("id")) }
        router.delete("/v1/responses/:id") { request, context in
            self.keptResponse(request, id: context.parameters.get("id"), delete: true)
        }
        router.get("/_mock/requests") { _, _ in
            let items: [JSONValue] = self.recorder.requests.map { recorded in
                .object([
                    "path": .string(recorded.path),
                    "headers": .object(
                        JSONObject(recorded.headers.sorted { $0.key < $1.key }.map { ($0.key, .string($0.value)) })),
                    "body": recorded.body ?? .null,
                ])
            }
            return Self.json(.array(items))
        }
        // Opens the `FAULT:hold` gate: a standalone mock has no other way to let held requests go on.
        router.post("/_mock/release") { _, _ in
            let released = await self.held.open()
            return Self.json(.object(["released": .number(String(released))]))
        }
        return router
    }

    /// The mock as a Hummingbird application (HTTPS when `options.tls` is set); `onRunning` receives the bound port.
    public func application(logger: Logger, onRunning: @escaping @Sendable (Int) async -> Void = { _ in }) throws
        -> some ApplicationProtocol
    {
        // The completion routes are answered by a front ahead of the router, as in the proxy: the mock then costs
        // the benchmarks' direct path (and the CPU it shares with the proxy) what a lean upstream would.
        let front = HTTPServerBuilder.fronted {
            CompletionFront(
                serverName: "switchyard-mock", bodyLimit: { 64 * 1024 * 1024 },
                // xAI's Anthropic-compatible route is gone: the router answers it 404, as xAI does.
                route: { method, path in
                    CompletionFront.surface(method: method, path: path, versioned: true).flatMap {
                        $0 == .messages ? nil : $0
                    }
                },
                answer: { request, body, surface in
                    await self.handle(request, body: body, kind: surface == .responses ? .responses : surface.upstream)
                })
        }
        var server = front
        if let tls = options.tls {
            let chain = try NIOSSLCertificate.fromPEMFile(tls.certificateFile).map { NIOSSLCertificateSource.certificate($0) }
            let key = try NIOSSLPrivateKey(file: tls.keyFile, format: .pem)
            server = try .tls(
                front, tlsConfiguration: .makeServerConfiguration(certificateChain: chain, privateKey: .privateKey(key)))
        }
        return Application(
            router: buildRouter(),
            server: server,
            configuration: .init(
                address: .hostname(options.host, port: options.port), serverName: "switchyard-mock",
                backlog: ProxyServer.listenBacklog),
            onServerRunning: { channel in await onRunning(channel.localAddress?.port ?? 0) },
            logger: logger)
    }

    // MARK: Responses

    static func json(_ value: JSONValue, status: HTTPResponse.Status = .ok) -> Response {
        Response(
            status: status, headers: [.contentType: "application/json"],
            body: .init(byteBuffer: ByteBuffer(bytes: value.encodedBytes())))
    }

    /// xAI's flat error body.
    static func flatError(_ status: HTTPResponse.Status, code: String, message: String) -> Response {
        json(.object(["code": .string(code), "error": .string(message)]), status: status)
    }

    static func text(_ status: HTTPResponse.Status, _ body: String, contentType: String = "text/plain") -> Response {
        Response(status: status, headers: [.contentType: contentType], body: .init(byteBuffer: ByteBuffer(string: body)))
    }

    static let rateLimitHeaders: HTTPFields = [
        HTTPField.Name("x-ratelimit-limit-requests")!: "480",
        HTTPField.Name("x-ratelimit-remaining-requests")!: "479",
        HTTPField.Name("x-ratelimit-limit-tokens")!: "2000000",
        HTTPField.Name("x-ratelimit-remaining-tokens")!: "1999000",
    ]

    // MARK: Handling

    func handle(_ request: Request, body: ByteBuffer? = nil, kind: UpstreamEndpoint) async -> Response {
        let bytes: ByteBuffer
        if let body {
            bytes = body
        } else {
            bytes = (try? await request.body.collect(upTo: 64 * 1024 * 1024)) ?? ByteBuffer()
        }
        let parsed = try? JSONParser.parse(bytes.readableBytesView)
        if options.recordRequests {
            var headers: [String: String] = [:]
            for field in request.headers { headers[field.name.canonicalName] = field.value }
            recorder.record(RecordedRequest(path: request.uri.path, headers: headers, body: parsed))
        }
        guard let authorization = request.headers[.authorization], authorization.lowercased().hasPrefix("bearer ") else {
            return Self.flatError(
                .unauthorized, code: "Unauthenticated",
                message: "No API key provided. Provide an API key in the Authorization header as a Bearer token.")
        }
        let key = String(authorization.dropFirst(7))
        if let required = options.requiredKey, key != required {
            return Self.flatError(
                .badRequest, code: "Client specified an invalid argument",
                message:
                    "Incorrect API key provided: \(Self.maskLikeXAI(key)). You can obtain an API key from https://console.x.ai.")
        }
        guard request.headers[.contentType]?.lowercased().hasPrefix("application/json") == true else {
            return Self.flatError(
                .unsupportedMediaType, code: "Unsupported Media Type",
                message: "Expected request with `Content-Type: application/json`")
        }
        guard case .object(var body)? = parsed else {
            return Self.text(
                .unprocessableContent,
                "Failed to deserialize the JSON body into the target type: expected value at line 1 column 1")
        }
        // xAI's Responses API: the request is read as the chat request it means (one set of checks and answers),
        // and answered in the Responses shape.
        var responses: (echo: ResponsesEcho, encrypted: Bool)?
        if kind == .responses {
            if let previous = body["previous_response_id"]?.stringValue {
                // The mock keeps the ids it made, not their conversations: a known id is accepted and dropped.
                guard responseIDs.contains(previous) else {
                    return Self.flatError(
                        .notFound, code: "Some requested entity was not found", message: "Response \(previous) not found.")
                }
                body.removeValue(forKey: "previous_response_id")
            }
            switch ResponsesRequest.toChat(body) {
            case .success(let translated):
                let include = body["include"]?.arrayValue?.compactMap(\.stringValue) ?? []
                responses = (translated.echo, include.contains("reasoning.encrypted_content"))
                body = translated.chat
                if translated.stream { body["stream_options"] = .object(["include_usage": true]) }
            case .failure(let error):
                return Self.flatError(.badRequest, code: "Client specified an invalid argument", message: error.message)
            }
        }
        let requested = body["model"]?.stringValue ?? ""
        guard let model = models.model(named: requested) else {
            return Self.flatError(
                .notFound, code: "Some requested entity was not found",
                message: "The model \(requested) does not exist or your team does not have access to it.")
        }
        let answeredModel = model.answeredAs
        if let rejection = Self.rejection(of: body, model: model, kind: kind) { return rejection }
        let window = options.contextWindow ?? model.facts.contextWindow ?? 131_072
        let promptTokens = MockCompletion.promptTokens(of: body)
        if kind != .embeddings, promptTokens > window {
            return Self.flatError(
                .badRequest, code: "Client specified an invalid argument",
                message: "This model's maximum prompt length is \(window) but the request contains \(promptTokens) tokens.")
        }
        let prompt = MockCompletion.lastUserText(in: body)
        if let fault = await fault(in: prompt, body: body, key: key, model: model, responses: responses?.echo) {
            return fault
        }
        if options.firstByteLatency > .zero { try? await Self.pause(for: options.firstByteLatency) }
        let number = counter.next()
        let id = "\(Hex.uuid().prefix(8))-\(number)"
        switch kind {
        case .embeddings:
            let inputs: [String]
            switch body["input"] {
            case .string(let text)?: inputs = [text]
            case .array(let items)?: inputs = items.compactMap(\.stringValue)
            default: inputs = []
            }
            return Self.json(MockCompletion.embeddings(model: answeredModel, inputs: inputs))
        case .responses:
            let completion = makeCompletion(id: id, model: model, prompt: prompt, body: body)
            return respond(completion, as: responses ?? (ResponsesEcho(model: requested), false), id: id, body: body)
        case .completions, .chatCompletions:
            let completion = makeCompletion(id: id, model: model, prompt: prompt, body: body)
            if body["stream"]?.boolValue == true {
                let includeUsage = body["stream_options"]?.objectValue?["include_usage"]?.boolValue == true
                return stream(completion.streamFrames(includeUsage: includeUsage))
            }
            var response = Self.json(kind == .chatCompletions ? completion.chatCompletion : completion.textCompletion)
            response.headers.append(contentsOf: Self.rateLimitHeaders)
            return response
        }
    }

    func makeCompletion(id: String, model: MockModel, prompt: String, body: JSONObject) -> MockCompletion {
        let padding = options.paddingBytes > 0 ? " " + String(repeating: "x", count: options.paddingBytes) : ""
        let content = MockToolCall.answerAfterTool(in: body) ?? "You said: \(prompt)\(padding)"
        // A reasoning model thinks unless the request (or the name's redirect) sets its effort to none.
        let effort = body["reasoning_effort"]?.stringValue ?? model.servedEffort
        let reasons = model.facts.reasoning && effort != "none"
        let reasoning: String? = reasons ? "The user wrote \(prompt.count) characters; answer briefly." : nil
        var completion = MockCompletion(
            id: "chatcmpl-\(id)", model: model.answeredAs, created: Int(Date().timeIntervalSince1970), content: content,
            reasoning: reasoning, reasoningInMessage: reasons, promptTokens: MockCompletion.promptTokens(of: body),
            contentChunks: options.chunks, emptyDeltas: model.requested.hasPrefix("grok-code-fast") ? 3 : 0)
        completion.reasoningInStream = reasons
        if let call = MockToolCall.planned(for: body, prompt: prompt, id: "call_\(id)") { completion.toolCalls = [call] }
        completion.cachedTokens = min(completion.promptTokens, promptCache.cachedTokens(for: body))
        if options.sendsCostTicks { completion.costTicks = completion.costTicks(at: model.facts.pricing) }
        return completion
    }

    /// A completion in the Responses shape, JSON or a stream of `response.*` events (no `[DONE]`, as xAI ends
    /// them); with `include: ["reasoning.encrypted_content"]`, reasoning items carry an opaque `encrypted_content`.
    func respond(
        _ completion: MockCompletion, as responses: (echo: ResponsesEcho, encrypted: Bool), id: String, body: JSONObject
    ) -> Response {
        let ids = ResponsesAnswer.IDs(stem: "mock" + id.replacingOccurrences(of: "-", with: ""))
        responseIDs.insert(ids.response)
        let created = Int(Date().timeIntervalSince1970)
        func sealed(_ item: JSONValue) -> JSONValue {
            guard responses.encrypted, case .object(var object) = item, object["type"] == "reasoning" else { return item }
            object["encrypted_content"] = .string("xai-mock-encrypted-\(id)")
            return .object(object)
        }
        guard body["stream"]?.boolValue == true else {
            guard case .object(let chat) = completion.chatCompletion else { return Self.json(.null) }
            var response = ResponsesAnswer.response(
                fromChat: chat, echo: responses.echo, ids: ids, createdAt: created, completionIncludesReasoning: false)
            response["output"] = .array((response["output"]?.arrayValue ?? []).map(sealed))
            if responses.echo.store != false { responseIDs.keep(ids.response, .object(response)) }
            return Self.json(.object(response))
        }
        var translator = ResponsesStream(
            echo: responses.echo, ids: ids, createdAt: created, completionIncludesReasoning: false)
        var events = translator.start()
        for frame in completion.streamFrames(includeUsage: true) {
            let event = SSEEvent(bytes: frame)
            guard let data = event.data else { continue }
            if event.isDone {
                events += translator.finish()
            } else if case .object(let chunk)? = try? JSONParser.parse(data) {
                events += translator.chunk(chunk)
            }
        }
        if responses.echo.store != false, let response = events.last?["response"] {
            responseIDs.keep(ids.response, response)
        }
        return stream(
            events.map { event in
                var event = event
                if let item = event["item"] { event["item"] = sealed(item) }
                return ResponsesStream.frame(event)
            })
    }

    /// A kept response, or its deletion; xAI's 404 for one it does not keep (or the wrong key's).
    func keptResponse(_ request: Request, id: String?, delete: Bool = false) -> Response {
        if options.recordRequests {
            var headers: [String: String] = [:]
            for field in request.headers { headers[field.name.canonicalName] = field.value }
            // A request without a body is recorded with its method, as `{"method": ...}`.
            recorder.record(
                RecordedRequest(
                    path: request.uri.path, headers: headers, body: .object(["method": .string(request.method.rawValue)])))
        }
        let key = request.headers[.authorization].map { String($0.dropFirst(7)) }
        if let required = options.requiredKey, key != required {
            return Self.flatError(.unauthorized, code: "Unauthorized", message: "Incorrect API key provided.")
        }
        guard let id, let response = delete ? responseIDs.forget(id) : responseIDs.kept(id) else {
            return Self.flatError(
                .notFound, code: "Some requested entity was not found", message: "Response \(id ?? "") not found.")
        }
        if delete { return Self.json(.object(["id": .string(id), "object": "response", "deleted": true])) }
        return Self.json(response)
    }

    /// `presence_penalty` as xAI names it in its errors: `presencePenalty`.
    static func camelCase(_ name: String) -> String {
        let parts = name.split(separator: "_")
        guard let first = parts.first else { return name }
        return String(first) + parts.dropFirst().map { $0.prefix(1).uppercased() + $0.dropFirst() }.joined()
    }

    /// xAI masks keys it echoes as the first two and last two characters.
    static func maskLikeXAI(_ key: String) -> String {
        guard key.count > 4 else { return "***" }
        return "\(key.prefix(2))***\(key.suffix(2))"
    }

    /// The 400/410 xAI gives for a parameter the model does not take, or nil. The model's rules are the catalog's.
    static func rejection(of body: JSONObject, model: MockModel, kind: UpstreamEndpoint) -> Response? {
        func invalid(_ message: String) -> Response {
            flatError(.badRequest, code: "Client specified an invalid argument", message: message)
        }
        if body["search_parameters"] != nil {
            return flatError(
                .gone, code: "Live search is deprecated",
                message:
                    "Live search is deprecated and search_parameters is no longer supported. Please switch to the Agent "
                    + "Tools API: https://docs.x.ai/docs/guides/tools/overview")
        }
        for rule in model.facts.paramRules {
            guard let value = body[rule.parameter] else { continue }
            let unsupported = "Model \(model.requested) does not support parameter \(camelCase(rule.parameter))."
            switch rule.action {
            case .unsupported, .drop:
                return invalid(unsupported)
            case .reasoningEffort(let accepted):
                guard let effort = value.stringValue, accepted.contains(effort) else {
                    return invalid(
                        "Invalid reasoning effort \(value.encodedString()) for model \(model.requested): "
                            + "expected one of \(accepted.joined(separator: ", ")).")
                }
            case .clampMaximum(let maximum):
                if let number = value.doubleValue, number > Double(maximum) {
                    return invalid("\(rule.parameter) must be at most \(maximum)")
                }
            case .onlyWhenStreaming:
                if body["stream"]?.boolValue != true { return invalid("\(rule.parameter) is only allowed when stream is true") }
            case .rename:
                break  // xAI still takes a deprecated name
            }
        }
        if case .array(let tools)? = body["tools"], tools.count > 128 {
            return flatError(.badRequest, code: "Client specified an invalid argument", message: "At most 128 tools")
        }
        if kind == .chatCompletions, case .array(let messages)? = body["messages"] {
            for message in messages {
                guard let object = message.objectValue, object["name"] != nil, object["role"]?.stringValue != "user"
                else { continue }
                return flatError(
                    .badRequest, code: "Client specified an invalid argument",
                    message: "Only messages of role 'user' can have a name.")
            }
        }
        return nil
    }

    /// A fault chosen by a magic word in the prompt, or nil.
    func fault(in prompt: String, body: JSONObject, key: String, model: MockModel, responses: ResponsesEcho? = nil) async
        -> Response?
    {
        // Searched on the prompt's bytes in place: Foundation's `range(of:)` was a tenth of the mock's CPU per
        // request, and walking `String.UTF8View` indices still a twentieth.
        var text = prompt
        let marker = Array("FAULT:".utf8)
        let found: Int? = text.withUTF8 { bytes in
            guard bytes.count >= marker.count else { return nil }
            return (0...(bytes.count - marker.count)).first { start in
                bytes[start] == marker[0] && marker.indices.allSatisfy { bytes[start + $0] == marker[$0] }
            }
        }
        guard let found else { return nil }
        let after = prompt.utf8.index(prompt.utf8.startIndex, offsetBy: found + marker.count)
        let word = Substring(prompt.utf8[after...]).prefix { $0.isLetter || $0.isNumber || $0 == "-" }
        let streaming = body["stream"]?.boolValue == true
        switch word {
        case "500":
            return Self.flatError(.internalServerError, code: "Internal error", message: "Service temporarily failed")
        case "503":
            return Self.flatError(.serviceUnavailable, code: "Unavailable", message: "The service is currently unavailable")
        case "429", "429-retry-after":
            // xAI sends no Retry-After with its 429s; `429-retry-after` is an upstream that does.
            var response = Self.flatError(
                .tooManyRequests, code: "Some resource has been exhausted",
                message: "Too many tokens for team 00000000 and model grok-code-fast-1. Try again later.")
            response.headers.append(contentsOf: Self.rateLimitHeaders)
            if word == "429-retry-after" { response.headers[.retryAfter] = "2" }
            return response
        case "400":
            return Self.flatError(
                .badRequest, code: "Client specified an invalid argument", message: "The request was rejected by the upstream")
        case "html":
            return Self.text(
                .badGateway, "<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>",
                contentType: "text/html")
        case "non-json":
            return Self.text(.internalServerError, "upstream exploded; key=\(key)")
        case "echo-key":
            return Self.flatError(
                .badRequest, code: "Client specified an invalid argument",
                message: "Incorrect API key provided: \(key). Authorization: Bearer \(key)")
        case "json-on-stream":
            return Self.flatError(
                .ok, code: "The service is currently unavailable", message: "Timed out waiting for first token")
        case "slow":
            try? await Task.sleep(for: .seconds(3))
            return nil
        case "hold":
            await held.wait()
            return nil
        case "drip":
            // The head at once, then the JSON body a tenth at a time, 300 ms apart (3 s in all).
            let completion = makeCompletion(id: "drip", model: model, prompt: prompt, body: body)
            let bytes = completion.chatCompletion.encodedBytes()
            let piece = max(1, (bytes.count + 9) / 10)
            return Response(
                status: .ok, headers: [.contentType: "application/json"],
                body: ResponseBody { writer in
                    for start in stride(from: 0, to: bytes.count, by: piece) {
                        if start > 0 { try await Task.sleep(for: .milliseconds(300)) }
                        try await writer.write(ByteBuffer(bytes: bytes[start..<min(start + piece, bytes.count)]))
                    }
                    try await writer.finish(nil)
                })
        case "empty-stream":
            return Response(status: .ok, headers: [.contentType: "text/event-stream"], body: .init())
        case "think":
            // A reasoning model that thinks before its first event: the stream's head at once, its events 2 s later.
            guard streaming else { return nil }
            let completion = makeCompletion(id: "think", model: model, prompt: prompt, body: body)
            let includeUsage = body["stream_options"]?.objectValue?["include_usage"]?.boolValue == true
            return stream(
                Self.inAPI(completion.streamFrames(includeUsage: includeUsage), responses), thinkFirst: .seconds(2))
        case "abrupt", "stall", "error-event", "keepalive":
            guard streaming else { return Self.text(.ok, "{\"id\":\"chatcmpl-trunc", contentType: "application/json") }
            let completion = makeCompletion(id: "fault", model: model, prompt: prompt, body: body)
            var frames = Array(completion.streamFrames(includeUsage: false).prefix(3))
            switch word {
            case "error-event":
                frames = Self.inAPI(frames, responses)
                let message = "Internal failure while generating; key \(key)"
                // xAI's error event: a chat stream's `{"error": {...}}`, the Responses API's `error` event.
                frames.append(
                    responses == nil
                        ? MockCompletion.frame(
                            JSONValue.object([
                                "error": .object(["message": .string(message), "type": "server_error", "code": "500"])
                            ]).encodedBytes())
                        : ResponsesStream.frame(
                            ["type": "error", "code": "server_error", "message": .string(message), "sequence_number": 99]))
                return stream(frames)
            case "stall":
                return stream(Self.inAPI(frames, responses), stallAfter: .seconds(5))
            case "keepalive":
                frames = completion.streamFrames(includeUsage: responses != nil)
                frames.insert(Array(": keepalive\n\n".utf8), at: 1)
                frames.insert(Array(": keepalive\n\n".utf8), at: 3)
            default: break
            }
            return stream(Self.inAPI(frames, responses))
        default:
            return nil
        }
    }

    /// A fault's chat frames as the request's API has them: as they are, or (`responses`: a Responses API request)
    /// the Responses events they make, ending where they end (a stream cut short stays cut short); comments stay.
    static func inAPI(_ frames: [[UInt8]], _ responses: ResponsesEcho?) -> [[UInt8]] {
        guard let responses else { return frames }
        var translator = ResponsesStream(
            echo: responses, ids: ResponsesAnswer.IDs(stem: "mockfault"), createdAt: Int(Date().timeIntervalSince1970),
            completionIncludesReasoning: false)
        var events = translator.start().map(ResponsesStream.frame)
        for frame in frames {
            let event = SSEEvent(bytes: frame)
            if event.isCommentOnly {
                events.append(frame)
            } else if event.isDone {
                events += translator.finish().map(ResponsesStream.frame)
            } else if let data = event.data, case .object(let chunk)? = try? JSONParser.parse(data) {
                events += translator.chunk(chunk).map(ResponsesStream.frame)
            }
        }
        return events
    }

    /// Waits `duration`: on the event loop running the handler (where the front runs it), with a timer of the
    /// loop's own; elsewhere with `Task.sleep`. Both end early, throwing, when the task is cancelled. The loop's
    /// timer is what lets one mock pace thousands of streams: `Task.sleep` goes through Dispatch's timer thread
    /// and a worker thread per wake-up, which cost the mock more than writing the frame (benchmarks, session 10).
    static func pause(for duration: Duration) async throws {
        guard let loop = MultiThreadedEventLoopGroup.currentEventLoop else {
            return try await Task.sleep(for: duration)
        }
        try Task.checkCancellation()
        let timer = loop.scheduleTask(in: TimeAmount(duration)) {}
        do {
            try await withTaskCancellationHandler {
                try await timer.futureResult.get()
            } onCancel: {
                timer.cancel()
            }
        } catch EventLoopError.cancelled {
            throw CancellationError()
        }
    }

    /// A streamed answer: each frame written (and flushed) on its own, `chunkInterval` apart.
    func stream(_ frames: [[UInt8]], stallAfter stall: Duration? = nil, thinkFirst think: Duration? = nil) -> Response {
        let interval = options.chunkInterval
        let keepalive = options.keepaliveComment
        let recorder = self.recorder
        var headers: HTTPFields = [.contentType: "text/event-stream", .cacheControl: "no-cache"]
        headers.append(contentsOf: Self.rateLimitHeaders)
        return Response(
            status: .ok, headers: headers,
            body: ResponseBody { writer in
                do {
                    if let think {
                        // The head goes out alone (an empty write sends it), then nothing while the model thinks.
                        try await writer.write(ByteBuffer())
                        try await Self.pause(for: think)
                    }
                    if keepalive { try await writer.write(ByteBuffer(string: ": keepalive\n\n")) }
                    for (index, frame) in frames.enumerated() {
                        if index > 0, interval > .zero { try await Self.pause(for: interval) }
                        try await writer.write(ByteBuffer(bytes: frame))
                        recorder.streamWrote(frame.count)
                    }
                    if let stall {
                        try await Task.sleep(for: stall)
                        try await writer.write(ByteBuffer(string: ": still here\n\n"))
                    }
                    try await writer.finish(nil)
                    recorder.streamFinished(cancelled: false)
                } catch {
                    recorder.streamFinished(cancelled: true)
                    throw error
                }
            })
    }
}

/// The Responses ids a mock made.
final class ResponseIDs: Sendable {
    private let ids = Mutex<Set<String>>([])
    /// The responses kept (`store` not false), by id; at most 10,000, the oldest forgotten first.
    private let responses = Mutex<(byID: [String: JSONValue], order: [String])>(([:], []))

    func insert(_ id: String) {
        ids.withLock { ids in
            if ids.count > 100_000 { ids.removeAll() }
            ids.insert(id)
        }
    }

    func contains(_ id: String) -> Bool { ids.withLock { $0.contains(id) } }

    /// Keeps a response for GET and DELETE.
    func keep(_ id: String, _ response: JSONValue) {
        responses.withLock { kept in
            if kept.byID.updateValue(response, forKey: id) == nil { kept.order.append(id) }
            if kept.order.count > 10_000 {
                for old in kept.order.prefix(1_000) { kept.byID.removeValue(forKey: old) }
                kept.order.removeFirst(1_000)
            }
        }
    }

    func kept(_ id: String) -> JSONValue? { responses.withLock { $0.byID[id] } }

    /// Forgets a kept response (a later `previous_response_id` naming it is not found either); nil when none.
    func forget(_ id: String) -> JSONValue? {
        ids.withLock { _ = $0.remove(id) }
        return responses.withLock { $0.byID.removeValue(forKey: id) }
    }
}

/// Numbers responses so every id is unique.
final class ResponseCounter: Sendable {
    private let value = Atomic<Int>(0)

    /// The next number, from 1.
    func next() -> Int { value.add(1, ordering: .relaxed).newValue }
}

/// xAI's prompt cache, roughly: a request whose messages before the last one were all sent before (as the
/// start of an earlier request) has those messages' tokens served from cache.
///
/// A run of messages is remembered as a 64-bit FNV-1a digest of their JSON, each message encoded once: the
/// benchmarks' direct path runs through here, and keeping and hashing whole encodings byte by byte (twice per
/// request) was a fifth of the mock's work.
final class PromptCache: Sendable {
    private let seen = Mutex<Set<UInt64>>([])

    func cachedTokens(for body: JSONObject) -> Int {
        guard case .array(let messages)? = body["messages"], !messages.isEmpty else { return 0 }
        var digest: UInt64 = 0xcbf2_9ce4_8422_2325
        var prefixDigest = digest
        var encoded: [UInt8] = []
        for (index, message) in messages.enumerated() {
            if index == messages.count - 1 { prefixDigest = digest }
            encoded.removeAll(keepingCapacity: true)
            message.encode(into: &encoded)
            // A separator, so that message boundaries count.
            encoded.append(0)
            for byte in encoded { digest = (digest ^ UInt64(byte)) &* 0x100_0000_01b3 }
        }
        let hasPrefix = messages.count > 1
        let hit = seen.withLock { [digest] seen -> Bool in
            let hit = hasPrefix && seen.contains(prefixDigest)
            if seen.count > 10_000 { seen.removeAll() }
            seen.insert(digest)
            if hasPrefix { seen.insert(prefixDigest) }
            return hit
        }
        guard hit else { return 0 }
        return messages.dropLast().reduce(0) { $0 + 4 + MockCompletion.tokenCount($1.objectValue?["content"]?.stringValue ?? "") }
    }
}

/// A gate requests wait at until it opens, for tests that need requests in flight until they say so (however
/// slowly a loaded machine runs them).
public actor HoldGate {
    private var isOpen = false
    private var waiting: [CheckedContinuation<Void, Never>] = []

    /// Returns once the gate is open.
    public func wait() async {
        if isOpen { return }
        await withCheckedContinuation { waiting.append($0) }
    }

    /// Lets every waiting request and every later one through; returns how many were waiting.
    @discardableResult
    public func open() -> Int {
        isOpen = true
        let released = waiting.count
        for request in waiting { request.resume() }
        waiting = []
        return released
    }
}
