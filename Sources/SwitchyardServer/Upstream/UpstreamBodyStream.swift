import NIOCore

/// Takes a streamed upstream body chunk by chunk on the connection's event loop, once attached to the stream.
protocol UpstreamBodySink: AnyObject {
    /// A chunk of the body; returns whether the sink takes more now (false pauses reading until `demand()`).
    func received(_ chunk: ByteBuffer) -> Bool
    /// The body ended: cleanly (nil) or with the connection's error.
    func ended(_ error: (any Error)?)
}

/// The body of a streamed upstream response, as the connection reads it. A task takes it chunk by chunk with
/// `next()`; or a sink is attached, and from then on each chunk is handed to the sink on the event loop as it
/// is read, with no task to resume per chunk. Back-pressure: the connection reads on while fewer than
/// `highWatermark` chunks wait for a task, or while the sink takes more.
///
/// Loop confinement: the state is touched on `loop` only (`next()` hops there when called elsewhere).
final class UpstreamBodyStream: @unchecked Sendable {
    static let highWatermark = 8

    let loop: any EventLoop
    private weak var handler: UpstreamConnectionHandler?
    private let generation: Int
    private var buffered = CircularBuffer<ByteBuffer>(initialCapacity: 4)
    private enum End {
        case open
        case finished
        case failed(any Error)
    }
    private var end = End.open
    private var waiter: CheckedContinuation<ByteBuffer?, any Error>?
    private var sink: (any UpstreamBodySink)?
    private var sinkWantsMore = true
    /// Set while a chunk is handed to the sink; a `demand()` meanwhile (its client drained at once) wins over
    /// the sink's answer.
    private var delivering = false
    private var demandedWhileDelivering = false
    /// The consumer went away: nothing more is delivered.
    private var abandoned = false

    init(loop: any EventLoop, handler: UpstreamConnectionHandler, generation: Int) {
        self.loop = loop
        self.handler = handler
        self.generation = generation
    }

    // MARK: The connection's side

    /// Whether the connection should read on.
    var wantsMore: Bool {
        if abandoned { return true }
        if sink != nil { return sinkWantsMore }
        return buffered.count < Self.highWatermark
    }

    /// A chunk read from the connection.
    func received(_ chunk: ByteBuffer) {
        guard !abandoned else { return }
        if let sink {
            deliver(chunk, to: sink)
        } else if let waiter {
            self.waiter = nil
            waiter.resume(returning: chunk)
        } else {
            buffered.append(chunk)
        }
    }

    /// The body ended (`error` nil) or failed.
    func finish(_ error: (any Error)?) {
        guard case .open = end else { return }
        end = error.map { .failed($0) } ?? .finished
        guard !abandoned else { return }
        if let sink {
            self.sink = nil
            sink.ended(error)
        } else if let waiter, buffered.isEmpty {
            self.waiter = nil
            if let error { waiter.resume(throwing: error) } else { waiter.resume(returning: nil) }
        }
    }

    // MARK: The consumer's side

    /// The next chunk, or nil at the end; throws the connection's error. Cancelling the task ends the body.
    func next() async throws -> ByteBuffer? {
        if loop.inEventLoop, let chunk = takeBuffered() { return chunk }
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<ByteBuffer?, any Error>) in
                if loop.inEventLoop {
                    wait(continuation)
                } else {
                    loop.execute { self.wait(continuation) }
                }
            }
        } onCancel: {
            loop.execute { self.abandon(CancellationError()) }
        }
    }

    /// A buffered chunk, taken; on the loop.
    private func takeBuffered() -> ByteBuffer? {
        guard let chunk = buffered.popFirst() else { return nil }
        if buffered.count == Self.highWatermark - 1 { handler?.demand(generation: generation) }
        return chunk
    }

    private func wait(_ continuation: CheckedContinuation<ByteBuffer?, any Error>) {
        if let chunk = takeBuffered() { return continuation.resume(returning: chunk) }
        if abandoned { return continuation.resume(throwing: CancellationError()) }
        switch end {
        case .finished: continuation.resume(returning: nil)
        case .failed(let error): continuation.resume(throwing: error)
        case .open:
            waiter = continuation
            handler?.demand(generation: generation)
        }
    }

    /// Hands the rest of the body to `sink`, on the loop: the chunks already read first, then each as it is read,
    /// then the end.
    func attach(_ sink: any UpstreamBodySink) {
        guard !abandoned else { return sink.ended(CancellationError()) }
        sinkWantsMore = true
        while let chunk = buffered.popFirst() {
            deliver(chunk, to: sink)
            if abandoned { return }
        }
        switch end {
        case .finished: sink.ended(nil)
        case .failed(let error): sink.ended(error)
        case .open:
            self.sink = sink
            if sinkWantsMore { handler?.demand(generation: generation) }
        }
    }

    private func deliver(_ chunk: ByteBuffer, to sink: any UpstreamBodySink) {
        delivering = true
        demandedWhileDelivering = false
        let more = sink.received(chunk)
        delivering = false
        sinkWantsMore = more || demandedWhileDelivering
    }

    /// The attached sink takes more again; on the loop.
    func demand() {
        if delivering {
            demandedWhileDelivering = true
            return
        }
        guard sink != nil, !abandoned else { return }
        sinkWantsMore = true
        handler?.demand(generation: generation)
    }

    /// The consumer has all it wants (the stream's `[DONE]`): whatever else the upstream sends is read and
    /// dropped, so the connection can serve another request once the body ends; on the loop.
    func detach() {
        abandoned = true
        sink = nil
        buffered.removeAll()
        handler?.demand(generation: generation)
    }

    /// The consumer is done before the body's end (it stopped reading, or its client left): the connection
    /// drops the rest; on the loop.
    func abandon(_ reason: any Error = CancellationError()) {
        guard !abandoned else { return }
        abandoned = true
        sink = nil
        buffered.removeAll()
        if let waiter {
            self.waiter = nil
            waiter.resume(throwing: reason)
        }
        if case .open = end { handler?.bodyTerminated(generation: generation) }
    }
}

/// The consumer's hold on a streamed body: when it is dropped before the body's end, the connection stops
/// reading it (and closes, as it cannot carry another answer).
public final class UpstreamBodyReader: Sendable {
    let stream: UpstreamBodyStream

    init(_ stream: UpstreamBodyStream) {
        self.stream = stream
    }

    /// The next chunk, or nil at the end.
    public func next() async throws -> ByteBuffer? {
        try await stream.next()
    }

    deinit {
        let stream = self.stream
        if stream.loop.inEventLoop {
            stream.abandon()
        } else {
            stream.loop.execute { stream.abandon() }
        }
    }
}
