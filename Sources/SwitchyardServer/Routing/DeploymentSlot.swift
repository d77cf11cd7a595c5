import Foundation
import SwitchyardCore
import Synchronization

/// What makes two deployments the same target: where requests go and with which credentials. A reload that
/// keeps these keeps the deployment's counters, latency average and breaker.
struct DeploymentIdentity: Equatable, Sendable {
    let id: String
    let model: String
    let baseURL: String?
    let apiKey: String?
    let headers: [String]

    init(_ deployment: Deployment) {
        id = deployment.id
        model = deployment.qualifiedModel
        baseURL = deployment.baseURL?.value
        apiKey = deployment.apiKey?.value.revealed
        headers = deployment.extraHeaders.map { "\($0.name):\($0.value)" }
    }
}

/// Why a deployment may not take a request now because of its own limits.
public struct LocalLimitRejection: Sendable {
    /// Which limit.
    public enum Kind: String, Sendable {
        /// `rpm`.
        case requests
        /// `tpm`.
        case tokens
        /// `max_parallel_requests`.
        case parallel = "parallel requests"
        /// `rpd` of a run-time rate-limit configuration.
        case requestsPerDay = "requests per day"
    }

    /// The deployment.
    public let deploymentID: String
    /// The limit hit.
    public let kind: Kind
    /// Its value.
    public let limit: Int
    /// Seconds until a request would pass.
    public let retryAfter: Int
    /// Requests left this minute, when `rpm` is set.
    public let remainingRequests: Int?
    /// Tokens left this minute, when `tpm` is set.
    public let remainingTokens: Int?
    /// The deployment's limits.
    public let limits: DeploymentLimits
}

/// The live state of one deployment: requests in flight, requests and tokens over the last minute, a moving
/// average of time to first byte, and its circuit breaker. Shared by every router built while the
/// deployment's identity is unchanged, so a hot reload keeps it.
public final class DeploymentSlot: Sendable {
    let identity: DeploymentIdentity
    private let state = Mutex(State())

    /// Failures within this window count towards `allowed_fails`.
    static let failureWindow: Duration = .seconds(60)
    /// Latency samples older than this no longer describe the deployment.
    static let latencyHorizon: Duration = .seconds(60)
    /// Weight of the newest latency sample.
    static let latencySmoothing = 0.3
    /// Origin of the one-second buckets.
    static let origin = ContinuousClock.now

    struct Breaker {
        var failures: [(at: ContinuousClock.Instant, kind: FailureKind)] = []
        var openUntil: ContinuousClock.Instant?
        var probing = false
    }

    struct State {
        var inFlight = 0
        var breaker = Breaker()
        var latency: Double?
        var latencyAt: ContinuousClock.Instant?
        var requests: MinuteWindow?
        var tokens: MinuteWindow?
        /// The other instances' counts and this one's share, for fleet-wide limits.
        var fleet = FleetShare.alone
        /// Requests taken on `day` (UTC days since 1970), for `requestsPerDay`.
        var day: Int64 = 0
        var dayRequests = 0
    }

    /// The UTC day of a Unix time, and the seconds left in it.
    static func utcDay(_ time: Double = Date().timeIntervalSince1970) -> (day: Int64, secondsLeft: Int) {
        let day = (time / 86_400).rounded(.down)
        return (Int64(day), max(1, Int(((day + 1) * 86_400 - time).rounded(.up))))
    }

    /// What the router needs to rank a usable deployment.
    struct Snapshot {
        let inFlight: Int
        /// Seconds; nil when never measured or stale.
        let latency: Double?
        let tokensThisMinute: Int
    }

    enum Assessment {
        case usable(Snapshot)
        case cooling(Duration)
        case limited(LocalLimitRejection)
    }

    init(identity: DeploymentIdentity) {
        self.identity = identity
    }

    static func second(_ instant: ContinuousClock.Instant) -> Int64 {
        (instant - origin).components.seconds
    }

    /// Whether the deployment could take a request now, without taking it.
    func assess(_ deployment: Deployment, promptTokens: Int, now: ContinuousClock.Instant) -> Assessment {
        state.withLock { state in Self.assess(&state, deployment, promptTokens: promptTokens, now: now) }
    }

