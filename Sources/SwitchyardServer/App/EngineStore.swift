import Synchronization

/// The engine in force. A request reads it once, at its start, and finishes on that engine even if a reload
/// swaps in another meanwhile.
public final class EngineStore: Sendable {
    private let engine: Mutex<ProxyEngine>

    /// Holds `engine`.
    public init(_ engine: ProxyEngine) {
        self.engine = Mutex(engine)
    }

    /// The engine new requests use.
    public var current: ProxyEngine { engine.withLock { $0 } }

    /// Makes `next` the engine new requests use.
    public func replace(with next: ProxyEngine) {
        engine.withLock { $0 = next }
    }
}
