import NIOCore
import NIOPosix
import NIOSSL
import SwitchyardCore
import Synchronization

/// Why an upstream call failed below HTTP.
public enum UpstreamClientError: Error, Sendable, Equatable {
    /// The base URL cannot be used.
    case invalidURL(String)
    /// Connecting took longer than the connect timeout.
    case connectTimeout
    /// The connection was refused or could not be made.
    case connectFailed(String)
    /// No response head within the first-byte deadline.
    case firstByteTimeout
    /// The upstream sent nothing for the idle timeout while a body was expected.
    case idleTimeout
    /// The connection closed after the request was written, before any of the response arrived: the upstream may
    /// have received the request, so it is never sent again on its own.
    case connectionClosed
    /// The connection was found closed, or its write failed, before the request was written whole: the request
    /// provably did not reach the upstream and may be sent again on a new connection.
    case notSent
    /// The connection closed after part of the response arrived, before its end (a body shorter than its
    /// length, a chunked body without its last chunk).
    case closedMidAnswer
    /// TLS failed.
    case tls(String)
    /// The client has been shut down.
    case shutDown
    /// A header name or value holds a line break or NUL (only a misconfigured key or header can).
    case invalidHeader(String)
    /// A body to be read whole was larger than its limit.
    case responseTooLarge(limit: Int)
    /// A body to be read whole had not ended by the total deadline.
    case totalTimeout
    /// The upstream's bytes are not an HTTP/1.1 response (the parser's reason).
    case malformedResponse(String)
}

/// The answer's head and its body: streamed with back-pressure, or read whole on the event loop.
public struct UpstreamResponse: Sendable {
    /// HTTP status code.
    public let status: Int
    /// Response headers, in the order and case the upstream sent them.
    public let headers: HTTPResponseParser.Fields
    /// The body.
    public let body: Body
    /// When the head arrived (a body read whole arrives later).
    public var headReceived = NIODeadline.now()

    public enum Body: Sendable {
        /// Chunk by chunk; dropping its reader before the end closes the connection.
        case streamed(UpstreamBodyReader)
        /// Whole (asked for with `collectUpTo`): no task hop per chunk, no back-pressure machinery.
        case collected(ByteBuffer)
    }
}

/// A lean HTTP/1.1 client for upstream calls: keep-alive connections per host, the request head and body
/// written in one flush, the response body streamed with back-pressure (the socket is read only when the
/// consumer wants more), and the connect, first-byte and idle timeouts given per call.
public final class UpstreamHTTPClient: Sendable {
    struct PoolKey: Hashable {
        let tls: Bool
        let host: String
        let port: Int
    }

    /// A base URL taken apart once.
    struct Target: Sendable {
        let key: PoolKey
        let hostHeader: String
    }

    let group: any EventLoopGroup
    private let idle = Mutex<[PoolKey: [UpstreamConnection]]>([:])
    /// URLs already taken apart (they come from the config: base URL and endpoint), with their paths.
    private let targets = Mutex<[String: (target: Target, path: String)]>([:])
    private let tlsContext = Mutex<NIOSSLContext?>(nil)
    private let isShutDown = Atomic<Bool>(false)
    private let open = Mutex<[ObjectIdentifier: UpstreamConnection]>([:])
    /// Idle connections kept per host.
    static let maxIdlePerHost = 512
    /// How long an idle connection is kept.
    static let idleConnectionLifetime: TimeAmount = .seconds(60)

    let verification: TLSVerification

    /// A client on the shared event loop group, checking upstream certificates as `verification` says.
    public init(group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton, verification: TLSVerification = .system) {
        self.group = group
        self.verification = verification
    }

