import HTTPTypes
import Hummingbird
import NIOCore
import NIOHTTP1
import NIOHTTPTypes
import SwitchyardCore
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// The completion routes' way in: a channel handler in the HTTP/1.1 pipeline, ahead of Hummingbird, that takes
/// `POST /v1/chat/completions`, `/v1/completions` and `/v1/embeddings` (with or without `/v1`), reads the body
/// on the connection's event loop and runs the engine in one task, writing the answer straight to the channel.
/// Every other request, and any request that arrives while Hummingbird still owes an answer on the connection,
/// passes on to Hummingbird's router unchanged.
///
/// What this saves per request is Hummingbird's machinery around the handler: the async inbound stream of
/// request parts, the request body as an async sequence, the router, the request context and the async outbound
/// writer, each with its own state machine and hops between the event loop and the task pool.
///
/// Loop confinement: every stored property is read and written on the channel's event loop only; the task
/// reaches the handler through `loop.execute`.
final class CompletionFront: ChannelDuplexHandler, RemovableChannelHandler, @unchecked Sendable {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    private enum State {
        /// Between requests.
        case idle
        /// The current request goes to Hummingbird.
        case forwarding
        /// A completion request whose body is being read; `over` once it passed the limit (the rest is dropped).
        case collecting(head: HTTPRequest, endpoint: UpstreamEndpoint, body: ByteBuffer, limit: Int)
        /// The engine is answering; requests pipelined meanwhile wait in `queued`.
        case responding
    }

    /// Which requests this front answers: the endpoint for a method and path, or nil to pass it on.
    typealias Route = @Sendable (HTTPRequest.Method, String?) -> UpstreamEndpoint?
    /// The answer to a request, given its body already read whole (at most the limit and one byte more).
    typealias Answer = @Sendable (Request, ByteBuffer, UpstreamEndpoint) async -> Response

    let serverName: String
    private let bodyLimit: @Sendable () -> Int
    private let route: Route
    private let answerRequest: Answer
    private var state = State.idle
    private var context: ChannelHandlerContext?
    /// Requests handed to Hummingbird whose answers have not ended.
    private var hummingbirdOwes = 0
    /// Parts that arrived while the engine was answering.
    private var queued: [HTTPRequestPart] = []
    /// A read the pipeline asked for while the engine was answering.
    private var readPending = false
    /// A quiesce (graceful shutdown) that arrived while a request of ours was open.
    private var quiescePending = false
    /// The task answering the current request.
    private var task: Task<Void, Never>?
    /// Close the connection once the current answer ends (`connection: close`).
    private var closeAfterAnswer = false
    /// An error that arrived while the engine was answering, passed on once the answer ended.
    private var deferredError: (any Error)?
    /// Runs this connection's answering tasks on its event loop (made with the first one).
    private var executor: (any Sendable)?
    /// The HTTP/1 response encoder's place in the pipeline, for a stream's chunks written ready-framed.
    private var encoder: ChannelHandlerContext?
    /// Whether the stream being answered is sent chunked, its chunks framed here (set with its head).
    private var framesChunks = false

    /// A front answering what `route` picks with `answer`, reading bodies up to `bodyLimit()` bytes (one more is
    /// kept, so the answer can tell a body too large).
    init(serverName: String, bodyLimit: @escaping @Sendable () -> Int, route: @escaping Route, answer: @escaping Answer) {
        self.serverName = serverName
        self.bodyLimit = bodyLimit
        self.route = route
        self.answerRequest = answer
    }

    /// The proxy's front: its completion routes, answered by the engine in force.
    convenience init(store: EngineStore, serverName: String) {
        self.init(
            serverName: serverName, bodyLimit: { store.current.table.settings.maxRequestBodyBytes },
            route: { Self.endpoint(method: $0, path: $1) },
            answer: { request, body, endpoint in
                await store.current.handleCompletion(request, body: body, endpoint: endpoint)
            })
    }

    /// The endpoint of a completion route (`/v1/chat/completions`, `/v1/completions`, `/v1/embeddings`, the
    /// `/v1` optional unless `versioned`), or nil.
    static func endpoint(method: HTTPRequest.Method, path: String?, versioned: Bool = false) -> UpstreamEndpoint? {
        guard method == .post, var path = path?.utf8[...] else { return nil }
        if let query = path.firstIndex(of: UInt8(ascii: "?")) { path = path[..<query] }
        if path.count > 1, path.last == UInt8(ascii: "/") { path = path.dropLast() }
        if path.starts(with: "/v1/".utf8) {
            path = path.dropFirst(3)
        } else if versioned {
            return nil
        }
        if path.elementsEqual("/chat/completions".utf8) { return .chatCompletions }
        if path.elementsEqual("/completions".utf8) { return .completions }
        if path.elementsEqual("/embeddings".utf8) { return .embeddings }
        return nil
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        encoder = try? context.pipeline.syncOperations.context(handlerType: HTTPResponseEncoder.self)
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
        encoder = nil
    }

