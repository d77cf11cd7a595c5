import SwitchyardCore
import Synchronization

/// The engine in force. A request reads it once, at its start, and finishes on that engine even if a reload
/// swaps in another meanwhile.
public final class EngineStore: Sendable {
    private let engine: Mutex<ProxyEngine>
    /// What the completion front reads on every request, kept apart: reading it copies two numbers, not the engine.
    private let front: Mutex<FrontSettings>

    /// The settings the completion front reads per request and per read.
    struct FrontSettings: Sendable {
        var bodyLimit: Int
        var clientTimeouts: ClientTimeouts

        init(_ engine: ProxyEngine) {
            bodyLimit = engine.table.settings.maxRequestBodyBytes
            clientTimeouts = engine.table.settings.clientTimeouts
        }
    }

    /// Holds `engine`.
    public init(_ engine: ProxyEngine) {
        self.engine = Mutex(engine)
        self.front = Mutex(FrontSettings(engine))
    }

    /// The largest request body the engine in force accepts.
    var bodyLimit: Int { front.withLock { $0.bodyLimit } }
    /// The client timeouts of the engine in force.
    var clientTimeouts: ClientTimeouts { front.withLock { $0.clientTimeouts } }

    /// The engine new requests use.
    public var current: ProxyEngine { engine.withLock { $0 } }

    /// Makes `next` the engine new requests use.
    public func replace(with next: ProxyEngine) {
        engine.withLock { $0 = next }
        front.withLock { $0 = FrontSettings(next) }
    }
}
