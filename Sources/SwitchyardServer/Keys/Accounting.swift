import Foundation
import Logging
import ServiceLifecycle
import SwitchyardCore
import SwitchyardStorage
import Synchronization

/// Keys, spend and the request log: the in-memory key cache the request path reads, and the service that keeps it
/// in step with the database and writes request-log rows in batches, off the request path.
///
/// Rows wait in a bounded buffer while the database is away and are written when it is back; rows that overflow
/// the buffer are dropped, counted (`switchyard_log_rows_dropped_total`) and logged. On shutdown the buffer is
/// flushed before the service returns.
public final class Accounting: Service, Sendable {
    /// The database, when storage is on.
    public let storage: (any Storage)?
    /// The keys, answered from memory.
    public let keys = KeyCache()
    /// Responses API answers made by translation, for `previous_response_id` and `/v1/responses/{id}`.
    let responses = ResponseStore()
    /// Looks up keys the cache does not know.
    let lookup = KeyLookup()
    /// What the fleet sync last saw (`FleetSync`), for `/health`.
    let fleet = Mutex(FleetStatus())
    /// Settings fixed at start-up.
    public let settings: ProxySettings
    let metrics: ProxyMetrics
    let logger: Logger
    private let buffer = Mutex<[LogRow]>([])
    private let wake = Wakeup()
    /// One flush at a time: a flush asked for (before spend is read back) waits for a batch already being written.
    private let flushing = AsyncLock()
    private let storageReady = Atomic<Bool>(false)
    private let shutdown = Atomic<Bool>(false)

    /// Accounting over `storage` (nil: storage off).
    public init(storage: (any Storage)?, settings: ProxySettings, metrics: ProxyMetrics, logger: Logger) {
        self.storage = storage
        self.settings = settings
        self.metrics = metrics
        self.logger = logger
    }

    /// Whether the schema was migrated and the keys read at least once.
    public var isReady: Bool { storageReady.load(ordering: .relaxed) }

    /// Queues a row; the oldest rows give way when the buffer is full.
    func enqueue(_ row: LogRow) {
        guard storage != nil else { return }
        let capacity = settings.logBufferSize
        let (dropped, count) = buffer.withLock { rows -> (Int, Int) in
            rows.append(row)
            let overflow = rows.count - capacity
            if overflow > 0 { rows.removeFirst(overflow) }
            return (max(0, overflow), rows.count)
        }
        metrics.rowsBuffered.store(count, ordering: .relaxed)
        if dropped > 0 {
            metrics.rows(dropped: dropped)
            logger.error(
                "request-log buffer full: oldest rows dropped",
                metadata: ["dropped": .stringConvertible(dropped), "capacity": .stringConvertible(capacity)])
        }
        if count >= Self.batchSize { wake.poke() }
    }

    /// Rows per write.
    static let batchSize = 2_000

    public func run() async throws {
        guard let storage else {
            // Nothing to do, but a service that returns would stop the group: wait for shutdown.
            try? await gracefulShutdown()
            return
        }
        await withGracefulShutdownHandler {
            await prepare(storage)
            var lastRefresh = ContinuousClock.now
            var lastPrune = ContinuousClock.now - .seconds(3600)
            while !shutdown.load(ordering: .relaxed) {
                // Wakes every interval, when a batch is full, or at shutdown.
                await wake.wait(seconds: settings.batchWriteInterval)
                await flush(storage)
                let now = ContinuousClock.now
                if now - lastRefresh >= .seconds(settings.keyCacheTTL) {
                    lastRefresh = now
                    await refresh(storage)
                }
                if let retention = settings.retention, now - lastPrune >= .seconds(3600) {
                    lastPrune = now
                    await prune(storage, retention: retention)
                }
            }
            // Shutdown: the request log has handed over every record by now; write them all.
            var failures = 0
            while bufferedCount > 0, failures < 5 {
                if await flush(storage) {
                    failures = 0
                } else {
                    failures += 1
                    try? await Task.sleep(for: .seconds(1))
                }
            }
            if bufferedCount > 0 {
                logger.error(
                    "request-log rows not written at shutdown: the database is unavailable",
                    metadata: ["rows": .stringConvertible(bufferedCount)])
            }
            await storage.close()
        } onGracefulShutdown: {
            self.shutdown.store(true, ordering: .relaxed)
            self.wake.poke()
        }
    }

