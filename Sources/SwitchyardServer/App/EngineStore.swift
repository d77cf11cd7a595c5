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

    /// Held while a change of table is made: a file reload and a run-time change each start from the table in force
    /// and must not both start from the same one.
    private let changing = Mutex(0)

    /// Builds the next table from the one in force and swaps in an engine serving it; deployments it leaves
    /// unchanged keep their counters and breakers. `make` answers nil when there is nothing to change, or why the
    /// change is refused (the old table keeps serving). `what` and `reason` go to the log.
    @discardableResult
    func change(
        what: String, reason: String, _ make: (ModelTable) -> Result<ModelTable, ConfigReloadError>?
    ) -> ReloadOutcome? {
        changing.withLock { changes in
            let old = current
            let table: ModelTable
            switch make(old.table) {
            case nil: return nil
            case .failure(let error)?:
                old.logger.error(
                    "config reload rejected; the previous config keeps serving",
                    metadata: ["config": .string(what), "reason": .string(reason), "problems": .string(error.description)])
                return .rejected(error.description)
            case .success(let made)?: table = made
            }
            changes += 1
            old.redactors.update(old.redactors.redactor.adding(secrets: table.secrets))
            let next = ProxyEngine(
                table: table, clients: old.clients, redactors: old.redactors, requestLog: old.requestLog,
                accounting: old.accounting, logger: old.logger, lifecycle: old.lifecycle, carryingOver: old.router,
                tracing: old.tracing)
            replace(with: next)
            let enabled = table.deployments.filter(\.status.isEnabled)
            let kept = enabled.filter { next.router.shares($0, with: old.router) }.count
            for diagnostic in table.diagnostics { old.logger.warning("\(diagnostic.description)") }
            old.logger.info(
                "config reloaded",
                metadata: [
                    "config": .string(what), "reason": .string(reason), "enabled": .stringConvertible(enabled.count),
                    "deployments": .stringConvertible(table.deployments.count), "kept_state": .stringConvertible(kept),
                    "aliases": .string(table.enabledAliases.joined(separator: ",")),
                    "runtime_revision": .stringConvertible(table.runtime.revision),
                ])
            return .applied(deployments: enabled.count, kept: kept)
        }
    }
}