    // MARK: Inbound

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let part = unwrapInboundIn(data)
        if case .responding = state {
            queued.append(part)
            return
        }
        process(part, context: context)
    }

    private func process(_ part: HTTPRequestPart, context: ChannelHandlerContext) {
        switch (state, part) {
        case (.idle, .head(let head)):
            if hummingbirdOwes == 0, let endpoint = route(head.method, head.path) {
                let limit = bodyLimit()
                // Sized from content-length, but at most 256 KiB up front: a client that claims a large body and
                // sends it slowly does not get the memory before the bytes.
                let expected = head.headerFields[.contentLength].flatMap { Int($0) } ?? 0
                let body = context.channel.allocator.buffer(capacity: min(max(expected, 0), limit + 1, 256 * 1024))
                state = .collecting(head: head, endpoint: endpoint, body: body, limit: limit)
            } else {
                hummingbirdOwes += 1
                state = .forwarding
                context.fireChannelRead(wrapInboundOut(part))
            }
        case (.forwarding, _):
            if case .end = part { state = .idle }
            context.fireChannelRead(wrapInboundOut(part))
        case (.collecting(let head, let endpoint, var body, let limit), .body(var chunk)):
            state = .idle  // lets `body` be appended to in place
            // One byte past the limit is kept so the engine answers 413, as it does for any body too large.
            let room = limit + 1 - body.readableBytes
            if room > 0 {
                if chunk.readableBytes > room { chunk = chunk.getSlice(at: chunk.readerIndex, length: room) ?? chunk }
                body.writeBuffer(&chunk)
            }
            state = .collecting(head: head, endpoint: endpoint, body: body, limit: limit)
        case (.collecting(let head, let endpoint, let body, _), .end):
            answer(head: head, endpoint: endpoint, body: body, context: context)
        case (.idle, .body), (.idle, .end), (.collecting, .head), (.responding, _):
            // A part out of order: the HTTP decoder does not produce these; close rather than guess.
            context.close(promise: nil)
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        switch state {
        case .collecting:
            // Our request's bytes were malformed (a parse error mid-body): it will not end, so it is dropped and
            // Hummingbird answers the error (400, connection closed) as it does for any request.
            state = .idle
            context.fireErrorCaught(error)
        case .responding:
            // A malformed request behind ours: it is answered after ours, so the answers stay in order.
            deferredError = error
        case .idle, .forwarding:
            context.fireErrorCaught(error)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        // The client went away: the engine's upstream call is cancelled and the request logged as closed.
        task?.cancel()
        context.fireChannelInactive()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is ChannelShouldQuiesceEvent, isOpen {
            quiescePending = true
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    /// Whether a request of ours has started and not been answered.
    private var isOpen: Bool {
        switch state {
        case .collecting, .responding: true
        case .idle, .forwarding: false
        }
    }

    // MARK: Outbound

    func read(context: ChannelHandlerContext) {
        if case .responding = state {
            readPending = true
            return
        }
        context.read()
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        // Hummingbird's answers pass through; an ended one may let a waiting request of ours start.
        if case .end = unwrapOutboundIn(data) { hummingbirdOwes = max(0, hummingbirdOwes - 1) }
        context.write(data, promise: promise)
    }

    // MARK: Answering

    private func answer(head: HTTPRequest, endpoint: UpstreamEndpoint, body: ByteBuffer, context: ChannelHandlerContext) {
        state = .responding
        closeAfterAnswer = head.headerFields[.connection].map { $0.lowercased().contains("close") } ?? false
        let request = Request(head: head, body: RequestBody(buffer: body))
        let answerRequest = self.answerRequest
        let writer = ChannelAnswerWriter(front: self, channel: context.channel)
        if #available(macOS 15, *) {
            // The task runs on this connection's event loop: reading, the engine, the upstream call (its connection
            // is taken on this loop too) and the answer happen on one thread, with no hop to the task pool and back.
            executor = executor ?? EventLoopTaskExecutor(loop: context.eventLoop)
            task = Task(executorPreference: executor as? EventLoopTaskExecutor) {
                let response = await answerRequest(request, body, endpoint)
                await writer.write(response)
            }
        } else {
            task = Task {
                let response = await answerRequest(request, body, endpoint)
                await writer.write(response)
            }
        }
    }

    /// Writes parts of the answer; on the event loop.
    fileprivate func send(_ parts: [HTTPResponsePart], flush: Bool, promise: EventLoopPromise<Void>?) {
        guard let context else {
            promise?.fail(ChannelError.ioOnClosedChannel)
            return
        }
        for (index, part) in parts.enumerated() {
            context.write(wrapOutboundOut(part), promise: index == parts.count - 1 ? promise : nil)
        }
        if flush { context.flush() }
    }

    /// Writes a stream's chunk (after its head, the first time) and flushes; on the event loop.
    ///
    /// The head goes through the HTTP/1 codecs, which pick the framing and write it. A stream's head has no
    /// length, so on HTTP/1.1 its body is chunked: each chunk is then framed here, in one buffer, and written
    /// from the encoder's place in the pipeline, skipping the HTTP-types conversion and the encoder's three
    /// writes per chunk. The end still goes through both, so the encoder writes the last chunk.
    fileprivate func send(head: HTTPResponse?, body: ByteBuffer, promise: EventLoopPromise<Void>?) {
        guard let context else {
            promise?.fail(ChannelError.ioOnClosedChannel)
            return
        }
        if let head {
            context.write(wrapOutboundOut(.head(head)), promise: nil)
            framesChunks = encoder != nil && Self.isChunked(head)
        }
        guard framesChunks, let encoder else {
            context.writeAndFlush(wrapOutboundOut(.body(body)), promise: promise)
            return
        }
        guard body.readableBytes > 0 else {
            // An empty chunk would end the body: nothing to write.
            context.flush()
            promise?.succeed()
            return
        }
        var framed = context.channel.allocator.buffer(capacity: body.readableBytes + 20)
        Self.writeChunkHeader(body.readableBytes, to: &framed)
        framed.writeImmutableBuffer(body)
        framed.writeStaticString("\r\n")
        encoder.writeAndFlush(NIOAny(IOData.byteBuffer(framed)), promise: promise)
    }

    /// Whether HTTP/1.1's response encoder sends a body after `head` chunked: a status that has a body and
    /// neither a length nor a transfer coding of its own (the codec always answers as HTTP/1.1).
    static func isChunked(_ head: HTTPResponse) -> Bool {
        let code = head.status.code
        return code >= 200 && code != 204 && code != 304 && head.headerFields[.contentLength] == nil
            && head.headerFields[.transferEncoding] == nil
    }

    /// `SIZE\r\n`, the size in lower-case hex.
    static func writeChunkHeader(_ size: Int, to buffer: inout ByteBuffer) {
        var shift = 0
        while size >> (shift + 4) > 0 { shift += 4 }
        while shift >= 0 {
            let digit = UInt8((size >> shift) & 0xF)
            buffer.writeInteger(digit < 10 ? UInt8(ascii: "0") + digit : UInt8(ascii: "a") + digit - 10)
            shift -= 4
        }
        buffer.writeStaticString("\r\n")
    }

    /// The answer ended (or could not be written); on the event loop. Requests that waited go on.
    fileprivate func answered() {
        task = nil
        state = .idle
        framesChunks = false
        guard let context else { return }
        if closeAfterAnswer {
            context.close(promise: nil)
            return
        }
        if !queued.isEmpty {
            while !queued.isEmpty, !isResponding {
                process(queued.removeFirst(), context: context)
            }
            // Parts passed on outside a read cycle reach Hummingbird's async channel only at a read-complete.
            context.fireChannelReadComplete()
        }
        // A queued completion started: what follows waits for its answer.
        if isResponding { return }
        if let error = deferredError {
            deferredError = nil
            context.fireErrorCaught(error)
            return
        }
        if quiescePending {
            quiescePending = false
            context.fireUserInboundEventTriggered(ChannelShouldQuiesceEvent())
        }
        if readPending {
            readPending = false
            context.read()
        }
    }

    private var isResponding: Bool {
        if case .responding = state { return true }
        return false
    }
}

/// Writes an engine's `Response` to the channel from the answering task. A body of known length (a JSON answer)
/// goes out with its head in one flush; a stream's chunks are flushed one by one, and when the channel's
/// outbound buffer is over its high-water mark the writer waits for the last chunk to reach the socket.
private struct ChannelAnswerWriter: Sendable {
    let front: CompletionFront
    let channel: any Channel

    func write(_ response: Response) async {
        var head = response.head
        head.headerFields[.date] = HTTPDate.now
        head.headerFields[.server] = front.serverName
        let ended = EndFlag()
        let body = ChunkWriter(
            front: front, channel: channel, head: head, buffered: response.body.contentLength != nil, ended: ended)
        do {
            try await response.body.write(body)
            if ended.value.load(ordering: .relaxed) { return }
        } catch {}
        // The client went away or the body stopped without ending: the connection cannot carry another answer.
        channel.eventLoop.execute { [front, channel] in
            channel.close(promise: nil)
            front.answered()
        }
    }
}

/// Runs a task's jobs on an event loop: a task started by a channel handler then stays on the channel's thread.
/// Only short, non-blocking work belongs there; the engine's request path is such (the request log and the
/// database run elsewhere).
@available(macOS 15, *)
final class EventLoopTaskExecutor: TaskExecutor, @unchecked Sendable {
    let loop: any EventLoop

    init(loop: any EventLoop) {
        self.loop = loop
    }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        loop.execute { job.runSynchronously(on: self.asUnownedTaskExecutor()) }
    }
}

/// Whether an answer's end was sent.
private final class EndFlag: Sendable {
    let value = Atomic<Bool>(false)
}

/// The `ResponseBodyWriter` the engine's bodies write into.
private struct ChunkWriter: ResponseBodyWriter, Sendable {
    let front: CompletionFront
    let channel: any Channel
    let head: HTTPResponse
    /// Hold writes until `finish` (a body of known length); otherwise each write is flushed at once.
    let buffered: Bool
    /// Set once the end has been sent.
    let ended: EndFlag
    private var headSent = false
    private var held: [ByteBuffer] = []

    init(front: CompletionFront, channel: any Channel, head: HTTPResponse, buffered: Bool, ended: EndFlag) {
        self.front = front
        self.channel = channel
        self.head = head
        self.buffered = buffered
        self.ended = ended
    }

    mutating func write(_ buffer: ByteBuffer) async throws {
        if buffered {
            held.append(buffer)
            return
        }
        guard channel.isActive else { throw ChannelError.ioOnClosedChannel }
        let head: HTTPResponse? = headSent ? nil : self.head
        headSent = true
        // A promise (and a wait for it) only when the channel's buffer is already over its high-water mark: the
        // usual event costs one write and one flush, nothing allocated but the part.
        let wait = !channel.isWritable
        let promise = wait ? channel.eventLoop.makePromise(of: Void.self) : nil
        if channel.eventLoop.inEventLoop {
            front.send(head: head, body: buffer, promise: promise)
        } else {
            channel.eventLoop.execute { [front] in front.send(head: head, body: buffer, promise: promise) }
        }
        if let promise { try await promise.futureResult.get() }
    }

    consuming func finish(_ trailingHeaders: HTTPFields?) async throws {
        var parts: [HTTPResponsePart] = []
        if !headSent { parts.append(.head(head)) }
        parts += held.map { .body($0) }
        parts.append(.end(trailingHeaders))
        ended.value.store(true, ordering: .relaxed)
        // Not waited for: the task ends here, and a failed write closes the channel, which is all there is to do.
        if channel.eventLoop.inEventLoop {
            front.send(parts, flush: true, promise: nil)
            front.answered()
        } else {
            channel.eventLoop.execute { [front, parts] in
                front.send(parts, flush: true, promise: nil)
                front.answered()
            }
        }
    }
}

/// The `date` header's value, made at most once a second.
enum HTTPDate {
    private static let cache = Mutex<(second: Int, text: String)>((-1, ""))
    private static let days = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]
    private static let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]

    /// Now, as `Thu, 26 Nov 2026 06:30:00 GMT`.
    static var now: String {
        let second = time(nil)
        return cache.withLock { cache in
            if cache.second == second { return cache.text }
            var parts = tm()
            var clock = second
            gmtime_r(&clock, &parts)
            func two(_ value: Int32) -> String { value < 10 ? "0\(value)" : "\(value)" }
            let text =
                "\(days[Int(parts.tm_wday)]), \(two(parts.tm_mday)) \(months[Int(parts.tm_mon)]) \(1900 + parts.tm_year) "
                + "\(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec)) GMT"
            cache = (second, text)
            return text
        }
    }
}
