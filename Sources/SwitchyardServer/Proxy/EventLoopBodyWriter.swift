import NIOCore

/// A response body writer that a relay can also drive from the channel's event loop, synchronously: a stream
/// whose upstream chunks are read on the same loop is then relayed as each chunk is read, with no task resumed
/// per chunk. Every member but `eventLoop` and `isStreaming` is called on the event loop only.
protocol EventLoopBodyWriter: Sendable {
    var eventLoop: any EventLoop { get }
    /// Whether the answer is a stream whose head is already written (only then is it written from the loop).
    var isStreaming: Bool { get }
    /// Writes and flushes body bytes; false when the client is gone.
    func writeOnLoop(_ buffer: ByteBuffer) -> Bool
    /// Writes and flushes the body bytes `render` appends (room for `capacity` made first), framed in the same
    /// buffer; nothing when it appends none. False when the client is gone (`render` is not called then).
    func writeOnLoop(capacity: Int, _ render: (inout ByteBuffer) -> Void) -> Bool
    /// Whether the client's socket takes more without the channel buffering past its high-water mark.
    var clientTakesMore: Bool { get }
    /// Calls `body` once the client's socket takes more again, or the client is gone.
    func whenClientTakesMore(_ body: @escaping () -> Void)
    /// Ends the body.
    func finishOnLoop()
}
