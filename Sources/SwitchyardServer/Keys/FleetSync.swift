import Foundation
import Logging
import ServiceLifecycle
import SwitchyardCore
import SwitchyardStorage
import Synchronization

/// Makes per-key `rpm_limit`, `tpm_limit` and `max_parallel_requests`, and per-deployment `rpm`, `tpm` and
/// `max_parallel_requests`, hold across every instance on one database, not per instance.
///
/// Time is cut in ticks of `fleet_sync_interval` on the wall clock, the same for every instance. At each tick an
/// instance writes its counts (requests and tokens over the last minute, requests in flight) for each key and
/// deployment with a limit to `switchyard_fleet_counts`; half an interval later it reads the sum of the other
/// live instances' (those that published within `liveWithin`). So every instance shares out the same snapshot:
/// from that read to the next, each may add its share of the headroom the snapshot left (`FleetShare`).
/// Deployments are matched across instances by id; instances' clocks must agree to well within half an interval.
///
/// While the exchange fails for longer than `liveWithin`, each instance goes back to enforcing the limits on its own
/// (a fleet of N may then admit N times a limit) and says so in its log; the request path never waits for it.
final class FleetSync: Service, Sendable {
    let storage: any Storage
    let store: EngineStore
    let interval: Double
    let logger: Logger
    /// This instance's id in the table: new at every start.
    let instance = UUID().uuidString
    private let wake = Wakeup()
    private let shutdown = Atomic<Bool>(false)

    init(storage: any Storage, store: EngineStore, interval: Double, logger: Logger) {
        self.storage = storage
        self.store = store
        self.interval = interval
        self.logger = logger
    }

    /// How recent an instance's counts must be for it to count as alive: three intervals, and at least two seconds
    /// more than one.
    var liveWithin: Double { max(3 * interval, interval + 2) }

    private var stopping: Bool { shutdown.load(ordering: .relaxed) }

    /// Sleeps until the wall-clock time `time` (or shutdown).
    private func sleep(until time: Double) async {
        let wait = time - Date().timeIntervalSince1970
        if wait > 0 { await wake.wait(seconds: wait) }
    }

    func run() async throws {
        store.current.accounting.fleet.withLock { $0.interval = interval }
        await withGracefulShutdownHandler {
            while !stopping, !store.current.accounting.isReady { await wake.wait(seconds: 0.1) }
            var state = RunState()
            // A first look at once, before this instance has published anything (the others count it as 0).
            await read(store.current, published: Published(), since: Date().timeIntervalSince1970 - liveWithin, &state)
            while !stopping {
                let tick = ((Date().timeIntervalSince1970 / interval).rounded(.down) + 1) * interval
                await sleep(until: tick)
                if stopping { break }
                let engine = store.current
                let published = Published(engine)
                do {
                    try await storage.publishCounts(instance: instance, counts: published.all, time: tick)
                } catch {
                    failed(error, engine: engine, &state)
                    continue
                }
                await sleep(until: tick + interval / 2)
                if stopping { break }
                await read(engine, published: published, since: tick - liveWithin + interval / 4, tick: tick, &state)
            }
            try? await storage.leaveFleet(instance: instance)
        } onGracefulShutdown: {
            self.shutdown.store(true, ordering: .relaxed)
            self.wake.poke()
        }
    }

    struct RunState {
        var lastExchange = Date().timeIntervalSince1970
        var failing = false
        var alone = true
        /// Live instances in the last view, this one included.
        var instances = 1
        /// Reads in a row that kept the previous shares because an instance's counts of the tick were late.
        var keptForLate = 0
    }

    /// Ticks in a row a late instance may hold the shares back (see `read`); after that its older counts are used.
    static let lateTicksWaited = 2

    /// This instance's counts at one tick.
    struct Published {
        var keys: [String: FleetCounts] = [:]
        var slots: [(id: String, slot: DeploymentSlot, counts: FleetCounts)] = []

        init() {}

        init(_ engine: ProxyEngine) {
            keys = engine.accounting.keys.fleetCounts()
            slots = FleetSync.limitedSlots(engine).map { (id: $0.id, slot: $0.slot, counts: $0.slot.fleetCounts()) }
        }

        var all: [FleetKey: FleetCounts] {
            var counts: [FleetKey: FleetCounts] = [:]
            for (token, count) in keys { counts[.key(token)] = count }
            for entry in slots { counts[.deployment(entry.id)] = entry.counts }
            return counts
        }
    }