    /// Sends `body` to `url` with `headers` (`host` and `content-length` are added) and returns once the
    /// response head arrives, or, with `collectUpTo`, once the whole body (at most that many bytes, by
    /// `totalDeadline`) has arrived.
    public func post(
        _ url: String, method: String = "POST", headers: [UpstreamHeaderSet.Field], body: ByteBuffer,
        connectTimeout: TimeAmount, firstByteDeadline: NIODeadline, idleTimeout: TimeAmount, collectUpTo: Int? = nil,
        totalDeadline: NIODeadline? = nil
    ) async throws -> UpstreamResponse {
        guard !isShutDown.load(ordering: .relaxed) else { throw UpstreamClientError.shutDown }
        let (target, path) = try target(for: url)
        // A body of usual size is copied behind the head: the request is then one buffer and one write.
        let inline = body.readableBytes <= 16 * 1024
        let head = try Self.renderHead(
            method: method, path: path, host: target.hostHeader, headers: headers, contentLength: body.readableBytes,
            appending: inline ? body : nil)
        let request = UpstreamRequest(
            head: head, body: inline ? ByteBuffer() : body, deadline: firstByteDeadline, idleTimeout: idleTimeout,
            collectLimit: collectUpTo,
            totalDeadline: totalDeadline)
        // A kept-alive connection the upstream closed meanwhile is found closed before the request is written,
        // or its write fails: the request did not reach the upstream, so it goes on a new connection. One that
        // closes after the request was written may have been received (and billed): that is the attempt's failure.
        while let reused = checkout(target.key) {
            do {
                return try await reused.send(request)
            } catch UpstreamClientError.notSent {
                continue
            }
        }
        let connection = try await connect(target, timeout: connectTimeout)
        return try await connection.send(request)
    }

    /// The request line and header block of a POST (or `method`: GET and DELETE of kept responses), as bytes:
    /// written into the buffer's memory in one go and
    /// handed to the socket as one buffer (NIO's encoder wrote each name, separator and value into the buffer one
    /// call at a time, and its header container checked each field again on the way in). A name or value with a line break or NUL is
    /// refused, as NIO's outbound header validation did. `body`, when given, follows the head in the same buffer.
    static func renderHead(
        method: String = "POST", path: String, host: String, headers: [UpstreamHeaderSet.Field], contentLength: Int,
        appending body: ByteBuffer? = nil
    ) throws(UpstreamClientError) -> ByteBuffer {
        let estimate = 96 + path.utf8.count + host.utf8.count + headers.count * 64 + (body?.readableBytes ?? 0)
        var buffer = ByteBuffer()
        try buffer.writeRendered(estimate: estimate) { (head) throws(UpstreamClientError) in
            if method == "POST" {
                head.add("POST ")
            } else {
                guard method.utf8.allSatisfy({ $0 >= UInt8(ascii: "A") && $0 <= UInt8(ascii: "Z") }) else {
                    throw UpstreamClientError.invalidURL(method)
                }
                head.add(string: method)
                head.add(" ")
            }
            guard head.addChecked(path) else { throw UpstreamClientError.invalidURL(path) }
            head.add(" HTTP/1.1\r\n")
            try Self.field("host", host, to: &head)
            for header in headers { try Self.field(header.name, header.value, to: &head) }
            head.add("content-length: ")
            head.add(decimal: contentLength)
            head.add("\r\n\r\n")
            if let body { body.withUnsafeReadableBytes { head.add($0) } }
        }
        return buffer
    }

    /// A header line; a name or value holding CR, LF or NUL is refused, naming the header only.
    private static func field(
        _ name: String, _ value: String, to head: inout RawByteWriter
    ) throws(UpstreamClientError) {
        guard head.addCheckedField(name, value) else { throw UpstreamClientError.invalidHeader(name) }
    }

    /// Closes every idle connection; requests still running fail.
    public func shutdown() async {
        guard !isShutDown.exchange(true, ordering: .relaxed) else { return }
        let connections = idle.withLock { idle in
            defer { idle = [:] }
            return idle.values.flatMap { $0 }
        }
        for connection in connections { connection.close() }
        for connection in open.withLock({ Array($0.values) }) { connection.close() }
    }

