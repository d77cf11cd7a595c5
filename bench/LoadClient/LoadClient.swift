// switchyard-load: the benchmark's own load client. It measures what wrk cannot: open-loop constant-rate load
// timed from each request's scheduled send (no coordinated omission), time to first byte, time to first content
// delta, every inter-chunk gap, frames per stream and stalls. Prints one JSON object.
//
// It speaks HTTP/1.1 itself on NIO's event loops (the request rendered once, responses read by SwitchyardCore's
// `HTTPResponseParser`), so that it costs little next to what it measures: in the shared topology it runs on the
// same two cores as the proxy and the mock (AsyncHTTPClient cost ~225 us of CPU per request there, more than the
// proxy).
import ArgumentParser
import Foundation
import Histogram
import NIOCore
import NIOPosix
import SwitchyardCore

@main
struct LoadClient: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "switchyard-load",
        abstract: "Open- or closed-loop HTTP load for chat completions; prints a JSON summary (times in microseconds).")

    @Option(help: "Chat completions URL (http only), e.g. http://127.0.0.1:4000/v1/chat/completions.")
    var url: String

    @Option(help: "Model alias (the same name is an upstream model of the mock, so direct and proxied bodies match).")
    var model = "grok-code-fast-1"

    @Flag(help: "Ask for a stream and time its events.")
    var stream = false

    @Flag(help: "With --stream, ask for the usage chunk (so a proxy that would strip its own need not).")
    var includeUsage = false

    @Option(help: "Open loop: requests per second, each timed from its scheduled send. 0 means closed loop.")
    var rate: Double = 0

    @Option(help: "Closed loop: concurrent workers. Open loop: the most requests in flight.")
    var concurrency = 1

    @Option(help: "Requests to send (after warm-up).")
    var requests = 1000

    @Option(help: "Warm-up requests, not measured.")
    var warmup = 100

    @Option(help: "Bytes of prompt text per request.")
    var promptBytes = 150

    @Option(help: "The request's API: chat, responses (a Responses API body) or messages (an Anthropic Messages body).")
    var api = "chat"

    @Option(help: "Expected gap between stream events, ms; a gap over 10x this is a stall.")
    var expectedIntervalMs: Double = 0

    @Option(help: "Bearer key to send.")
    var key: String?

    @Option(help: "Give up on one request after this many seconds.")
    var timeout: Int64 = 120

    @Option(help: "A JSON object whose members are added to each request body (e.g. prompt_variables).")
    var extra: String?

    func run() throws {
        let target = try Target(url: url, key: key, body: requestBody().encodedBytes(), stream: stream, timeout: timeout)
        let group = MultiThreadedEventLoopGroup(numberOfThreads: max(1, min(System.coreCount, concurrency)))
        defer { try? group.syncShutdownGracefully() }
        let pools = group.makeIterator().map { ConnectionPool(loop: $0, target: target) }
        _ = try ClosedLoop.run(pools: pools, count: warmup, workers: max(1, min(concurrency, 64)))
        let started = Clock.now()
        let results =
            rate > 0
            ? try OpenLoop.run(pool: pools[0], count: requests, rate: rate, maxInFlight: max(concurrency, 1))
            : try ClosedLoop.run(pools: pools, count: requests, workers: max(concurrency, 1))
        let elapsed = Clock.now() - started
        for pool in pools { try? pool.loop.submit { pool.closeAll() }.wait() }
        print(Summary(results: results, elapsedNanoseconds: elapsed, expectedIntervalMs: expectedIntervalMs).json.encodedString())
    }

    func requestBody() -> JSONValue {
        let words = "Summarize the trade-offs of proxies for language model APIs in plain words. "
        var prompt = ""
        while prompt.utf8.count < promptBytes { prompt += words }
        prompt = String(prompt.utf8.prefix(promptBytes)) ?? prompt
        let message = JSONValue.object(["role": "user", "content": .string(prompt)])
        var object: JSONObject =
            switch api {
            case "responses": ["model": .string(model), "input": .string(prompt)]
            case "messages": ["model": .string(model), "max_tokens": 1024, "messages": .array([message])]
            default: ["model": .string(model), "messages": .array([message])]
            }
        if stream { object["stream"] = true }
        if stream, includeUsage, api == "chat" { object["stream_options"] = .object(["include_usage": true]) }
        if let extra, let members = (try? JSONParser.parse(extra))?.objectValue {
            for (name, value) in members { object[name] = value }
        }
        return .object(object)
    }
}

/// Nanoseconds on the monotonic clock NIO's deadlines use.
enum Clock {
    static func now() -> UInt64 { NIODeadline.now().uptimeNanoseconds }
}

