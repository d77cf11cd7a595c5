import SwitchyardCore
import Synchronization

/// What the router chose for one attempt.
public enum RouterPick: Sendable {
    /// Use this deployment; it is counted in flight on `slot` until `slot.end` is called.
    case deployment(Deployment, DeploymentSlot)
    /// Every candidate is cooling down and the request has somewhere else to go (a fallback alias); the earliest
    /// is free again in this many seconds.
    case coolingDown(retryAfter: Int)
    /// No candidate is cooling down for all of them, but each is at a local limit; this one frees up first.
    case rateLimited(LocalLimitRejection)
}

/// Picks one deployment of an alias per attempt by the routing strategy, among those whose breaker is closed
/// (or ready for its one probe) and whose local limits (`rpm`, `tpm`, `max_parallel_requests`) allow it.
///
/// The live state of each deployment is a ``DeploymentSlot``; a router built on reload takes over the slots
/// of deployments whose identity did not change, so their counters, latency and breakers survive.
public final class DeploymentRouter: Sendable {
    /// The strategy in force.
    public let strategy: RoutingStrategy
    /// `allowed_fails`, `allowed_fails_policy` and `disable_cooldowns`.
    public let failurePolicy: FailurePolicy
    /// `cooldown_time`.
    public let cooldown: Duration
    private let slots: [String: DeploymentSlot]
    private let strays = Mutex<[String: DeploymentSlot]>([:])

    /// A breaker's state, for `/health` and logs.
    public enum BreakerState: String, Sendable {
        /// Serving.
        case closed
        /// Cooling down after failures.
        case cooldown
        /// Cooled down; the next request is a probe.
        case halfOpen = "half-open"
    }

    /// Creates a router for `deployments`, keeping the slots of `previous` whose deployment is unchanged.
    public init(
        strategy: RoutingStrategy, failurePolicy: FailurePolicy = FailurePolicy(), cooldownSeconds: Double = 5,
        deployments: [Deployment] = [], carryingOver previous: DeploymentRouter? = nil
    ) {
        self.strategy = strategy
        self.failurePolicy = failurePolicy
        self.cooldown = .milliseconds(Int64(cooldownSeconds * 1000))
        var slots: [String: DeploymentSlot] = [:]
        for deployment in deployments where deployment.status.isEnabled {
            let identity = DeploymentIdentity(deployment)
            if let kept = previous?.slots[deployment.id], kept.identity == identity {
                slots[deployment.id] = kept
            } else {
                slots[deployment.id] = DeploymentSlot(identity: identity)
            }
        }
        self.slots = slots
    }

    /// The slot of a deployment.
    public func slot(for deployment: Deployment) -> DeploymentSlot {
        if let slot = slots[deployment.id] { return slot }
        // Deployments outside the table (tests build them by hand) get a slot on first use.
        return strays.withLock { strays in
            if let slot = strays[deployment.id] { return slot }
            let slot = DeploymentSlot(identity: DeploymentIdentity(deployment))
            strays[deployment.id] = slot
            return slot
        }
    }

    /// Whether `deployment`'s state is the same object in both routers (it survived a reload).
    public func shares(_ deployment: Deployment, with other: DeploymentRouter) -> Bool {
        slot(for: deployment) === other.slot(for: deployment)
    }