    /// Takes a request if the deployment still can: counts it in flight and in this minute's requests, and marks
    /// a cooled-down breaker as probing. `ignoringBreaker`: the deployment is taken even while it cools down (the
    /// request has nowhere else to go); only its local limits can refuse it.
    func acquire(
        _ deployment: Deployment, promptTokens: Int, now: ContinuousClock.Instant, ignoringBreaker: Bool = false
    ) -> Assessment {
        state.withLock { state in
            let assessment = Self.assess(
                &state, deployment, promptTokens: promptTokens, now: now, ignoringBreaker: ignoringBreaker)
            guard case .usable = assessment else { return assessment }
            if !ignoringBreaker, let openUntil = state.breaker.openUntil, now >= openUntil { state.breaker.probing = true }
            state.inFlight += 1
            if deployment.limits.requestsPerDay != nil {
                let today = Self.utcDay().day
                if state.day != today { (state.day, state.dayRequests) = (today, 0) }
                state.dayRequests += 1
            }
            state.requests = state.requests ?? MinuteWindow()
            state.requests?.add(1, second: Self.second(now))
            return assessment
        }
    }

    private static func assess(
        _ state: inout State, _ deployment: Deployment, promptTokens: Int, now: ContinuousClock.Instant,
        ignoringBreaker: Bool = false
    ) -> Assessment {
        if !ignoringBreaker, let openUntil = state.breaker.openUntil, now < openUntil || state.breaker.probing {
            return .cooling(max(openUntil - now, .zero))
        }
        let limits = deployment.limits
        let second = Self.second(now)
        let fleet = state.fleet
        let mine = state.requests?.total(second: second) ?? 0
        let requests = mine + fleet.others.requests
        let tokens = (state.tokens?.total(second: second) ?? 0) + fleet.others.tokens
        func rejection(_ kind: LocalLimitRejection.Kind, limit: Int, retryAfter: Int) -> Assessment {
            .limited(
                LocalLimitRejection(
                    deploymentID: deployment.id, kind: kind, limit: limit, retryAfter: max(1, retryAfter),
                    remainingRequests: limits.requestsPerMinute.map { max(0, $0 - requests) },
                    remainingTokens: limits.tokensPerMinute.map { max(0, $0 - tokens) }, limits: limits))
        }
        if let perDay = limits.requestsPerDay {
            let (today, secondsLeft) = Self.utcDay()
            if state.day == today, state.dayRequests >= perDay {
                return rejection(.requestsPerDay, limit: perDay, retryAfter: secondsLeft)
            }
        }
        if let cap = limits.maxParallelRequests, !fleet.admitsParallel(mine: state.inFlight, limit: cap) {
            return rejection(.parallel, limit: cap, retryAfter: 1)
        }
        if let rpm = limits.requestsPerMinute, !fleet.admitsRequest(mine: mine, limit: rpm) {
            // Past this instance's share of the fleet's headroom but under the count: free at the next sync.
            let wait =
                requests >= rpm
                ? state.requests?.seconds(untilAtMost: max(0, rpm - 1 - fleet.others.requests), second: second) ?? 1 : 1
            return rejection(.requests, limit: rpm, retryAfter: wait)
        }
        // A prompt larger than the whole budget passes when the minute is empty: the upstream judges it.
        if let tpm = limits.tokensPerMinute, tokens > 0, tokens + promptTokens > tpm {
            let wait =
                state.tokens?.seconds(untilAtMost: max(0, tpm - promptTokens - fleet.others.tokens), second: second) ?? 60
            return rejection(.tokens, limit: tpm, retryAfter: wait)
        }
        var latency = state.latency
        if let at = state.latencyAt, now - at > latencyHorizon { latency = nil }
        return .usable(Snapshot(inFlight: state.inFlight, latency: latency, tokensThisMinute: tokens))
    }

    /// A request taken by `acquire` ended; `tokens` it used count towards this minute.
    public func end(tokens: Int = 0) {
        let now = ContinuousClock.now
        state.withLock { state in
            state.inFlight = max(0, state.inFlight - 1)
            if tokens > 0 {
                state.tokens = state.tokens ?? MinuteWindow()
                state.tokens?.add(tokens, second: Self.second(now))
            }
        }
    }

    /// The upstream answered (`latency`: to the first byte, or first event of a stream): the breaker closes.
    public func recordSuccess(latency: Duration?) {
        state.withLock { state in
            state.breaker = Breaker()
            if let latency { Self.sample(&state, latency) }
        }
    }

