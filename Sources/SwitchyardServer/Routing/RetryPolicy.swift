import SwitchyardCore

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