    /// One of `candidates` (all enabled) by the strategy, taken on its slot; or why none can take the request.
    /// `promptTokens` is the estimated prompt size, for `tpm`.
    ///
    /// A cooling deployment is skipped only when the request can go elsewhere: to another candidate, or, when
    /// `fallbackAvailable`, to a fallback alias. With nowhere else to go it is tried anyway (the one that cools
    /// off first), so a lone deployment is never turned into an outage and the client gets the upstream's answer.
    public func pick(_ candidates: [Deployment], promptTokens: Int = 0, fallbackAvailable: Bool = false) -> RouterPick {
        let now = ContinuousClock.now
        var usable: [(deployment: Deployment, slot: DeploymentSlot, snapshot: DeploymentSlot.Snapshot)] = []
        var cooling: [(deployment: Deployment, slot: DeploymentSlot, wait: Duration)] = []
        var limited: LocalLimitRejection?
        func note(_ assessment: DeploymentSlot.Assessment, _ deployment: Deployment, _ slot: DeploymentSlot) {
            switch assessment {
            case .usable: break
            case .cooling(let wait): cooling.append((deployment, slot, wait))
            case .limited(let rejection):
                if limited.map({ rejection.retryAfter < $0.retryAfter }) ?? true { limited = rejection }
            }
        }
        for candidate in candidates {
            let slot = slot(for: candidate)
            let assessment = slot.assess(candidate, promptTokens: promptTokens, now: now)
            if case .usable(let snapshot) = assessment {
                usable.append((candidate, slot, snapshot))
            } else {
                note(assessment, candidate, slot)
            }
        }
        while !usable.isEmpty {
            let index = choose(usable.map(\.deployment), usable.map(\.snapshot))
            let (deployment, slot, _) = usable.remove(at: index)
            let assessment = slot.acquire(deployment, promptTokens: promptTokens, now: now)
            if case .usable = assessment { return .deployment(deployment, slot) }
            note(assessment, deployment, slot)
        }
        let soonest = cooling.map(\.wait).min()
        if !fallbackAvailable {
            for (deployment, slot, _) in cooling.sorted(by: { $0.wait < $1.wait }) {
                let assessment = slot.acquire(deployment, promptTokens: promptTokens, now: now, ignoringBreaker: true)
                if case .usable = assessment { return .deployment(deployment, slot) }
                if case .limited(let rejection) = assessment,
                    limited.map({ rejection.retryAfter < $0.retryAfter }) ?? true
                {
                    limited = rejection
                }
            }
        }
        if let limited { return .rateLimited(limited) }
        let seconds = soonest.map { Int(($0 / .seconds(1)).rounded(.up)) } ?? 1
        return .coolingDown(retryAfter: max(1, seconds))
    }

    /// The index of the candidate the strategy prefers.
    private func choose(_ candidates: [Deployment], _ snapshots: [DeploymentSlot.Snapshot]) -> Int {
        guard candidates.count > 1 else { return 0 }
        let indices = Array(candidates.indices)
        var random = PooledRandomGenerator()
        func lowest(_ score: (Int) -> Double) -> Int {
            let scores = indices.map(score)
            let best = scores.min() ?? 0
            return indices.filter { scores[$0] == best }.randomElement(using: &random) ?? 0
        }
        switch strategy {
        case .simpleShuffle:
            let total = candidates.reduce(0) { $0 + max($1.weight, 0) }
            guard total > 0 else { return indices.randomElement(using: &random) ?? 0 }
            var point = Double.random(in: 0..<total, using: &random)
            for index in indices {
                point -= max(candidates[index].weight, 0)
                if point < 0 { return index }
            }
            return indices.count - 1
        case .leastBusy:
            return lowest { Double(snapshots[$0].inFlight) }
        case .latencyBased:
            // Unmeasured deployments go first, one request at a time, so each gets measured.
            return lowest { index in
                let snapshot = snapshots[index]
                guard let latency = snapshot.latency else { return snapshot.inFlight == 0 ? -1 : .infinity }
                return latency
            }
        case .usageBased:
            return lowest { Double(snapshots[$0].tokensThisMinute) + Double(snapshots[$0].inFlight) / 1e6 }
        }
    }

    /// The upstream of `slot` failed with a failure of `kind`: counted towards its breaker by the failure
    /// policy (the client's own mistakes, uncounted by default, leave the breaker as a success would). Returns
    /// true when the breaker opened.
    @discardableResult
    public func recordFailure(_ slot: DeploymentSlot, kind: FailureKind = .server, latency: Duration? = nil) -> Bool {
        let threshold = failurePolicy.threshold(for: kind)
        if threshold == nil, kind == .badRequest || kind == .contentPolicy {
            slot.recordNeutral()
            return false
        }
        return slot.recordFailure(kind: kind, threshold: threshold, cooldown: cooldown, latency: latency)
    }

    /// The breaker of a deployment.
    public func breakerState(_ deployment: Deployment) -> BreakerState {
        slot(for: deployment).breakerState
    }
}