/// Where requests go and the bytes of one request, rendered once.
struct Target: Sendable {
    let host: String
    let port: Int
    let request: ByteBuffer
    let stream: Bool
    let timeout: TimeAmount

    struct BadURL: Error, CustomStringConvertible {
        let description: String
    }

    init(url: String, key: String?, body: [UInt8], stream: Bool, timeout: Int64) throws {
        guard let parsed = URL(string: url), parsed.scheme == "http", let host = parsed.host else {
            throw BadURL(description: "expected an http:// URL with a host, got \(url)")
        }
        self.host = host
        port = parsed.port ?? 80
        var path = parsed.path.isEmpty ? "/" : parsed.path
        if let query = parsed.query { path += "?\(query)" }
        var head = "POST \(path) HTTP/1.1\r\nhost: \(host):\(port)\r\ncontent-type: application/json\r\n"
        if let key { head += "authorization: Bearer \(key)\r\n" }
        head += "content-length: \(body.count)\r\n\r\n"
        var request = ByteBuffer(string: head)
        request.writeBytes(body)
        self.request = request
        self.stream = stream
        self.timeout = .seconds(timeout)
    }
}

/// One request's measurements, in microseconds from its scheduled send.
struct Outcome: Sendable {
    var ok = false
    var status = 0
    var latency: UInt64 = 0
    var firstByte: UInt64 = 0
    var firstContent: UInt64?
    var gaps: [UInt64] = []
    var frames = 0
    var sawDone = false
}

/// A keep-alive connection that carries one request at a time; used only on its event loop.
final class LoadConnection: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = ByteBuffer

    /// The request in flight.
    private struct Exchange {
        let scheduled: UInt64
        let done: (Outcome) -> Void
        var outcome = Outcome()
        var splitter = SSEEventSplitter()
        var lastEvent: UInt64?
        var received = 0
        var timeout: Scheduled<Void>?
    }

    let target: Target
    private(set) var channel: (any Channel)?
    private var parser = HTTPResponseParser(keepsFields: false)
    private var exchange: Exchange?
    private var keepAlive = true
    /// Whether another request can be sent on it.
    var usable: Bool { channel?.isActive == true && keepAlive && exchange == nil }

    init(target: Target) {
        self.target = target
    }

    func handlerAdded(context: ChannelHandlerContext) {
        channel = context.channel
    }

    /// Sends the request; `done` is called once with its outcome.
    func send(scheduled: UInt64, done: @escaping (Outcome) -> Void) {
        guard let channel else { return done(Self.failed(scheduled)) }
        var exchange = Exchange(scheduled: scheduled, done: done)
        exchange.timeout = channel.eventLoop.assumeIsolated().scheduleTask(in: target.timeout) { [self] in
            finish(ok: false, at: Clock.now())
            channel.close(promise: nil)
        }
        self.exchange = exchange
        channel.writeAndFlush(target.request, promise: nil)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let now = Clock.now()
        let buffer = unwrapInboundIn(data)
        var ended = false
        do {
            try buffer.withUnsafeReadableBytes { raw in
                try parser.parse(raw) { part in
                    switch part {
                    case .head(let head): self.received(head, at: now)
                    case .body(let bytes): self.received(bytes, at: now)
                    case .end: ended = true
                    }
                }
            }
        } catch {
            keepAlive = false
            finish(ok: false, at: now)
            context.close(promise: nil)
            return
        }
        if ended { finish(ok: true, at: now) }
    }

    func channelInactive(context: ChannelHandlerContext) {
        var ended = false
        try? parser.finish { part in if case .end = part { ended = true } }
        keepAlive = false
        finish(ok: ended, at: Clock.now())
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        keepAlive = false
        context.close(promise: nil)
    }

    func close() {
        keepAlive = false
        channel?.close(promise: nil)
    }

    private func received(_ head: HTTPResponseParser.Head, at now: UInt64) {
        guard var exchange else { return }
        exchange.outcome.status = head.status
        exchange.outcome.firstByte = (now - exchange.scheduled) / 1000
        keepAlive = head.keepAlive
        self.exchange = exchange
    }

    private func received(_ bytes: UnsafeRawBufferPointer, at now: UInt64) {
        guard var exchange else { return }
        self.exchange = nil
        defer { self.exchange = exchange }
        exchange.received += bytes.count
        guard target.stream, let events = try? exchange.splitter.append(bytes) else { return }
        for event in events {
            let parsed = SSEEvent(bytes: event)
            guard let data = parsed.data else { continue }
            exchange.outcome.frames += 1
            if let last = exchange.lastEvent { exchange.outcome.gaps.append((now - last) / 1000) }
            exchange.lastEvent = now
            if parsed.isDone { exchange.outcome.sawDone = true }
            if exchange.outcome.firstContent == nil, data.containsBytes("\"content\":\""),
                !data.containsBytes("\"content\":\"\"")
            {
                exchange.outcome.firstContent = (now - exchange.scheduled) / 1000
            }
        }
    }

    /// Ends the exchange in flight, if any: a response read whole is ok when it is a 200 with a body (and, for a
    /// stream, its `[DONE]`); `now` is when its last byte (or the failure) was seen.
    private func finish(ok: Bool, at now: UInt64) {
        guard let exchange else { return }
        self.exchange = nil
        exchange.timeout?.cancel()
        var outcome = exchange.outcome
        outcome.ok = ok && outcome.status == 200 && (target.stream ? outcome.sawDone : exchange.received > 0)
        outcome.latency = (now - exchange.scheduled) / 1000
        if !ok { keepAlive = false }
        exchange.done(outcome)
    }

    static func failed(_ scheduled: UInt64) -> Outcome {
        var outcome = Outcome()
        outcome.latency = (Clock.now() - scheduled) / 1000
        return outcome
    }
}

