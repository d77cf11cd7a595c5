import Logging
import ServiceLifecycle

/// Runs the HTTP application and bounds its graceful shutdown: on SIGTERM the server stops accepting and
/// in-flight requests and streams may finish for the grace period; then upstream calls still running are
/// cut, so each ends with a clean error (a 503, or an error event on a stream) and the server exits.
struct DrainingService<App: Service>: Service {
    let app: App
    let store: EngineStore
    let lifecycle: ServerLifecycle
    /// Overrides the config's `shutdown_grace_period` when set.
    let gracePeriod: Double?
    let logger: Logger
    /// How long after the grace period to wait for responses to end before cancelling them outright.
    static var backstop: Duration { .seconds(5) }

    enum Event {
        case appEnded
        case graceOver
    }

    func run() async throws {
        try await withThrowingTaskGroup(of: Event.self) { group in
            group.addTask {
                try await app.run()
                return .appEnded
            }
            group.addTask {
                try await gracefulShutdown()
                let engine = store.current
                let grace = gracePeriod ?? engine.table.settings.shutdownGracePeriod
                lifecycle.beginDraining(grace: grace)
                logger.info("shutting down", metadata: ["grace_period_seconds": .stringConvertible(grace)])
                try await Task.sleep(for: .milliseconds(Int64(grace * 1000)))
                lifecycle.endGrace()
                logger.warning(
                    "grace period over; ending requests still in flight",
                    metadata: ["grace_period_seconds": .stringConvertible(grace)])
                await engine.clients.shutdown()
                try await Task.sleep(for: Self.backstop)
                return .graceOver
            }
            var cancelled = false
            while true {
                do {
                    guard let event = try await group.next() else { break }
                    if case .appEnded = event { break }
                    // Responses blocked on a client that stopped reading: cancel them.
                    logger.warning("responses still open after the grace period; closing their connections")
                    cancelled = true
                    group.cancelAll()
                } catch {
                    if cancelled { break }
                    throw error
                }
            }
            group.cancelAll()
        }
    }
}
