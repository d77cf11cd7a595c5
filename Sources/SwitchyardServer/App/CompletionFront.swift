import HTTPTypes
import Hummingbird
import NIOCore
import NIOHTTP1
import NIOHTTPTypesHTTP1
import SwitchyardCore
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// The completion routes' way in: a channel handler between the socket and NIO's HTTP/1 decoder, ahead of
/// Hummingbird, that reads request heads itself (`RequestHead`), takes `POST /v1/chat/completions`,
/// `/v1/completions` and `/v1/embeddings` (with or without `/v1`) with their bodies on the connection's event loop,
/// runs the engine in one task and writes the answer to the socket as bytes it renders itself. Every other request,
/// and any request that arrives while Hummingbird still owes an answer on the connection, passes on to the
/// decoder and Hummingbird as the bytes it arrived as; a head the reader does not take (malformed, chunked, an
/// upgrade) hands the rest of the connection to them.
///
/// What this saves per request is NIO's request decoder and the conversion of its head to HTTP types,
/// Hummingbird's machinery around the handler (the async inbound stream of request parts, the body as an async
/// sequence, the router, the request context, the async outbound writer, each with hops between the event loop
/// and the task pool) and the response encoder's header-by-header writes. The requests it answers never reach
/// the decoder or the encoder, so their bookkeeping (the methods the encoder pairs answers with) stays that of
/// Hummingbird's requests only.
///
/// Loop confinement: every stored property is read and written on the channel's event loop only; the task
/// reaches the handler through `loop.execute`.
final class CompletionFront: ChannelDuplexHandler, RemovableChannelHandler, @unchecked Sendable {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    typealias OutboundIn = HTTPServerResponsePart
    typealias OutboundOut = HTTPServerResponsePart

    private enum State {
        /// Between requests: the next bytes start a head.
        case idle
        /// A request that goes to Hummingbird: this many bytes of its body are still to pass on.
        case forwarding(remaining: Int)
        /// Everything goes to Hummingbird from now on (a head the reader did not take).
        case passingOn
        /// A completion request whose body is being read (at most `limit` bytes and one more are kept).
        case collecting(head: RequestHead, endpoint: ClientSurface, body: ByteBuffer, remaining: Int, limit: Int)
        /// The engine is answering; bytes that arrive meanwhile wait in `pending`.
        case responding
    }

    /// How the body of an answer is delimited on the wire.
    enum Framing: Equatable {
        /// By the answer's `content-length`: the bytes go out as they are.
        case length
        /// Chunked (HTTP/1.1, no length known): each write is one chunk, and the end writes the last chunk.
        case chunked
        /// By closing the connection (an HTTP/1.0 client, no length known).
        case untilClose
        /// The status has no body (1xx, 204, 304): body bytes are dropped.
        case none
    }

    /// Which requests this front answers: the API surface for a method and request target, or nil to pass it on.
    typealias Route = @Sendable (HTTPMethod, String) -> ClientSurface?
    /// The answer to a request, given its body already read whole (at most the limit and one byte more).
    typealias Answer = @Sendable (Request, ByteBuffer, ClientSurface) async -> Response