/// The idle connections of one event loop; used only on that loop.
final class ConnectionPool: @unchecked Sendable {
    let loop: any EventLoop
    let target: Target
    private var idle: [LoadConnection] = []
    private var all: [ObjectIdentifier: LoadConnection] = [:]

    init(loop: any EventLoop, target: Target) {
        self.loop = loop
        self.target = target
    }

    /// Sends one request on an idle connection, or on a new one.
    func send(scheduled: UInt64, done: @escaping (Outcome) -> Void) {
        while let connection = idle.popLast() {
            if connection.usable { return send(on: connection, scheduled: scheduled, done: done) }
            all[ObjectIdentifier(connection)] = nil
        }
        let connection = LoadConnection(target: target)
        ClientBootstrap(group: loop)
            .channelOption(.tcpOption(.tcp_nodelay), value: 1)
            .connectTimeout(.seconds(5))
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(connection) }
            }
            .connect(host: target.host, port: target.port)
            .assumeIsolated()
            .whenComplete { result in
                switch result {
                case .success:
                    self.all[ObjectIdentifier(connection)] = connection
                    self.send(on: connection, scheduled: scheduled, done: done)
                case .failure:
                    done(LoadConnection.failed(scheduled))
                }
            }
    }

    private func send(on connection: LoadConnection, scheduled: UInt64, done: @escaping (Outcome) -> Void) {
        connection.send(scheduled: scheduled) { outcome in
            if connection.usable {
                self.idle.append(connection)
            } else {
                self.all[ObjectIdentifier(connection)] = nil
            }
            done(outcome)
        }
    }

    func closeAll() {
        for connection in all.values { connection.close() }
        all = [:]
        idle = []
    }
}

/// `workers` loops spread over the event loops, each sending its share back to back.
enum ClosedLoop {
    static func run(pools: [ConnectionPool], count: Int, workers: Int) throws -> [Outcome] {
        guard count > 0 else { return [] }
        let futures = (0..<workers).map { worker -> EventLoopFuture<[Outcome]> in
            let pool = pools[worker % pools.count]
            let share = count / workers + (worker < count % workers ? 1 : 0)
            return pool.loop.flatSubmit { Worker(pool: pool, count: share).start() }
        }
        return try futures.flatMap { try $0.wait() }
    }

    /// One closed-loop worker; used only on its pool's loop.
    final class Worker: @unchecked Sendable {
        let pool: ConnectionPool
        var remaining: Int
        var outcomes: [Outcome] = []
        let promise: EventLoopPromise<[Outcome]>

        init(pool: ConnectionPool, count: Int) {
            self.pool = pool
            remaining = count
            outcomes.reserveCapacity(count)
            promise = pool.loop.makePromise()
        }

        func start() -> EventLoopFuture<[Outcome]> {
            next()
            return promise.futureResult
        }

        private func next() {
            guard remaining > 0 else { return promise.succeed(outcomes) }
            remaining -= 1
            pool.send(scheduled: Clock.now()) { outcome in
                self.outcomes.append(outcome)
                // Sent from the loop's next turn, so a run of failures does not recurse.
                self.pool.loop.assumeIsolated().execute { self.next() }
            }
        }
    }
}

