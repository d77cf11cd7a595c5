import SwitchyardCore
import Synchronization

/// What the router chose for one attempt.
public enum RouterPick: Sendable {
    /// Use this deployment (already counted in flight).
    case deployment(Deployment)
    /// Every candidate is cooling down; the earliest is free again in this many seconds.
    case coolingDown(retryAfter: Int)
}

/// Picks one deployment of an alias per attempt, counts requests in flight, and keeps a circuit breaker per
/// deployment: `allowed_fails` failures within a minute (or one 401/403 from the upstream) open it for
/// `cooldown_time`; then one probe request may try it, and its outcome closes or reopens it.
public final class DeploymentRouter: Sendable {
    /// The strategy in force.
    public let strategy: RoutingStrategy
    private let allowedFails: Int
    private let cooldown: Duration
    private let window: Duration = .seconds(60)
    private let state = Mutex(State())

    struct Breaker {
        var failures: [ContinuousClock.Instant] = []
        var openUntil: ContinuousClock.Instant?
        var probing = false
    }

    struct State {
        var inFlight: [String: Int] = [:]
        var breakers: [String: Breaker] = [:]
    }

    /// A breaker's state, for `/health` and logs.
    public enum BreakerState: String, Sendable {
        /// Serving.
        case closed
        /// Cooling down after failures.
        case cooldown
        /// Cooled down; the next request is a probe.
        case halfOpen = "half-open"
    }

    /// Creates a router.
    public init(strategy: RoutingStrategy, allowedFails: Int = 3, cooldownSeconds: Double = 5) {
        self.strategy = strategy
        self.allowedFails = max(1, allowedFails)
        self.cooldown = .milliseconds(Int64(cooldownSeconds * 1000))
    }

    /// One of `candidates` (all enabled) by the strategy, skipping deployments that are cooling down, and counted
    /// in flight; or how long until one is free again.
    public func pick(_ candidates: [Deployment]) -> RouterPick {
        let now = ContinuousClock.now
        return state.withLock { state in
            var usable: [Deployment] = []
            var soonest: Duration?
            for candidate in candidates {
                let breaker = state.breakers[candidate.id] ?? Breaker()
                guard let openUntil = breaker.openUntil else {
                    usable.append(candidate)
                    continue
                }
                if now >= openUntil, !breaker.probing {
                    usable.append(candidate)
                } else {
                    let wait = max(openUntil - now, .zero)
                    soonest = min(soonest ?? wait, wait)
                }
            }
            guard let chosen = choose(usable, inFlight: state.inFlight) else {
                let seconds = soonest.map { Int(($0 / .seconds(1)).rounded(.up)) } ?? 1
                return .coolingDown(retryAfter: max(1, seconds))
            }
            if let openUntil = state.breakers[chosen.id]?.openUntil, now >= openUntil {
                state.breakers[chosen.id]?.probing = true
            }
            state.inFlight[chosen.id, default: 0] += 1
            return .deployment(chosen)
        }
    }

    private func choose(_ candidates: [Deployment], inFlight: [String: Int]) -> Deployment? {
        guard candidates.count > 1 else { return candidates.first }
        switch strategy {
        case .simpleShuffle:
            let total = candidates.reduce(0) { $0 + max($1.weight, 0) }
            guard total > 0 else { return candidates.randomElement() }
            var point = Double.random(in: 0..<total)
            for candidate in candidates {
                point -= max(candidate.weight, 0)
                if point < 0 { return candidate }
            }
            return candidates.last
        case .leastBusy:
            let fewest = candidates.map { inFlight[$0.id, default: 0] }.min() ?? 0
            return candidates.filter { inFlight[$0.id, default: 0] == fewest }.randomElement()
        }
    }

    /// A request to `id` ended.
    public func end(_ id: String) {
        state.withLock { state in
            let now = max(0, state.inFlight[id, default: 0] - 1)
            state.inFlight[id] = now == 0 ? nil : now
        }
    }

    /// The upstream answered: the breaker closes.
    public func recordSuccess(_ id: String) {
        state.withLock { state in
            if state.breakers[id] != nil { state.breakers[id] = nil }
        }
    }

    /// The upstream failed; `immediate` (a 401/403) opens the breaker at once. Returns true when it opened.
    @discardableResult
    public func recordFailure(_ id: String, immediate: Bool = false) -> Bool {
        let now = ContinuousClock.now
        return state.withLock { state in
            var breaker = state.breakers[id] ?? Breaker()
            breaker.failures = breaker.failures.filter { now - $0 < window } + [now]
            let open = immediate || breaker.probing || breaker.failures.count >= allowedFails
            if open {
                breaker = Breaker(failures: [], openUntil: now + cooldown, probing: false)
            }
            state.breakers[id] = breaker
            return open
        }
    }

    /// The breaker of `id`.
    public func breakerState(_ id: String) -> BreakerState {
        let now = ContinuousClock.now
        return state.withLock { state in
            guard let openUntil = state.breakers[id]?.openUntil else { return .closed }
            return now < openUntil ? .cooldown : .halfOpen
        }
    }

    /// Requests in flight to `id`.
    public func inFlight(_ id: String) -> Int {
        state.withLock { $0.inFlight[id, default: 0] }
    }
}

/// When and how long to wait before another attempt.
public enum RetryPolicy {
    /// Longest `Retry-After` honoured, in seconds.
    public static let maxRetryAfter = 10.0

    /// Whether another attempt may succeed: connection errors, timeouts, 408, 409, 429 and 5xx; never other 4xx.
    public static func isRetryable(_ error: ProxyError) -> Bool {
        switch error.status {
        case 408, 409, 429: return true
        case 500..<600: return true
        default: return false
        }
    }

    /// The wait before retry number `attempt` (1-based): the upstream's `Retry-After` when it sent one (capped),
    /// else exponential backoff with full jitter, or a fixed wait.
    public static func delay(attempt: Int, base: Double, strategy: RetryStrategy, retryAfter: Int?) -> Duration {
        if let retryAfter { return .milliseconds(Int64(min(Double(retryAfter), maxRetryAfter) * 1000)) }
        let seconds: Double
        switch strategy {
        case .fixed: seconds = base
        case .exponentialBackoff: seconds = Double.random(in: 0...(base * Double(1 << min(attempt - 1, 10))))
        }
        return .milliseconds(Int64(seconds * 1000))
    }
}