    /// Reads the others' counts and applies them. With `tick`, an instance whose counts of that tick are not in
    /// yet (a slow database, a loaded machine) is waited for, up to nine tenths of the interval after the tick:
    /// its counts of the tick before would let this instance take a share of headroom the late one has used. If it
    /// is still late, the shares of the last full snapshot are kept (each instance's share of that snapshot's
    /// headroom still bounds the fleet), for up to `lateTicksWaited` ticks in a row.
    private func read(
        _ engine: ProxyEngine, published: Published, since: Double, tick: Double? = nil, _ state: inout RunState
    ) async {
        do {
            var view = try await storage.fleetCounts(excluding: instance, since: since)
            while let tick, let oldest = view.oldestPublication, oldest < tick - interval / 4,
                Date().timeIntervalSince1970 < tick + 0.9 * interval, !stopping
            {
                await wake.wait(seconds: interval / 20)
                view = try await storage.fleetCounts(excluding: instance, since: since)
            }
            if let tick, let oldest = view.oldestPublication, oldest < tick - interval / 4,
                state.keptForLate < Self.lateTicksWaited
            {
                state.keptForLate += 1
                logger.debug(
                    "fleet counts of an instance are late; the previous shares are kept",
                    metadata: ["late_by_seconds": .stringConvertible(tick - oldest)])
                return
            }
            if let tick, let oldest = view.oldestPublication, oldest < tick - interval / 4 {
                // The documented exception: until its counts arrive, the fleet may admit what the late instance
                // used since it last published once more.
                logger.info(
                    "fleet counts of an instance are still late; its older counts are used",
                    metadata: ["late_by_seconds": .stringConvertible(tick - oldest)])
            }
            state.keptForLate = 0
            Self.apply(view, published: published.keys, slots: published.slots, engine: engine)
            state.lastExchange = Date().timeIntervalSince1970
            if state.failing {
                state.failing = false
                logger.info("fleet counts exchanged again", metadata: ["instances": .stringConvertible(view.instances)])
            }
            if view.instances < state.instances {
                // An instance stopped, or has not published for `liveWithin` (a stalled process or database
                // connection): the documented exception, its use of the limits no longer counts here.
                logger.info(
                    "fleet: an instance's counts are gone (stopped, or not published for \(liveWithin) s); limits are shared by the others",
                    metadata: ["instances": .stringConvertible(view.instances)])
            }
            state.instances = view.instances
            state.alone = view.instances == 1
            engine.accounting.fleet.withLock { $0 = FleetStatus(interval: interval, instances: view.instances) }
        } catch {
            failed(error, engine: engine, &state)
        }
    }

    private func failed(_ error: any Error, engine: ProxyEngine, _ state: inout RunState) {
        if !state.failing {
            state.failing = true
            logger.error(
                "fleet counts could not be exchanged; limits hold per instance until they are",
                metadata: ["error": .string(Accounting.describe(error))])
        }
        engine.accounting.fleet.withLock { $0.failing = true }
        if !state.alone, Date().timeIntervalSince1970 - state.lastExchange > liveWithin {
            state.alone = true
            engine.accounting.fleet.withLock { $0.instances = 1 }
            let slots = Self.limitedSlots(engine).map { (id: $0.id, slot: $0.slot, counts: FleetCounts()) }
            Self.apply(FleetView(), published: [:], slots: slots, engine: engine)
        }
    }

    /// The enabled deployments with a limit, and their slots.
    static func limitedSlots(_ engine: ProxyEngine) -> [(id: String, slot: DeploymentSlot)] {
        engine.table.deployments.compactMap { deployment in
            let limits = deployment.limits
            guard deployment.status.isEnabled,
                limits.requestsPerMinute != nil || limits.tokensPerMinute != nil || limits.maxParallelRequests != nil
            else { return nil }
            return (deployment.id, engine.router.slot(for: deployment))
        }
    }

    private static func apply(
        _ view: FleetView, published: [String: FleetCounts],
        slots: [(id: String, slot: DeploymentSlot, counts: FleetCounts)], engine: ProxyEngine
    ) {
        var others: [String: FleetCounts] = [:]
        for (key, count) in view.others where key.scope == "key" { others[key.name] = count }
        engine.accounting.keys.applyFleet(instances: view.instances, published: published, others: others)
        for entry in slots {
            let theirs = view.others[.deployment(entry.id)]
            entry.slot.setFleet(
                view.instances > 1 || theirs != nil
                    ? FleetShare(instances: view.instances, others: theirs ?? FleetCounts(), atSync: entry.counts) : .alone)
        }
    }
}