    /// Tracks an open connection until its channel closes.
    func opened(_ connection: UpstreamConnection) {
        open.withLock { $0[ObjectIdentifier(connection)] = connection }
        connection.channel.closeFuture.whenComplete { [self] _ in
            open.withLock { _ = $0.removeValue(forKey: ObjectIdentifier(connection)) }
            forget(connection)
        }
    }

    func target(for url: String) throws -> (Target, String) {
        if let known = targets.withLock({ $0[url] }) { return known }
        let parsed = try Self.parse(url)
        targets.withLock { targets in
            if targets.count >= 4096 { targets.removeAll() }  // config reloads can only add so many
            targets[url] = parsed
        }
        return parsed
    }

    /// Takes `scheme://host[:port]/path` apart.
    static func parse(_ url: String) throws -> (target: Target, path: String) {
        guard let schemeEnd = url.range(of: "://") else { throw UpstreamClientError.invalidURL(url) }
        let scheme = url[..<schemeEnd.lowerBound].lowercased()
        let rest = url[schemeEnd.upperBound...]
        let authority = rest.prefix { $0 != "/" }
        let path = rest.dropFirst(authority.count)
        let authorityText = String(authority)
        guard scheme == "http" || scheme == "https", !authority.isEmpty else { throw UpstreamClientError.invalidURL(url) }
        let tls = scheme == "https"
        var host = authorityText
        var port = tls ? 443 : 80
        if authorityText.hasPrefix("[") {
            // [v6]:port
            guard let close = authorityText.firstIndex(of: "]") else { throw UpstreamClientError.invalidURL(url) }
            host = String(authorityText[authorityText.index(after: authorityText.startIndex)..<close])
            let after = authorityText[authorityText.index(after: close)...]
            if after.hasPrefix(":") {
                guard let value = Int(after.dropFirst()) else { throw UpstreamClientError.invalidURL(url) }
                port = value
            }
        } else if let colon = authorityText.lastIndex(of: ":") {
            host = String(authorityText[..<colon])
            guard let value = Int(authorityText[authorityText.index(after: colon)...]) else {
                throw UpstreamClientError.invalidURL(url)
            }
            port = value
        }
        let target = Target(key: PoolKey(tls: tls, host: host, port: port), hostHeader: authorityText)
        return (target, path.isEmpty ? "/" : String(path))
    }

    /// An idle connection to `key`. Called on an event loop (a request answered by the completion front), only
    /// one on that loop will do, and if there is none a new one is opened there: the request then talks to its
    /// upstream on its own thread, with no hop between loops. Called from elsewhere, any idle one.
    private func checkout(_ key: PoolKey) -> UpstreamConnection? {
        let onLoop = MultiThreadedEventLoopGroup.currentEventLoop != nil
        while let connection = idle.withLock({ idle -> UpstreamConnection? in
            let index = idle[key].flatMap { list in
                onLoop ? list.lastIndex { $0.channel.eventLoop.inEventLoop } : list.indices.last
            }
            guard let index else { return nil }
            return idle[key]?.remove(at: index)
        }) {
            if connection.takeFromPool() { return connection }
        }
        return nil
    }

    /// Puts a connection whose response ended cleanly back in the pool.
    func release(_ connection: UpstreamConnection) {
        let kept = idle.withLock { idle -> Bool in
            guard !isShutDown.load(ordering: .relaxed), idle[connection.key, default: []].count < Self.maxIdlePerHost else {
                return false
            }
            idle[connection.key, default: []].append(connection)
            return true
        }
        if kept { connection.parkInPool(for: Self.idleConnectionLifetime) } else { connection.close() }
    }

    /// Forgets a pooled connection that closed.
    func forget(_ connection: UpstreamConnection) {
        idle.withLock { idle in idle[connection.key]?.removeAll { $0 === connection } }
    }

