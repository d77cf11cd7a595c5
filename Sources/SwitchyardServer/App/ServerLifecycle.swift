import Synchronization

/// Where the server is in its life: serving, draining after SIGTERM, or past the grace period, when what is still
/// running is ended with a clean error.
public final class ServerLifecycle: Sendable {
    private let phase = Atomic<Int>(0)
    private let graceMilliseconds = Atomic<Int>(0)

    /// A serving server.
    public init() {}

    /// SIGTERM (or SIGINT) arrived: no new connections, in-flight requests may finish.
    public var isDraining: Bool { phase.load(ordering: .relaxed) >= 1 }
    /// The grace period is over: in-flight requests end now.
    public var isPastGrace: Bool { phase.load(ordering: .relaxed) >= 2 }

    /// The grace period in force, in seconds (0 before draining).
    public var gracePeriod: Double { Double(graceMilliseconds.load(ordering: .relaxed)) / 1000 }

    /// Marks the start of draining, with `grace` seconds for in-flight requests.
    public func beginDraining(grace: Double) {
        graceMilliseconds.store(Int(grace * 1000), ordering: .relaxed)
        phase.store(max(1, phase.load(ordering: .relaxed)), ordering: .relaxed)
    }
    /// Marks the end of the grace period.
    public func endGrace() { phase.store(2, ordering: .relaxed) }
}
