import SwitchyardCore
import Synchronization

/// Picks one deployment of an alias per attempt and counts the requests each has in flight.
public final class DeploymentRouter: Sendable {
    /// The strategy in force.
    public let strategy: RoutingStrategy
    private let inFlight = Mutex<[String: Int]>([:])

    /// Creates a router.
    public init(strategy: RoutingStrategy) {
        self.strategy = strategy
    }

    /// One of `candidates` (all enabled), by the strategy; nil when there are none.
    public func pick(_ candidates: [Deployment]) -> Deployment? {
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
            let counts = inFlight.withLock { $0 }
            let fewest = candidates.map { counts[$0.id, default: 0] }.min() ?? 0
            return candidates.filter { counts[$0.id, default: 0] == fewest }.randomElement()
        }
    }

    /// A request to `id` started.
    public func begin(_ id: String) {
        inFlight.withLock { $0[id, default: 0] += 1 }
    }

    /// A request to `id` ended.
    public func end(_ id: String) {
        inFlight.withLock { counts in
            let now = max(0, counts[id, default: 0] - 1)
            counts[id] = now == 0 ? nil : now
        }
    }

    /// Requests in flight to `id`.
    public func inFlight(_ id: String) -> Int {
        inFlight.withLock { $0[id, default: 0] }
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