    /// The upstream failed with a failure of `kind`: `threshold` such failures within a minute (or a failed
    /// probe) open the breaker for `cooldown`; nil counts nothing. Returns true when it opened. A failure counts
    /// as a slow sample for latency-based routing.
    @discardableResult
    public func recordFailure(
        kind: FailureKind, threshold: Int?, cooldown: Duration, latency: Duration? = nil
    ) -> Bool {
        let now = ContinuousClock.now
        return state.withLock { state in
            if let latency { Self.sample(&state, max(latency, .seconds(10))) }
            guard let threshold else { return false }
            var breaker = state.breaker
            breaker.failures = breaker.failures.filter { now - $0.at < Self.failureWindow } + [(now, kind)]
            let open = breaker.probing || breaker.failures.count(where: { $0.kind == kind }) >= threshold
            if open { breaker = Breaker(failures: [], openUntil: now + cooldown, probing: false) }
            state.breaker = breaker
            return open
        }
    }

    /// Seconds until the breaker lets the deployment be tried again (0 when it is closed or half-open).
    public func secondsUntilClosed(now: ContinuousClock.Instant = .now) -> Int {
        state.withLock { state in
            guard let openUntil = state.breaker.openUntil, now < openUntil else { return 0 }
            return Int(((openUntil - now) / .seconds(1)).rounded(.up))
        }
    }

    /// A non-retryable answer (the client's mistake): the deployment is fine.
    public func recordNeutral() {
        state.withLock { $0.breaker = Breaker() }
    }

    private static func sample(_ state: inout State, _ latency: Duration) {
        let seconds = latency.inSeconds
        if let average = state.latency, let at = state.latencyAt, ContinuousClock.now - at <= latencyHorizon {
            state.latency = average + latencySmoothing * (seconds - average)
        } else {
            state.latency = seconds
        }
        state.latencyAt = .now
    }

    /// The breaker's state.
    public var breakerState: DeploymentRouter.BreakerState {
        let now = ContinuousClock.now
        return state.withLock { state in
            guard let openUntil = state.breaker.openUntil else { return .closed }
            return now < openUntil ? .cooldown : .halfOpen
        }
    }

    /// This instance's counts, to publish to the fleet.
    func fleetCounts(now: ContinuousClock.Instant = .now) -> FleetCounts {
        let second = Self.second(now)
        return state.withLock { state in
            FleetCounts(
                requests: state.requests?.total(second: second) ?? 0, tokens: state.tokens?.total(second: second) ?? 0,
                inFlight: state.inFlight)
        }
    }

    /// What the fleet published at the last sync.
    func setFleet(_ share: FleetShare) {
        state.withLock { $0.fleet = share }
    }

    /// Requests in flight.
    public var inFlight: Int { state.withLock { $0.inFlight } }

    /// For `/health`: in flight, this minute's requests and tokens, and the latency average in milliseconds.
    public func usage(now: ContinuousClock.Instant = .now) -> (inFlight: Int, requests: Int, tokens: Int, latencyMs: Double?) {
        let second = Self.second(now)
        return state.withLock { state in
            let stale = state.latencyAt.map { now - $0 > Self.latencyHorizon } ?? true
            return (
                state.inFlight, state.requests?.total(second: second) ?? 0, state.tokens?.total(second: second) ?? 0,
                stale ? nil : state.latency.map { $0 * 1000 }
            )
        }
    }
}

extension ProxyError {
    /// 429 when every deployment of an alias is at a local limit: `x-ratelimit-*` of the one that frees up first.
    static func localRateLimit(_ rejection: LocalLimitRejection, alias: String) -> ProxyError {
        var error = ProxyError(
            status: 429, type: "rate_limit_error", code: "rate_limit_exceeded",
            message: "Every deployment of '\(alias)' is at its local limit (\(rejection.deploymentID): \(rejection.limit) "
                + "\(rejection.kind.rawValue)\([.parallel, .requestsPerDay].contains(rejection.kind) ? "" : " per minute")); "
                + "retry in \(rejection.retryAfter) s.",
            retryAfter: rejection.retryAfter)
        if let limit = rejection.limits.requestsPerMinute {
            error.headers["x-ratelimit-limit-requests"] = String(limit)
            error.headers["x-ratelimit-remaining-requests"] = String(rejection.remainingRequests ?? 0)
            error.headers["x-ratelimit-reset-requests"] = "\(rejection.kind == .requests ? rejection.retryAfter : 0)s"
        }
        if let limit = rejection.limits.tokensPerMinute {
            error.headers["x-ratelimit-limit-tokens"] = String(limit)
            error.headers["x-ratelimit-remaining-tokens"] = String(rejection.remainingTokens ?? 0)
            error.headers["x-ratelimit-reset-tokens"] = "\(rejection.kind == .tokens ? rejection.retryAfter : 0)s"
        }
        if let limit = rejection.limits.maxParallelRequests {
            error.headers["x-ratelimit-limit-parallel-requests"] = String(limit)
        }
        return error
    }
}