    private func sslContext() throws -> NIOSSLContext {
        try tlsContext.withLock { context in
            if let context { return context }
            var configuration = TLSConfiguration.makeClientConfiguration()
            configuration.applicationProtocols = ["http/1.1"]
            switch verification {
            case .system: break
            case .caFile(let path): configuration.trustRoots = .file(path)
            case .off: configuration.certificateVerification = .none
            }
            do {
                let made = try NIOSSLContext(configuration: configuration)
                context = made
                return made
            } catch {
                throw UpstreamClientError.tls(String(describing: error))
            }
        }
    }

    private func connect(_ target: Target, timeout: TimeAmount) async throws -> UpstreamConnection {
        let key = target.key
        let ssl = key.tls ? try sslContext() : nil
        let eventLoop = group.any()
        let handler = UpstreamConnectionHandler(eventLoop: eventLoop)
        let bootstrap = ClientBootstrap(group: eventLoop)
            .connectTimeout(timeout)
            .channelOption(.autoRead, value: true)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let sync = channel.pipeline.syncOperations
                    if let ssl {
                        let hostname = key.host.isIPAddress ? nil : key.host
                        try sync.addHandler(NIOSSLClientHandler(context: ssl, serverHostname: hostname))
                    }
                    // Requests go out as rendered bytes (see `renderHead`); answers are read by `HTTPResponseParser`.
                    try sync.addHandler(handler)
                }
            }
        let channel: any Channel
        do {
            channel = try await bootstrap.connect(host: key.host, port: key.port).get()
        } catch let error as ChannelError {
            if case .connectTimeout = error { throw UpstreamClientError.connectTimeout }
            throw UpstreamClientError.connectFailed(String(describing: error))
        } catch {
            throw UpstreamClientError.connectFailed(String(describing: error))
        }
        let connection = UpstreamConnection(key: key, channel: channel, handler: handler, client: self)
        handler.connection = connection
        opened(connection)
        return connection
    }
}

extension String {
    fileprivate var isIPAddress: Bool {
        !isEmpty && (allSatisfy { $0.isNumber || $0 == "." } || contains(":"))
    }
}

/// One request as the handler needs it.
struct UpstreamRequest: Sendable {
    /// The request line and headers, rendered.
    let head: ByteBuffer
    let body: ByteBuffer
    let deadline: NIODeadline
    let idleTimeout: TimeAmount
    /// Read the body whole, up to this many bytes.
    let collectLimit: Int?
    /// When a body read whole must have ended.
    let totalDeadline: NIODeadline?
}

/// A connection to one upstream host; serves one request at a time.
final class UpstreamConnection: Sendable {
    let key: UpstreamHTTPClient.PoolKey
    let channel: any Channel
    let handler: UpstreamConnectionHandler
    private let client: UpstreamHTTPClient
    private let state = Mutex(PoolState())

    struct PoolState {
        var inPool = false
        var closing = false
        var expiry: Scheduled<Void>?
        var receivedAnything = false
    }

    init(key: UpstreamHTTPClient.PoolKey, channel: any Channel, handler: UpstreamConnectionHandler, client: UpstreamHTTPClient) {
        self.key = key
        self.channel = channel
        self.handler = handler
        self.client = client
    }

    /// Whether the upstream sent any byte on this connection for the current request.
    var receivedAnything: Bool { handler.receivedAnything }

    /// Takes the connection out of the pool; false when it closed meanwhile.
    func takeFromPool() -> Bool {
        state.withLock { state in
            state.inPool = false
            state.expiry?.cancel()
            state.expiry = nil
            return !state.closing && channel.isActive
        }
    }

    /// Marks the connection idle in the pool, closing it after `lifetime`.
    func parkInPool(for lifetime: TimeAmount) {
        let expiry = channel.eventLoop.scheduleTask(in: lifetime) { [self] in
            let stillIdle = state.withLock { $0.inPool }
            if stillIdle { close() }
        }
        state.withLock { state in
            state.inPool = true
            state.expiry = expiry
        }
    }