/// Requests sent at a constant rate, each timed from when it was due, not from when it went out; at most
/// `maxInFlight` at once (the rest wait, their wait counted).
final class OpenLoop: @unchecked Sendable {
    let pool: ConnectionPool
    let count: Int
    let start: UInt64
    let interval: UInt64
    let maxInFlight: Int
    var sent = 0
    var inFlight = 0
    var waiting: [UInt64] = []
    var waitingHead = 0
    var outcomes: [Outcome] = []
    let promise: EventLoopPromise<[Outcome]>

    static func run(pool: ConnectionPool, count: Int, rate: Double, maxInFlight: Int) throws -> [Outcome] {
        guard count > 0 else { return [] }
        return try pool.loop.flatSubmit {
            let driver = OpenLoop(pool: pool, count: count, rate: rate, maxInFlight: maxInFlight)
            driver.tick()
            return driver.promise.futureResult
        }.wait()
    }

    private init(pool: ConnectionPool, count: Int, rate: Double, maxInFlight: Int) {
        self.pool = pool
        self.count = count
        self.maxInFlight = maxInFlight
        interval = UInt64(1e9 / rate)
        start = Clock.now() + 10_000_000
        outcomes.reserveCapacity(count)
        promise = pool.loop.makePromise()
    }

    private func due(_ index: Int) -> UInt64 { start + interval * UInt64(index) }

    /// Sends every request now due, then sleeps until the next one is.
    private func tick() {
        let now = Clock.now()
        while sent < count, due(sent) <= now {
            dispatch(due(sent))
            sent += 1
        }
        guard sent < count else { return }
        pool.loop.assumeIsolated().scheduleTask(deadline: .uptimeNanoseconds(due(sent))) { self.tick() }
    }

    private func dispatch(_ scheduled: UInt64) {
        guard inFlight < maxInFlight else { return waiting.append(scheduled) }
        inFlight += 1
        pool.send(scheduled: scheduled) { outcome in
            self.outcomes.append(outcome)
            self.inFlight -= 1
            if self.outcomes.count == self.count { return self.promise.succeed(self.outcomes) }
            if self.waitingHead < self.waiting.count {
                let next = self.waiting[self.waitingHead]
                self.waitingHead += 1
                self.pool.loop.assumeIsolated().execute { self.dispatch(next) }
            }
        }
    }
}

/// Percentiles and counts as JSON.
struct Summary {
    let json: JSONValue

    init(results: [Outcome], elapsedNanoseconds: UInt64, expectedIntervalMs: Double) {
        func histogram(_ values: [UInt64]) -> JSONValue {
            guard !values.isEmpty else { return .null }
            var histogram = Histogram<UInt64>(highestTrackableValue: 600_000_000)
            for value in values { _ = histogram.record(min(value, 600_000_000)) }
            return .object([
                "count": .int(values.count), "p50": .int(Int(histogram.valueAtPercentile(50))),
                "p90": .int(Int(histogram.valueAtPercentile(90))), "p99": .int(Int(histogram.valueAtPercentile(99))),
                "p999": .int(Int(histogram.valueAtPercentile(99.9))), "max": .int(Int(histogram.max)),
                "mean": .double((histogram.mean * 10).rounded() / 10),
            ])
        }
        let ok = results.filter(\.ok)
        let seconds = Double(elapsedNanoseconds) / 1e9
        let stallLimit = UInt64(expectedIntervalMs * 10 * 1000)
        let stalled = expectedIntervalMs > 0 ? ok.filter { $0.gaps.contains { $0 > stallLimit } }.count : 0
        let frames = ok.map(\.frames)
        json = .object([
            "requests": .int(results.count), "ok": .int(ok.count), "errors": .int(results.count - ok.count),
            "statuses": .object(
                JSONObject(
                    Dictionary(grouping: results, by: \.status).sorted { $0.key < $1.key }.map {
                        (String($0.key), JSONValue.int($0.value.count))
                    })),
            "seconds": .double((seconds * 1000).rounded() / 1000),
            "rps": .double((Double(results.count) / max(seconds, 1e-9)).rounded()),
            "latency_us": histogram(ok.map(\.latency)), "ttfb_us": histogram(ok.map(\.firstByte)),
            "ttfc_us": histogram(ok.compactMap(\.firstContent)), "gap_us": histogram(ok.flatMap(\.gaps)),
            "frames_per_stream": frames.isEmpty
                ? .null
                : .object([
                    "min": .int(frames.min() ?? 0), "max": .int(frames.max() ?? 0),
                    "mean": .double(Double(frames.reduce(0, +)) / Double(frames.count)),
                ]),
            "stalled_streams": .int(stalled), "stall_free_streams": .int(stream(results) ? ok.count - stalled : 0),
        ])

        func stream(_ results: [Outcome]) -> Bool { results.contains { $0.frames > 0 } }
    }
}