    var bufferedCount: Int { buffer.withLock { $0.count } }

    /// A key not in the cache, looked up in the database (see `KeyLookup`); a key found is cached. `.unavailable`
    /// when storage is off, not ready or seen down.
    func lookUp(token: String) async -> KeyLookup.Outcome {
        guard let storage, isReady, !keys.databaseUnavailable else { return .unavailable }
        let outcome = await lookup.resolve(
            token, fetch: { token in try await storage.key(token: token) }, found: { [keys] in keys.insertIfAbsent($0) }
        ) { [metrics, keys, logger] outcome, lookedUp in
            switch outcome {
            case .limited: metrics.keyLookup("limited")
            case .found where lookedUp: metrics.keyLookup("found")
            case .unknown where lookedUp: metrics.keyLookup("unknown")
            case .unavailable where lookedUp:
                metrics.keyLookup("unavailable")
                // The database failed or did not answer in time: it counts as down until a key reload works.
                if !keys.databaseUnavailable {
                    logger.error("key lookup failed: the database is unavailable; serving known keys from memory")
                }
                keys.markDatabaseDown()
            default: break
            }
        }
        return outcome
    }

    /// Writes what is buffered now (before spend is read back), when the database is there.
    func flushNow() async {
        guard let storage, isReady else { return }
        await flush(storage)
    }

    /// Migrates and reads the keys, retrying every second until it works (requests are served meanwhile).
    private func prepare(_ storage: any Storage) async {
        var reported = false
        while !shutdown.load(ordering: .relaxed) {
            do {
                let version = try await storage.migrate()
                let stored = try await storage.keys()
                keys.replace(with: stored)
                storageReady.store(true, ordering: .relaxed)
                logger.info(
                    "storage ready",
                    metadata: [
                        "database": .string(storage.description), "schema_version": .stringConvertible(version),
                        "keys": .stringConvertible(stored.count),
                    ])
                return
            } catch {
                keys.markDatabaseDown()
                metrics.rows(failed: true)
                if !reported {
                    reported = true
                    logger.error(
                        "storage unavailable; retrying every second (known keys only, rows buffered)",
                        metadata: ["database": .string(storage.description), "error": .string(Self.describe(error))])
                }
                try? await Task.sleep(for: .seconds(1))
            }
        }
    }

    /// Writes the buffered rows in batches; true when the buffer was emptied.
    @discardableResult
    func flush(_ storage: any Storage) async -> Bool {
        guard isReady else { return false }
        await flushing.lock()
        let pending = responses.takePending()
        if !pending.isEmpty {
            do {
                try await watched { try await storage.save(responses: pending) }
            } catch {
                responses.putBack(pending)
                metrics.rows(failed: true)
            }
        }
        let emptied = await writeBuffered(storage)
        await flushing.unlock()
        return emptied
    }

    private func writeBuffered(_ storage: any Storage) async -> Bool {
        while true {
            let batch = buffer.withLock { rows -> [LogRow] in
                let batch = Array(rows.prefix(Self.batchSize))
                rows.removeFirst(batch.count)
                return batch
            }
            if batch.isEmpty { return true }
            do {
                try await watched { try await storage.write(batch, keepRows: !self.settings.disableSpendLogs) }
                var charged: [String: Double] = [:]
                for row in batch {
                    if let hash = row.keyHash, let cost = row.cost, cost > 0 { charged[hash, default: 0] += cost }
                }
                keys.settle(charged)
                metrics.rows(written: batch.count)
                metrics.rowsBuffered.store(bufferedCount, ordering: .relaxed)
                if keys.databaseUnavailable { await refresh(storage) }
            } catch {
                buffer.withLock { rows in rows.insert(contentsOf: batch, at: 0) }
                metrics.rows(failed: true)
                if !keys.databaseUnavailable {
                    logger.error(
                        "request-log write failed; rows stay buffered and are retried",
                        metadata: [
                            "rows": .stringConvertible(bufferedCount), "error": .string(Self.describe(error)),
                        ])
                }
                keys.markDatabaseDown()
                return false
            }
        }
    }