    func close() {
        state.withLock { $0.closing = true }
        channel.close(promise: nil)
    }

    func release() {
        client.release(self)
    }

    /// Sends the request and waits for the response head.
    func send(_ request: UpstreamRequest) async throws -> UpstreamResponse {
        let handler = self.handler
        let eventLoop = channel.eventLoop
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<UpstreamResponse, any Error>) in
                if eventLoop.inEventLoop {
                    handler.start(request, continuation: continuation)
                } else {
                    eventLoop.execute { handler.start(request, continuation: continuation) }
                }
            }
        } onCancel: {
            eventLoop.execute { handler.cancel() }
        }
    }
}

/// The channel handler of one upstream connection: writes each request's bytes and reads the answer with
/// `HTTPResponseParser` (body parts are slices of the bytes read, not copies). All its state is touched on its
/// event loop only.
public final class UpstreamConnectionHandler: ChannelDuplexHandler, @unchecked Sendable {
    public typealias InboundIn = ByteBuffer
    public typealias OutboundIn = ByteBuffer
    public typealias OutboundOut = ByteBuffer

    enum State {
        case idle
        case awaitingHead(CheckedContinuation<UpstreamResponse, any Error>, UpstreamRequest)
        case streaming(UpstreamBodyStream, keepAlive: Bool)
        case collecting(CheckedContinuation<UpstreamResponse, any Error>, UpstreamRequest, HTTPResponseParser.Head, ByteBuffer)
        case closed
    }

    /// A part of an answer as read from one buffer, handled once the parser is done with that buffer (handling
    /// can close the channel, whose close reads the parser's end).
    private enum ReadPart {
        case head(HTTPResponseParser.Head)
        case body(ByteBuffer)
        case end
    }

    let eventLoop: any EventLoop
    weak var connection: UpstreamConnection?
    private var state = State.idle
    private var parser = HTTPResponseParser()
    private var context: ChannelHandlerContext?
    private var generation = 0
    private var readPending = false
    private var timer: Scheduled<Void>?
    private var idleTimeout: TimeAmount = .seconds(120)
    private(set) var receivedAnything = false
    /// Whether the current request's bytes were all written to the socket.
    private var requestWritten = false
    private var headReceived = NIODeadline.now()
    /// A TLS failure seen on this connection, kept for a request that starts after the handshake already failed
    /// (the connection reports itself open before the handshake ends).
    private var tlsFailure: UpstreamClientError?
    private var lastRead = NIODeadline.now()
    /// A streamed answer's first-byte deadline while none of its body has come: a stream's first event may take as
    /// long as a JSON answer's head (a reasoning model thinks first), so the idle timeout starts after it.
    private var firstBodyDeadline: NIODeadline?

    init(eventLoop: any EventLoop) {
        self.eventLoop = eventLoop
    }

