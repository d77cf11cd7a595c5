/// The kinds of upstream failure the router tells apart: each has its own count towards a deployment's breaker
/// (`router_settings.allowed_fails`, or LiteLLM's `allowed_fails_policy` per kind).
public enum FailureKind: String, Sendable, CaseIterable {
    /// 429 from the upstream.
    case rateLimit = "rate_limit"
    /// A connect, first-byte, idle or total timeout, or an upstream 408/504.
    case timeout
    /// 5xx (other than a timeout), a connection that failed or closed, an answer cut short, 409.
    case server
    /// 401 or 403 from the upstream: the deployment's key was refused.
    case authentication
    /// A content-policy refusal.
    case contentPolicy = "content_policy"
    /// Any other 4xx: the request itself was wrong.
    case badRequest = "bad_request"

    /// The kind of a failed attempt's error, or nil when it is nobody's failure (the client went away, the
    /// proxy is shutting down).
    public init?(_ error: ProxyError) {
        if error.code == "client_closed_request" || error.code == ProxyError.shuttingDownCode { return nil }
        if error.code.contains("content_filter") || error.code.contains("content_policy") {
            self = .contentPolicy
            return
        }
        switch error.status {
        case 429: self = .rateLimit
        case 408, 504: self = .timeout
        case 401, 403: self = .authentication
        case 409, 500..<600: self = .server
        default: self = .badRequest
        }
    }

    /// LiteLLM's `allowed_fails_policy` key for this kind.
    public var policyKey: String {
        switch self {
        case .rateLimit: "RateLimitErrorAllowedFails"
        case .timeout: "TimeoutErrorAllowedFails"
        case .server: "InternalServerErrorAllowedFails"
        case .authentication: "AuthenticationErrorAllowedFails"
        case .contentPolicy: "ContentPolicyViolationErrorAllowedFails"
        case .badRequest: "BadRequestErrorAllowedFails"
        }
    }
}

/// How many failures of each kind within a minute open a deployment's breaker.
public struct FailurePolicy: Sendable, Equatable {
    /// `router_settings.allowed_fails`: for rate limits, timeouts and server errors.
    public var allowedFails: Int
    /// `router_settings.allowed_fails_policy`, by kind.
    public var perKind: [FailureKind: Int]
    /// `router_settings.disable_cooldowns`: breakers never open.
    public var cooldownsDisabled: Bool

    /// A policy.
    public init(allowedFails: Int = 3, perKind: [FailureKind: Int] = [:], cooldownsDisabled: Bool = false) {
        self.allowedFails = max(1, allowedFails)
        self.perKind = perKind
        self.cooldownsDisabled = cooldownsDisabled
    }

    /// Failures of `kind` within a minute that open the breaker, or nil when such failures are not counted: a
    /// rejected key opens it at once by default; the client's own mistakes (other 4xx, content policy) only when
    /// the policy names them, as in LiteLLM.
    public func threshold(for kind: FailureKind) -> Int? {
        if cooldownsDisabled { return nil }
        if let count = perKind[kind] { return max(1, count) }
        switch kind {
        case .rateLimit, .timeout, .server: return allowedFails
        case .authentication: return 1
        case .contentPolicy, .badRequest: return nil
        }
    }
}
