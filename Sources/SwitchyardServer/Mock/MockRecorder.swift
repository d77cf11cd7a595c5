import SwitchyardCore
import Synchronization

/// One request as the mock upstream saw it.
public struct RecordedRequest: Sendable {
    /// Path, e.g. `/v1/chat/completions`.
    public let path: String
    /// Headers by lower-case name (last value wins).
    public let headers: [String: String]
    /// The JSON body, when it parsed.
    public let body: JSONValue?
}

/// What the mock upstream has seen: requests (bounded), and streams finished or cut off by the client.
public final class MockRecorder: Sendable {
    private struct State {
        var requests: [RecordedRequest] = []
        var streamsCompleted = 0
        var streamsCancelled = 0
        var streamBytesWritten = 0
    }

    private let state = Mutex(State())
    private let capacity: Int

    /// Creates a recorder keeping the last `capacity` requests.
    public init(capacity: Int = 10_000) { self.capacity = capacity }

    func record(_ request: RecordedRequest) {
        state.withLock { state in
            if state.requests.count >= capacity { state.requests.removeFirst(state.requests.count - capacity + 1) }
            state.requests.append(request)
        }
    }

    func streamFinished(cancelled: Bool) {
        state.withLock { state in
            if cancelled { state.streamsCancelled += 1 } else { state.streamsCompleted += 1 }
        }
    }

    func streamWrote(_ bytes: Int) {
        state.withLock { $0.streamBytesWritten += bytes }
    }

    /// Bytes of streamed answers written so far (a write counts once the connection took it, so a reader that
    /// stops holds this back).
    public var streamBytesWritten: Int { state.withLock { $0.streamBytesWritten } }
    /// Requests seen, oldest first.
    public var requests: [RecordedRequest] { state.withLock { $0.requests } }
    /// Streams written to the end.
    public var streamsCompleted: Int { state.withLock { $0.streamsCompleted } }
    /// Streams the client cut off.
    public var streamsCancelled: Int { state.withLock { $0.streamsCancelled } }

    /// Forgets everything.
    public func reset() { state.withLock { $0 = State() } }
}