    public func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    public func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
    }

    func start(_ request: UpstreamRequest, continuation: CheckedContinuation<UpstreamResponse, any Error>) {
        guard let context, case .idle = state, context.channel.isActive else {
            continuation.resume(throwing: tlsFailure ?? UpstreamClientError.notSent)
            return
        }
        receivedAnything = false
        requestWritten = false
        firstBodyDeadline = nil
        idleTimeout = request.idleTimeout
        state = .awaitingHead(continuation, request)
        timer?.cancel()
        timer = eventLoop.scheduleTask(deadline: request.deadline) { [self] in fail(UpstreamClientError.firstByteTimeout) }
        context.write(wrapOutboundOut(request.head), promise: nil)
        if request.body.readableBytes > 0 { context.write(wrapOutboundOut(request.body), promise: nil) }
        context.flush()
        // A write that fails does so within the flush (the channel reports the error and closes before it returns):
        // past it, the bytes are the kernel's, or queued behind a full socket buffer, and the upstream may have the
        // request. (A write promise said the same at ~2,000 instructions a request.)
        if case .awaitingHead = state { requestWritten = true }
        if readPending {
            readPending = false
            context.read()
        }
    }

    func cancel() {
        switch state {
        case .awaitingHead, .collecting: fail(CancellationError())
        default: break
        }
    }

    public func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        receivedAnything = true
        switch state {
        case .awaitingHead, .streaming, .collecting:
            parse(unwrapInboundIn(data))
        case .idle, .closed:
            // Bytes nobody asked for: the connection is out of step with its requests.
            fail(UpstreamClientError.malformedResponse("bytes arrived with no request sent"))
        }
    }

    private func parse(_ buffer: ByteBuffer) {
        var parts: [ReadPart] = []
        do {
            try buffer.withUnsafeReadableBytes { raw in
                try parser.parse(raw) { part in
                    switch part {
                    case .head(let head): parts.append(.head(head))
                    case .end: parts.append(.end)
                    case .body(let bytes):
                        guard let base = raw.baseAddress, let start = bytes.baseAddress,
                            let slice = buffer.getSlice(at: buffer.readerIndex + (start - base), length: bytes.count)
                        else { return }
                        parts.append(.body(slice))
                    }
                }
            }
        } catch let error as HTTPResponseParser.ParseError {
            for part in parts { handle(part) }
            return fail(UpstreamClientError.malformedResponse(error.reason))
        } catch {
            return fail(error)
        }
        for part in parts { handle(part) }
    }

    private func handle(_ part: ReadPart) {
        switch part {
        case .head(let head):
            guard case .awaitingHead(let continuation, let request) = state else {
                return fail(UpstreamClientError.malformedResponse("a response arrived with no request sent"))
            }
            if let limit = request.collectLimit {
                // An answer that says it is larger than the limit is refused before any of its body is read.
                if case .length(let length) = head.framing, length > limit {
                    return fail(UpstreamClientError.responseTooLarge(limit: limit))
                }
                headReceived = .now()
                state = .collecting(continuation, request, head, ByteBuffer())
                armIdleTimer()
                return
            }
            generation += 1
            let stream = UpstreamBodyStream(loop: eventLoop, handler: self, generation: generation)
            state = .streaming(stream, keepAlive: head.keepAlive)
            firstBodyDeadline = request.deadline
            armIdleTimer()
            continuation.resume(
                returning: UpstreamResponse(
                    status: head.status, headers: head.fields, body: .streamed(UpstreamBodyReader(stream))))
        case .body(var buffer):
            switch state {
            case .streaming(let stream, _):
                if firstBodyDeadline != nil {
                    // The first body bytes: from now on the idle timeout applies (the timer was set for the deadline).
                    firstBodyDeadline = nil
                    armIdleTimer()
                } else {
                    lastRead = .now()
                }
                stream.received(buffer)
            case .collecting(let continuation, let request, let head, var collected):
                lastRead = .now()
                if let deadline = request.totalDeadline, lastRead > deadline { return fail(UpstreamClientError.totalTimeout) }
                let limit = request.collectLimit ?? Int.max
                guard collected.readableBytes + buffer.readableBytes <= limit else {
                    return fail(UpstreamClientError.responseTooLarge(limit: limit))
                }
                state = .idle  // no copy of the buffer while it grows
                if collected.readableBytes == 0 {
                    collected = buffer
                } else {
                    collected.writeBuffer(&buffer)
                }
                state = .collecting(continuation, request, head, collected)
            default: return
            }
        case .end:
            switch state {
            case .streaming(let stream, let keepAlive):
                timer?.cancel()
                timer = nil
                state = .idle
                stream.finish(nil)
                if keepAlive, let connection { connection.release() } else { context?.close(promise: nil) }
            case .collecting(let continuation, _, let head, let collected):
                timer?.cancel()
                timer = nil
                state = .idle
                if head.keepAlive, let connection { connection.release() } else { context?.close(promise: nil) }
                continuation.resume(
                    returning: UpstreamResponse(
                        status: head.status, headers: head.fields, body: .collected(collected),
                        headReceived: headReceived))
            default: return
            }
        }
    }

    public func read(context: ChannelHandlerContext) {
        if case .streaming(let stream, _) = state, !stream.wantsMore {
            readPending = true
        } else {
            context.read()
        }
    }

    func demand(generation: Int) {
        guard generation == self.generation, case .streaming = state else { return }
        if readPending, let context {
            readPending = false
            context.read()
        }
    }

    func bodyTerminated(generation: Int) {
        // The consumer dropped the body before its end: the rest of it is unwanted.
        guard generation == self.generation, case .streaming = state else { return }
        fail(CancellationError())
    }

    /// One timer per response, not one per chunk: it looks at the time of the last read when it fires.
    private func armIdleTimer() {
        lastRead = .now()
        timer?.cancel()
        timer = eventLoop.scheduleTask(deadline: nextCheck) { [self] in checkIdle() }
    }

    private func checkIdle() {
        let now = NIODeadline.now()
        switch state {
        case .streaming:
            if let deadline = firstBodyDeadline {
                if now >= deadline { return fail(UpstreamClientError.firstByteTimeout) }
                timer = eventLoop.scheduleTask(deadline: nextCheck) { [self] in checkIdle() }
                return
            }
        case .collecting(_, let request, _, _):
            if let deadline = request.totalDeadline, now > deadline { return fail(UpstreamClientError.totalTimeout) }
        default: return
        }
        if case .streaming(let stream, _) = state, !stream.wantsMore {
            // The consumer is slow, not the upstream.
            lastRead = now
        } else if now - lastRead >= idleTimeout {
            fail(UpstreamClientError.idleTimeout)
            return
        }
        timer = eventLoop.scheduleTask(deadline: nextCheck) { [self] in checkIdle() }
    }

    /// When the idle (or, for a body read whole, the total) deadline next needs a look.
    private var nextCheck: NIODeadline {
        if case .streaming = state, let deadline = firstBodyDeadline { return deadline }
        if case .collecting(_, let request, _, _) = state, let deadline = request.totalDeadline {
            return min(lastRead + idleTimeout, deadline)
        }
        return lastRead + idleTimeout
    }

    public func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if let ssl = error as? NIOSSLError {
            tlsFailure = UpstreamClientError.tls(String(describing: ssl))
            fail(UpstreamClientError.tls(String(describing: ssl)))
        } else if let ssl = error as? BoringSSLError {
            tlsFailure = UpstreamClientError.tls(String(describing: ssl))
            fail(UpstreamClientError.tls(String(describing: ssl)))
        } else if case .awaitingHead = state, !requestWritten {
            // A write that failed (or a reset before the request was written whole): it did not reach the upstream.
            fail(UpstreamClientError.notSent)
        } else {
            fail(error)
        }
    }

    public func channelInactive(context: ChannelHandlerContext) {
        // A body delimited by the close ends here.
        var ended = false
        try? parser.finish { part in if case .end = part { ended = true } }
        if ended { handle(.end) }
        let unanswered: UpstreamClientError
        if receivedAnything {
            unanswered = .closedMidAnswer
        } else if case .awaitingHead = state, !requestWritten {
            unanswered = .notSent
        } else {
            unanswered = .connectionClosed
        }
        fail(tlsFailure ?? unanswered)
        state = .closed
        context.fireChannelInactive()
    }

    private func fail(_ error: any Error) {
        timer?.cancel()
        timer = nil
        let current = state
        state = .closed
        switch current {
        case .awaitingHead(let continuation, _), .collecting(let continuation, _, _, _): continuation.resume(throwing: error)
        case .streaming(let stream, _): stream.finish(error)
        case .idle, .closed: break
        }
        context?.close(promise: nil)
    }
}