    let serverName: String
    private let bodyLimit: @Sendable () -> Int
    private let route: Route
    private let answerRequest: Answer
    /// The most head bytes read before giving the request to the decoder (which refuses it).
    private let maxHeadBytes: Int
    private var state = State.idle
    private var context: ChannelHandlerContext?
    /// Requests handed to Hummingbird whose answers have not ended.
    private var hummingbirdOwes = 0
    /// Bytes received and not yet taken: part of a head, or whatever arrived while the engine was answering.
    private var pending = ByteBuffer()
    /// How much of `pending` was already searched for the end of a head.
    private var headScanned = 0
    /// A read the pipeline asked for while the engine was answering with bytes already pending.
    private var readPending = false
    /// A quiesce (graceful shutdown) that arrived while a request of ours was open.
    private var quiescePending = false
    /// The task answering the current request.
    private var task: Task<Void, Never>?
    /// Close the connection once the current answer ends (`connection: close`, or an HTTP/1.0 client).
    private var closeAfterAnswer = false
    /// Whether the client reads chunked bodies (HTTP/1.1 or later).
    private var acceptsChunked = true
    /// Runs this connection's answering tasks on its event loop (made with the first one).
    private var executor: (any Sendable)?
    /// The HTTP/1 response encoder's place in the pipeline: the front's bytes are written from there, past it.
    private var encoder: ChannelHandlerContext?
    /// How the body of the answer being written is framed (set with its head).
    private var framing = Framing.length
    /// Called once the client's socket takes more again (or the connection closes).
    private var writableWaiters: [() -> Void] = []
    /// How long a client may take (`general_settings.client_*_timeout`, `keep_alive_timeout`).
    private let clientTimeouts: @Sendable () -> ClientTimeouts
    /// Body bytes of a request refused from its head (declared too large), read and dropped.
    private var discarding = 0
    /// When the client's time runs out in the current wait (a head, a body, the next request); nil while the
    /// proxy itself is answering or Hummingbird owns the bytes.
    private var deadline: NIODeadline?
    /// When a head's first byte arrived: the head timeout counts from there, not from its latest byte.
    private var headStarted: NIODeadline?
    /// Whether a request has been read on this connection (before one, the wait is a head's).
    private var readARequest = false
    /// The one timer of the connection and when it fires; it is moved only when a deadline comes earlier, and on
    /// firing checks the deadline again (so a read costs a clock reading, not a timer).
    private var timer: Scheduled<Void>?
    private var timerFires: NIODeadline?
    /// Whether a deadline that found nothing read yet was put off once, so that bytes already in the socket are
    /// read before the connection is judged silent (a busy loop can run the timer before the read).
    private var silenceRechecked = false
    /// Closing after a 408 while the client may still be sending: what it sends is read and dropped.
    private var lingering = false

    /// A front answering what `route` picks with `answer`, reading bodies up to `bodyLimit()` bytes (one more is
    /// kept, so the answer can tell a body too large).
    init(
        serverName: String, bodyLimit: @escaping @Sendable () -> Int, route: @escaping Route, answer: @escaping Answer,
        maxHeadBytes: Int = 80 * 1024, clientTimeouts: @escaping @Sendable () -> ClientTimeouts = { ClientTimeouts() }
    ) {
        self.clientTimeouts = clientTimeouts
        self.serverName = serverName
        self.bodyLimit = bodyLimit
        self.route = route
        self.answerRequest = answer
        self.maxHeadBytes = maxHeadBytes
    }

    /// The proxy's front: its completion routes, answered by the engine in force.
    convenience init(store: EngineStore, serverName: String) {
        self.init(
            serverName: serverName, bodyLimit: { store.bodyLimit },
            route: { Self.surface(method: $0, path: $1) },
            answer: { request, body, surface in
                await store.current.handle(request, body: body, surface: surface)
            }, clientTimeouts: { store.clientTimeouts })
    }

    /// The API surface of a `POST` to one of `ClientSurface`'s routes (the `/v1` optional unless `versioned`), or nil.
    static func surface(method: HTTPMethod, path: String?, versioned: Bool = false) -> ClientSurface? {
        guard method == .POST, let path else { return nil }
        return ClientSurface.match(post: path.utf8[...], versioned: versioned)
    }

    /// The request as HTTP types have it, for the engine: the first `host` field becomes the authority (and is
    /// not among the fields), as Hummingbird's conversion does. The usual names are made once (`knownNames`).
    static func request(_ head: RequestHead) -> HTTPRequest {
        var fields = HTTPFields()
        fields.reserveCapacity(head.fields.count)
        var host: String?
        head.fields.forEachField { name, value in
            if host == nil, name.equalsLowercased(hostUTF8) {
                host = String(decoding: value, as: UTF8.self)
                return
            }
            guard let name = knownName(name) ?? HTTPField.Name(String(decoding: name, as: UTF8.self)) else { return }
            fields.append(HTTPField(name: name, value: String(decoding: value, as: UTF8.self)))
        }
        return HTTPRequest(
            method: HTTPRequest.Method(head.method) ?? .post, scheme: "http", authority: host, path: head.target,
            headerFields: fields)
    }