    /// How long a call may go unanswered before the database counts as unavailable (known keys only, or every key
    /// with `allow_requests_on_db_unavailable`) while the call goes on; the storage abandons it at its own bound.
    static let unresponsiveAfter: Duration = .seconds(4)

    /// A storage call that marks the database unavailable if it has not answered within `unresponsiveAfter`.
    private func watched<T: Sendable>(_ call: @Sendable () async throws -> T) async throws -> T {
        let watchdog = Task { [keys, logger] in
            try await Task.sleep(for: Self.unresponsiveAfter)
            if !keys.databaseUnavailable {
                logger.error(
                    "storage not answering; serving known keys from memory",
                    metadata: ["waited": .string("\(Self.unresponsiveAfter)")])
            }
            keys.markDatabaseDown()
        }
        defer { watchdog.cancel() }
        return try await call()
    }

    /// Reads keys and spend again; writes budget resets started in memory first.
    func refresh(_ storage: any Storage) async {
        guard isReady else { return }
        do {
            var stored = try await watched { try await storage.keys() }
            let resets = keys.dueResets(stored: stored)
            if !resets.isEmpty {
                _ = try await storage.resetBudgets(resets)
                stored = try await storage.keys()
            }
            let wasDown = keys.databaseUnavailable
            keys.replace(with: stored)
            if wasDown { logger.info("storage available again", metadata: ["database": .string(storage.description)]) }
        } catch {
            if !keys.databaseUnavailable {
                logger.error(
                    "storage unavailable; serving known keys from memory",
                    metadata: ["error": .string(Self.describe(error))])
            }
            metrics.rows(failed: true)
            keys.markDatabaseDown()
        }
    }

    private func prune(_ storage: any Storage, retention: Double) async {
        do {
            let removed = try await storage.prune(before: Date().timeIntervalSince1970 - retention)
            if removed > 0 { logger.info("request log pruned", metadata: ["rows": .stringConvertible(removed)]) }
        } catch {
            metrics.rows(failed: true)
        }
    }

    /// An error's text without anything that could be a secret: the type and its description, redacted by the
    /// log handler like every line.
    static func describe(_ error: any Error) -> String { String(describing: error) }
}

/// The fleet sync's state, for `/health`.
struct FleetStatus: Sendable {
    /// Seconds between exchanges; nil when fleet-wide limits are off.
    var interval: Double?
    /// Live instances at the last exchange, this one included.
    var instances = 1
    /// Whether the last exchange failed.
    var failing = false
}

/// Lets one waiter sleep until a timeout or a poke, whichever comes first; a poke with no waiter is kept for the
/// next wait.
final class Wakeup: Sendable {
    private struct State {
        var waiter: CheckedContinuation<Void, Never>?
        var poked = false
    }

    private let state = Mutex(State())

    func poke() {
        let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
            if let waiter = state.waiter {
                state.waiter = nil
                return waiter
            }
            state.poked = true
            return nil
        }
        waiter?.resume()
    }

    func wait(seconds: Double) async {
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                try? await Task.sleep(for: .seconds(seconds))
                self.poke()
            }
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let resumeNow = state.withLock { state -> Bool in
                    if state.poked {
                        state.poked = false
                        return true
                    }
                    state.waiter = continuation
                    return false
                }
                if resumeNow { continuation.resume() }
            }
            group.cancelAll()
        }
        state.withLock { $0.poked = false }
    }
}
