import Foundation
import Logging
import ServiceLifecycle
import SwitchyardCore
import SwitchyardStorage
import Synchronization

/// Keeps the run-time configuration in force in step with the database: it is read once storage is ready, at
/// once after each change made through this instance, and whenever the newest revision, polled every
/// `general_settings.user_api_key_cache_ttl`, differs from the one in force (a change made by another instance or
/// the CLI). Each new configuration is applied through the same engine swap as a file reload, so a request runs
/// on one whole configuration. The request path never reads the database for it.
public final class RuntimeConfigSync: Service, Sendable {
    let storage: (any Storage)?
    let store: EngineStore
    let logger: Logger
    /// One read-and-apply at a time: an older read must not be applied after a newer one.
    private let refreshing = AsyncLock()
    private let wake = Wakeup()
    private let shutdown = Atomic<Bool>(false)
    /// Whether the last poll failed (logged once until it works again).
    private let failing = Atomic<Bool>(false)
    /// Whether `load` read the database: then the poll's first read waits one interval, as nothing is new yet.
    private let loaded = Atomic<Bool>(false)

    init(storage: (any Storage)?, store: EngineStore, logger: Logger) {
        self.storage = storage
        self.store = store
        self.logger = logger
    }

    /// Reads every record and applies them when they differ from those in force; returns the revision in force.
    @discardableResult
    public func refresh(reason: String) async throws -> Int {
        guard let storage else { return 0 }
        await refreshing.lock()
        do {
            let (revision, records) = try await storage.configRecords()
            let runtime = RuntimeConfig.read(revision: revision, records: records)
            store.change(what: "database", reason: reason) { old in
                old.runtime == runtime ? nil : .success(old.with(runtime: runtime))
            }
            await refreshing.unlock()
            return revision
        } catch {
            await refreshing.unlock()
            throw error
        }
    }

    /// Migrates the schema and reads the configuration once, giving up after `timeout`: `serve` does this before it
    /// listens, so a model added at run time serves from the first request. A database that does not answer is
    /// logged; the file's models serve, and the poll applies the database's once it answers.
    public func load(timeout: Duration = .seconds(10)) async {
        guard let storage else { return }
        let outcome = await Self.race(timeout) { [self] in
            try await storage.migrate()
            return try await refresh(reason: "start-up")
        }
        switch outcome {
        case .success(let revision)?:
            loaded.store(true, ordering: .relaxed)
            if revision > 0 {
                logger.info(
                    "run-time configuration loaded", metadata: ["revision": .stringConvertible(revision)])
            }
        case .failure(let error)?:
            logger.error(
                "run-time configuration not loaded: the database is unavailable; the file's models serve until it answers",
                metadata: ["error": .string(Accounting.describe(error))])
        case nil:
            logger.error(
                "run-time configuration not loaded in time; the file's models serve until the database answers")
        }
    }

    static func race<T: Sendable>(
        _ limit: Duration, _ body: @Sendable @escaping () async throws -> T
    ) async -> Result<T, any Error>? {
        await withTaskGroup(of: Result<T, any Error>?.self) { group in
            group.addTask {
                do { return .success(try await body()) } catch { return .failure(error) }
            }
            group.addTask {
                try? await Task.sleep(for: limit)
                return nil
            }
            let first = await group.next() ?? nil
            group.cancelAll()
            return first
        }
    }

    private var stopping: Bool { shutdown.load(ordering: .relaxed) }

    public func run() async throws {
        guard let storage else {
            try? await gracefulShutdown()
            return
        }
        await withGracefulShutdownHandler {
            while !stopping, !store.current.accounting.isReady { await wake.wait(seconds: 0.1) }
            await withTaskGroup(of: Void.self) { group in
                group.addTask { await self.listen(storage) }
                await poll(storage)
                group.cancelAll()
            }
        } onGracefulShutdown: {
            self.shutdown.store(true, ordering: .relaxed)
            self.wake.poke()
        }
    }

    /// PostgreSQL announces each change (NOTIFY in its transaction): this instance applies it within moments
    /// rather than at the next poll. A dropped listening connection is opened again a second later; the poll
    /// goes on meanwhile.
    private func listen(_ storage: any Storage) async {
        while !stopping, !Task.isCancelled {
            do {
                let listens = try await storage.listenForConfigChanges(
                    ready: { [self] in
                        // What changed before the LISTEN took effect is read now; from here on, each change is
                        // announced.
                        _ = try? await refresh(reason: "changed in the database")
                        logger.info("listening for run-time configuration changes (PostgreSQL NOTIFY)")
                    },
                    notified: { [self] in _ = try? await refresh(reason: "changed in the database (notified)") })
                // SQLite: nothing to listen to; the poll does it all.
                if !listens { return }
            } catch {
                logger.debug(
                    "run-time configuration: listening failed; polling meanwhile",
                    metadata: ["error": .string(Accounting.describe(error))])
            }
            if !stopping, !Task.isCancelled { try? await Task.sleep(for: .seconds(1)) }
        }
    }

    /// Polls the newest revision every `user_api_key_cache_ttl`; at once when `load` could not read it.
    private func poll(_ storage: any Storage) async {
        var first = !loaded.load(ordering: .relaxed)
        if !first { await wake.wait(seconds: max(0.05, store.current.table.settings.keyCacheTTL)) }
        while !stopping {
            do {
                let revision = try await storage.configRevision()
                if first || revision != store.current.table.runtime.revision {
                    try await refresh(reason: first ? "start-up" : "changed in the database")
                }
                first = false
                if failing.exchange(false, ordering: .relaxed) {
                    logger.info("run-time configuration readable again")
                }
            } catch {
                if !failing.exchange(true, ordering: .relaxed) {
                    logger.error(
                        "run-time configuration not read: the database is unavailable; the configuration in force keeps serving",
                        metadata: ["error": .string(Accounting.describe(error))])
                }
            }
            await wake.wait(seconds: max(0.05, store.current.table.settings.keyCacheTTL))
        }
    }
}