    /// A request header's usual name, made once, for its bytes in any case; nil for others.
    private static func knownName(_ bytes: UnsafeRawBufferPointer) -> HTTPField.Name? {
        for known in knownNames where bytes.equalsLowercased(known.utf8) { return known.name }
        return nil
    }

    private static let hostUTF8 = Array("host".utf8)

    private static let knownNames: [(utf8: [UInt8], name: HTTPField.Name)] = [
        HTTPField.Name.contentType, .contentLength, .authorization, .accept, .userAgent, .acceptEncoding, .connection,
        .expect, .traceParent, .requestID,
    ].map { (Array($0.canonicalName.utf8), $0) }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        encoder = try? context.pipeline.syncOperations.context(handlerType: HTTPResponseEncoder.self)
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
        encoder = nil
        timer?.cancel()
        timer = nil
    }

    func channelActive(context: ChannelHandlerContext) {
        rearm()
        context.fireChannelActive()
    }

    // MARK: Inbound

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if lingering { return context.read() }
        var bytes = unwrapInboundIn(data)
        if case .passingOn = state { return context.fireChannelRead(data) }
        if pending.readableBytes == 0 {
            pending = bytes
        } else {
            pending.writeBuffer(&bytes)
        }
        process(context: context)
    }

    /// Takes what `pending` holds as far as it goes: heads, bodies, and bytes passed on.
    private func process(context: ChannelHandlerContext) {
        defer { rearm() }
        while pending.readableBytes > 0 {
            if discarding > 0, !isPassingOn {
                let count = min(discarding, pending.readableBytes)
                pending.moveReaderIndex(forwardBy: count)
                discarding -= count
                continue
            }
            switch state {
            case .responding:
                return
            case .passingOn:
                context.fireChannelRead(wrapInboundOut(pending))
                pending = ByteBuffer()
                return
            case .forwarding(let remaining):
                let count = min(remaining, pending.readableBytes)
                if let part = pending.readSlice(length: count) { context.fireChannelRead(wrapInboundOut(part)) }
                state = remaining == count ? .idle : .forwarding(remaining: remaining - count)
            case .collecting(let head, let endpoint, var body, let remaining, let limit):
                state = .idle  // lets `body` be appended to in place
                let count = min(remaining, pending.readableBytes)
                // One byte past the limit is kept so the engine answers 413, as it does for any body too large.
                let kept = min(count, max(0, limit + 1 - body.readableBytes))
                if body.readableBytes == 0, kept == remaining {
                    // The whole body is here: it is read in place.
                    body = pending.getSlice(at: pending.readerIndex, length: kept) ?? body
                } else if kept > 0, var part = pending.getSlice(at: pending.readerIndex, length: kept) {
                    body.writeBuffer(&part)
                }
                pending.moveReaderIndex(forwardBy: count)
                if remaining == count {
                    answer(head: head, endpoint: endpoint, body: body, context: context)
                } else {
                    state = .collecting(head: head, endpoint: endpoint, body: body, remaining: remaining - count, limit: limit)
                }
            case .idle:
                guard readHead(context: context) else { return }
            }
        }
        pending = ByteBuffer()
        headScanned = 0
    }

    /// Reads the head `pending` starts with, if it is whole, and decides where its request goes; false when more
    /// bytes are needed first.
    private func readHead(context: ChannelHandlerContext) -> Bool {
        let found = pending.withUnsafeReadableBytes { RequestHead.end(in: $0, from: headScanned - 3) }
        let size: Int
        switch found {
        case .incomplete:
            guard pending.readableBytes > maxHeadBytes else {
                headScanned = pending.readableBytes
                return false
            }
            state = .passingOn
            return true
        case .unusual:
            state = .passingOn
            return true
        case .at(let end):
            size = end
        }
        headScanned = 0
        guard let head = pending.withUnsafeReadableBytes({ RequestHead.read(UnsafeRawBufferPointer(rebasing: $0[..<size])) })
        else {
            // Not a head this front reads: the decoder reads the rest of the connection (and answers or refuses).
            state = .passingOn
            return true
        }
        let method: HTTPMethod = head.method == "POST" ? .POST : HTTPMethod(rawValue: head.method)
        readARequest = true
        if hummingbirdOwes == 0, encoder != nil, let endpoint = route(method, head.target) {
            pending.moveReaderIndex(forwardBy: size)
            let limit = bodyLimit()
            if head.contentLength > limit {
                // Refused from its head (the engine reads the declared length): no 100 Continue, and the body is
                // not kept. A client that asked for 100 Continue may or may not send it, so that connection closes
                // after the answer; otherwise the body is read and dropped (unless it is far larger than the
                // limit), and the connection serves on.
                answer(head: head, endpoint: endpoint, body: ByteBuffer(), context: context)
                if head.expectsContinue || head.contentLength / 16 > limit {
                    closeAfterAnswer = true
                } else {
                    discarding = head.contentLength
                }
                return true
            }
            // Sized from content-length, but at most 256 KiB up front: a client that claims a large body and
            // sends it slowly does not get the memory before the bytes.
            let body = context.channel.allocator.buffer(capacity: min(head.contentLength, limit + 1, 256 * 1024))
            if head.expectsContinue { sendContinue() }
            state = .collecting(head: head, endpoint: endpoint, body: body, remaining: head.contentLength, limit: limit)
            if head.contentLength == 0 { answer(head: head, endpoint: endpoint, body: body, context: context) }
            return true
        }
        if hummingbirdOwes == 0, head.expectsContinue { sendContinue() }
        hummingbirdOwes += 1
        if let part = pending.readSlice(length: size) { context.fireChannelRead(wrapInboundOut(part)) }
        if head.contentLength > 0 { state = .forwarding(remaining: head.contentLength) }
        return true
    }

    /// Answers `expect: 100-continue` at once (when no other answer is owed on the connection): a client that
    /// waits for it (curl does, for large bodies) would otherwise send the body only after its own timeout.
    private func sendContinue() {
        guard let encoder else { return }
        var buffer = encoder.channel.allocator.buffer(capacity: 25)
        buffer.writeStaticString("HTTP/1.1 100 Continue\r\n\r\n")
        encoder.writeAndFlush(NIOAny(IOData.byteBuffer(buffer)), promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        // The client went away: the engine's upstream call is cancelled and the request logged as closed.
        task?.cancel()
        timer?.cancel()
        timer = nil
        deadline = nil
        runWritableWaiters()
        context.fireChannelInactive()
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable { runWritableWaiters() }
        context.fireChannelWritabilityChanged()
    }

    /// Calls `body` once the client's socket takes more (at once if it does now), or the connection closed.
    fileprivate func whenWritable(_ body: @escaping () -> Void) {
        guard let context, context.channel.isActive, !context.channel.isWritable else { return body() }
        writableWaiters.append(body)
    }

    private func runWritableWaiters() {
        let waiters = writableWaiters
        writableWaiters = []
        for waiter in waiters { waiter() }
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
        case .idle, .forwarding, .passingOn: false
        }
    }

    // MARK: Outbound

    func read(context: ChannelHandlerContext) {
        // While the engine answers, reading goes on (a client that leaves is seen at once, and the socket's read
        // interest is not dropped and taken again for every request) until pipelined bytes are waiting: then
        // the next read waits for the answer to end.
        if case .responding = state, pending.readableBytes > 0 {
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

    private func answer(head: RequestHead, endpoint: ClientSurface, body: ByteBuffer, context: ChannelHandlerContext) {
        state = .responding
        closeAfterAnswer = !head.keepAlive
        acceptsChunked = head.minorVersion >= 1
        let request = Request(head: Self.request(head), body: RequestBody(buffer: body))
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

    /// Writes a whole answer of known length, its head and body in one flush; on the event loop. Small bodies
    /// are copied behind the head, so the answer is one buffer.
    fileprivate func send(head: HTTPResponse, bodies: [ByteBuffer]) {
        guard let context, let encoder else { return }
        var size = 0
        for body in bodies { size += body.readableBytes }
        var buffer = context.channel.allocator.buffer(capacity: 512 + (size <= 16 * 1024 ? size : 0))
        framing = renderHead(head, into: &buffer)
        if size <= 16 * 1024 {
            for body in bodies { appendBody(body, to: &buffer) }
            encoder.write(NIOAny(IOData.byteBuffer(buffer)), promise: nil)
        } else {
            encoder.write(NIOAny(IOData.byteBuffer(buffer)), promise: nil)
            for body in bodies { writeBody(body, encoder: encoder) }
        }
        end(encoder: encoder)
    }

    /// Writes a stream's chunk (after its head, the first time) and flushes; on the event loop. The head and the
    /// first chunk go out in one buffer.
    fileprivate func send(head: HTTPResponse?, body: ByteBuffer, promise: EventLoopPromise<Void>?) {
        guard let context, let encoder else {
            promise?.fail(ChannelError.ioOnClosedChannel)
            return
        }
        if let head {
            var buffer = context.channel.allocator.buffer(capacity: 512 + body.readableBytes)
            framing = renderHead(head, into: &buffer)
            appendBody(body, to: &buffer)
            encoder.writeAndFlush(NIOAny(IOData.byteBuffer(buffer)), promise: promise)
            return
        }
        guard body.readableBytes > 0, framing != .none else {
            // An empty chunk would end a chunked body: nothing to write.
            promise?.succeed()
            return
        }
        if framing == .chunked {
            var framed = context.channel.allocator.buffer(capacity: body.readableBytes + 20)
            appendBody(body, to: &framed)
            encoder.writeAndFlush(NIOAny(IOData.byteBuffer(framed)), promise: promise)
        } else {
            encoder.writeAndFlush(NIOAny(IOData.byteBuffer(body)), promise: promise)
        }
    }

    /// Writes the stream bytes `render` appends to a buffer made with room for them and their framing, and
    /// flushes; on the event loop, after the head. A chunk's size line is written in front of the bytes once
    /// their size is known (room for it is kept at the start), so the chunk is one buffer, copied once.
    fileprivate func send(capacity: Int, render: (inout ByteBuffer) -> Void) {
        guard let context, let encoder, framing != .none else { return }
        let chunked = framing == .chunked
        let room = chunked ? Self.chunkSizeRoom : 0
        var buffer = context.channel.allocator.buffer(capacity: room + capacity + 2)
        buffer.writeRepeatingByte(0, count: room)
        render(&buffer)
        let size = buffer.readableBytes - room
        guard size > 0 else { return }
        if chunked {
            let start = Self.setChunkSize(size, endingAt: room, in: &buffer)
            buffer.moveReaderIndex(to: start)
            buffer.writeStaticString("\r\n")
        }
        encoder.writeAndFlush(NIOAny(IOData.byteBuffer(buffer)), promise: nil)
    }

    /// Room for a chunk's size line: 16 hex digits and CRLF.
    static let chunkSizeRoom = 18

    /// Sets `SIZE\r\n` (lower-case hex) in `buffer` to end at `end`, and returns where it starts.
    static func setChunkSize(_ size: Int, endingAt end: Int, in buffer: inout ByteBuffer) -> Int {
        var at = end - 2
        _ = buffer.setStaticString("\r\n", at: at)
        var rest = size
        repeat {
            let digit = UInt8(rest & 0xF)
            at -= 1
            buffer.setInteger(digit < 10 ? UInt8(ascii: "0") + digit : UInt8(ascii: "a") + digit - 10, at: at)
            rest >>= 4
        } while rest > 0
        return at
    }

    /// Ends a stream (writing its head first if nothing was written); on the event loop.
    fileprivate func finish(head: HTTPResponse?) {
        guard let context, let encoder else { return }
        if let head {
            var buffer = context.channel.allocator.buffer(capacity: 512)
            framing = renderHead(head, into: &buffer)
            encoder.write(NIOAny(IOData.byteBuffer(buffer)), promise: nil)
        }
        end(encoder: encoder)
    }

    /// Writes the end of the body (the last chunk, when chunked), flushes, and lets the connection go on.
    private func end(encoder: ChannelHandlerContext) {
        if framing == .chunked {
            var last = encoder.channel.allocator.buffer(capacity: 5)
            last.writeStaticString("0\r\n\r\n")
            encoder.write(NIOAny(IOData.byteBuffer(last)), promise: nil)
        }
        encoder.flush()
        answered()
    }

    /// A body's bytes appended to `buffer`, framed as the answer's framing says.
    private func appendBody(_ body: ByteBuffer, to buffer: inout ByteBuffer) {
        switch framing {
        case .none: return
        case .chunked:
            guard body.readableBytes > 0 else { return }
            Self.writeChunkHeader(body.readableBytes, to: &buffer)
            buffer.writeImmutableBuffer(body)
            buffer.writeStaticString("\r\n")
        case .length, .untilClose:
            buffer.writeImmutableBuffer(body)
        }
    }

    /// A body written on its own, framed as the answer's framing says.
    private func writeBody(_ body: ByteBuffer, encoder: ChannelHandlerContext) {
        if framing == .chunked {
            var framed = encoder.channel.allocator.buffer(capacity: body.readableBytes + 20)
            appendBody(body, to: &framed)
            encoder.write(NIOAny(IOData.byteBuffer(framed)), promise: nil)
        } else if framing != .none {
            encoder.write(NIOAny(IOData.byteBuffer(body)), promise: nil)
        }
    }

    /// Renders an answer's head for this connection and returns how its body is framed; `date`, `server` and
    /// the framing headers are the front's own.
    private func renderHead(_ head: HTTPResponse, into buffer: inout ByteBuffer) -> Framing {
        let framing = Self.renderHead(
            head, date: HTTPDate.now, server: serverName, acceptsChunked: acceptsChunked, close: closeAfterAnswer,
            into: &buffer)
        if framing == .untilClose { closeAfterAnswer = true }
        return framing
    }

    /// Renders `head` as HTTP/1.1 (as NIO's response encoder would): its status line and fields, then `date`,
    /// `server`, `connection: close` when `close` (or when the body is delimited by closing), and
    /// `transfer-encoding: chunked` when the body has no length and the client reads chunks. The fields' own
    /// `date`, `server`, `connection` and `transfer-encoding` are left out, and `content-length` too when the
    /// status has no body. Returns how the body is framed.
    static func renderHead(
        _ head: HTTPResponse, date: String, server: String, acceptsChunked: Bool, close: Bool, into buffer: inout ByteBuffer
    ) -> Framing {
        let code = head.status.code
        let hasBody = code >= 200 && code != 204 && code != 304
        return buffer.writeRendered(estimate: 512) { out in
            out.add("HTTP/1.1 ")
            out.add(decimal: code)
            out.add(" ")
            // An error built from a bare code (`Status(code:)`) has no phrase: the standard one is written, as
            // NIO's encoder would for `HTTPResponseStatus(statusCode:)`.
            let phrase = head.status.reasonPhrase
            out.add(string: phrase.isEmpty ? HTTPResponseStatus(statusCode: code).reasonPhrase : phrase)
            out.add("\r\n")
            var hasLength = false
            for field in head.headerFields {
                let name = field.name.canonicalName
                // One comparison at most per field: the names set here differ in length.
                switch name.utf8.count {
                case 4 where name == "date", 6 where name == "server", 10 where name == "connection",
                    17 where name == "transfer-encoding":
                    continue
                case 14 where name == "content-length":
                    guard hasBody else { continue }
                    hasLength = true
                default: break
                }
                out.addField(field.name.rawName, field.value)
            }
            let framing: Framing = !hasBody ? .none : hasLength ? .length : acceptsChunked ? .chunked : .untilClose
            out.addField("date", date)
            out.addField("server", server)
            if close || framing == .untilClose { out.add("connection: close\r\n") }
            if framing == .chunked { out.add("transfer-encoding: chunked\r\n") }
            out.add("\r\n")
            return framing
        }
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
        defer { rearm() }
        task = nil
        state = .idle
        framing = .length
        // A relay that waited for the socket to drain is done with it: nothing of it is kept for the next answer.
        writableWaiters = []
        guard let context, !lingering else { return }
        if closeAfterAnswer {
            context.close(promise: nil)
            return
        }
        if pending.readableBytes > 0 {
            process(context: context)
            // Bytes passed on outside a read cycle reach Hummingbird's async channel only at a read-complete.
            context.fireChannelReadComplete()
        }
        // A pipelined completion started: what follows waits for its answer.
        if isResponding { return }
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

    private var isPassingOn: Bool {
        if case .passingOn = state { return true }
        return false
    }

    // MARK: Client timeouts

    /// Sets the deadline of what the connection now waits for from the client, and the timer if it must fire
    /// sooner than it would; on the event loop.
    private func rearm() {
        guard let context, context.channel.isActive, !lingering else { return }
        let now = NIODeadline.now()
        let timeouts = clientTimeouts()
        func after(_ seconds: Double) -> NIODeadline { now + .nanoseconds(Int64(seconds * 1e9)) }
        switch state {
        case .collecting:
            deadline = after(timeouts.body)
        case .idle where discarding > 0:
            deadline = after(timeouts.body)
        case .idle where pending.readableBytes > 0 || !readARequest:
            let started = headStarted ?? now
            headStarted = started
            deadline = started + .nanoseconds(Int64(timeouts.header * 1e9))
        case .idle where hummingbirdOwes == 0:
            headStarted = nil
            deadline = after(timeouts.keepAlive)
        case .idle, .responding, .forwarding, .passingOn:
            // The proxy or Hummingbird is answering, or Hummingbird reads the bytes: no client deadline here.
            headStarted = nil
            deadline = nil
        }
        guard let deadline else { return }
        if let fires = timerFires, fires <= deadline, timer != nil { return }
        schedule(at: deadline, on: context.eventLoop)
    }

    private func schedule(at when: NIODeadline, on loop: any EventLoop) {
        timer?.cancel()
        timerFires = when
        timer = loop.assumeIsolatedUnsafeUnchecked().scheduleTask(deadline: when) { [self] in timerFired() }
    }

    private func timerFired() {
        timer = nil
        timerFires = nil
        guard let context, let deadline else { return }
        if NIODeadline.now() < deadline { return schedule(at: deadline, on: context.eventLoop) }
        if case .idle = state, !readARequest, pending.readableBytes == 0, discarding == 0, !silenceRechecked {
            // Nothing read yet: bytes the client did send may be waiting behind this timer on a busy loop, and a
            // client that sent a partial head is owed a 408, not a silent close. Looked at again shortly.
            silenceRechecked = true
            context.read()
            return schedule(at: NIODeadline.now() + .milliseconds(50), on: context.eventLoop)
        }
        self.deadline = nil
        let waitingForBytes: Bool
        switch state {
        case .collecting: waitingForBytes = true
        case .idle: waitingForBytes = discarding > 0 || pending.readableBytes > 0 || !readARequest
        default: return
        }
        // A client slow with its request is told so (when no other answer is owed first); an idle kept-alive
        // connection is just closed.
        if waitingForBytes, hummingbirdOwes == 0, readARequest || pending.readableBytes > 0, let encoder {
            var buffer = encoder.channel.allocator.buffer(capacity: 256)
            buffer.writeBytes(Self.requestTimeoutAnswer)
            encoder.writeAndFlush(NIOAny(IOData.byteBuffer(buffer)), promise: nil)
        }
        task?.cancel()
        lingeringClose(context)
    }

    /// How long a connection closed by the proxy while its client sends keeps reading (and dropping) its bytes.
    static let lingerTime: TimeAmount = .seconds(2)

    /// Closes a connection whose client may still be sending (as nginx's lingering close): the proxy's side is
    /// shut first, so the client reads the answer and the end; what it still sends is read and dropped until it
    /// closes, or for `lingerTime`. A plain close with unread bytes in the socket resets the connection, and the
    /// client may lose the answer.
    private func lingeringClose(_ context: ChannelHandlerContext) {
        lingering = true
        pending.clear()
        let loop = context.eventLoop.assumeIsolatedUnsafeUnchecked()
        let closed = context.eventLoop.makePromise(of: Void.self)
        context.close(mode: .output, promise: closed)
        // A channel that cannot half-close is closed whole.
        closed.futureResult.whenFailure { [self] (_: any Error) in self.context?.close(promise: nil) }
        timer?.cancel()
        timer = loop.scheduleTask(in: Self.lingerTime) { [self] in self.context?.close(promise: nil) }
        context.read()
    }

    /// 408 in OpenAI's envelope, closing the connection.
    static let requestTimeoutAnswer: [UInt8] = {
        let body = Array(
            (#"{"error":{"message":"The request did not arrive in time (general_settings.client_header_timeout / "#
                + #"client_body_timeout).","type":"invalid_request_error","param":null,"code":"request_timeout"}}"#).utf8)
        return Array(
            ("HTTP/1.1 408 Request Timeout\r\ncontent-type: application/json\r\ncontent-length: \(body.count)\r\n"
                + "connection: close\r\n\r\n").utf8) + body
    }()
}

/// Writes an engine's `Response` to the channel from the answering task. A body of known length (a JSON answer)
/// goes out with its head in one flush; a stream's chunks are flushed one by one, and when the channel's
/// outbound buffer is over its high-water mark the writer waits for the last chunk to reach the socket.
private struct ChannelAnswerWriter: Sendable {
    let front: CompletionFront
    let channel: any Channel

    func write(_ response: Response) async {
        let ended = EndFlag()
        let body = ChunkWriter(
            front: front, channel: channel, head: response.head, buffered: response.body.contentLength != nil,
            ended: ended)
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

/// The `ResponseBodyWriter` the engine's bodies write into; a stream already started can also be written from
/// the event loop directly (`EventLoopBodyWriter`).
private struct ChunkWriter: ResponseBodyWriter, EventLoopBodyWriter, Sendable {
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

    // MARK: On the event loop

    var eventLoop: any EventLoop { channel.eventLoop }

    var isStreaming: Bool { !buffered && headSent }

    func writeOnLoop(_ buffer: ByteBuffer) -> Bool {
        guard channel.isActive else { return false }
        front.send(head: nil, body: buffer, promise: nil)
        return true
    }

    func writeOnLoop(capacity: Int, _ render: (inout ByteBuffer) -> Void) -> Bool {
        guard channel.isActive else { return false }
        front.send(capacity: capacity, render: render)
        return true
    }

    var clientTakesMore: Bool { channel.isWritable }

    func whenClientTakesMore(_ body: @escaping () -> Void) {
        front.whenWritable(body)
    }

    func finishOnLoop() {
        ended.value.store(true, ordering: .relaxed)
        front.finish(head: nil)
    }

    consuming func finish(_ trailingHeaders: HTTPFields?) async throws {
        // Trailers are not sent: no answer of the engine has any.
        ended.value.store(true, ordering: .relaxed)
        // Not waited for: the task ends here, and a failed write closes the channel, which is all there is to do.
        let head: HTTPResponse? = headSent ? nil : self.head
        let held = self.held
        let buffered = self.buffered
        if channel.eventLoop.inEventLoop {
            Self.end(front: front, head: head, held: held, buffered: buffered)
        } else {
            channel.eventLoop.execute { [front] in Self.end(front: front, head: head, held: held, buffered: buffered) }
        }
    }

    /// The answer's end on the event loop: a held answer whole, or a stream's end.
    private static func end(front: CompletionFront, head: HTTPResponse?, held: [ByteBuffer], buffered: Bool) {
        if buffered, let head {
            front.send(head: head, bodies: held)
        } else {
            front.finish(head: head)
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
