/// What one instance counts against a limited thing (a key, a deployment): requests and tokens over the last
/// minute, and requests in flight.
public struct FleetCounts: Sendable, Equatable {
    /// Requests started in the last 60 seconds.
    public var requests: Int
    /// Tokens used by requests that ended in the last 60 seconds.
    public var tokens: Int
    /// Requests running now.
    public var inFlight: Int

    /// Counts.
    public init(requests: Int = 0, tokens: Int = 0, inFlight: Int = 0) {
        self.requests = requests
        self.tokens = tokens
        self.inFlight = inFlight
    }

    /// Whether every count is zero.
    public var isZero: Bool { requests == 0 && tokens == 0 && inFlight == 0 }

    /// The sum of two instances' counts.
    public static func + (lhs: FleetCounts, rhs: FleetCounts) -> FleetCounts {
        FleetCounts(requests: lhs.requests + rhs.requests, tokens: lhs.tokens + rhs.tokens, inFlight: lhs.inFlight + rhs.inFlight)
    }
}

/// How a limit that holds across a fleet is shared by its instances between two syncs.
///
/// Each instance publishes its counts every sync interval and reads the others'. Between syncs an instance knows
/// its own counts exactly and the others' as of the last sync. It admits a request when both hold:
/// 1. its count now plus the others' last counts is under the limit, and
/// 2. with other instances alive, what it added since the sync is under its share of the headroom the fleet had
///    then: `ceil((limit - mine - others) / instances)`.
///
/// So in one interval the fleet as a whole admits at most the headroom it had at the sync, plus one request per
/// instance for the rounding: a fleet of N instances overshoots a request or parallel limit by at most N - 1, and
/// only while the instance count it saw is right (an instance that joined within the last interval adds its share
/// once). A lone instance (no other has published lately) admits up to the limit, exactly as without a fleet.
public struct FleetShare: Sendable, Equatable {
    /// Instances alive at the last sync, this one included.
    public var instances: Int
    /// The other instances' counts at the last sync.
    public var others: FleetCounts
    /// This instance's counts when it published them.
    public var atSync: FleetCounts

    /// A share.
    public init(instances: Int = 1, others: FleetCounts = FleetCounts(), atSync: FleetCounts = FleetCounts()) {
        self.instances = instances
        self.others = others
        self.atSync = atSync
    }

    /// No other instance: the limit is this instance's alone.
    public static let alone = FleetShare()

    /// Whether one more request may start: `mine` is this instance's count now, `mineAtSync` and `others` the
    /// counts at the last sync, `limit` the fleet-wide limit.
    public func admits(mine: Int, mineAtSync: Int, others: Int, limit: Int) -> Bool {
        guard mine + others < limit else { return false }
        guard instances > 1 else { return true }
        let headroom = limit - mineAtSync - others
        let share = headroom > 0 ? (headroom + instances - 1) / instances : 0
        return mine - mineAtSync < share
    }

    /// Whether a request may start against a requests-per-minute limit, with `mine` requests this minute here.
    public func admitsRequest(mine: Int, limit: Int) -> Bool {
        admits(mine: mine, mineAtSync: atSync.requests, others: others.requests, limit: limit)
    }

    /// Whether a request may start against a parallel-requests limit, with `mine` in flight here.
    public func admitsParallel(mine: Int, limit: Int) -> Bool {
        admits(mine: mine, mineAtSync: atSync.inFlight, others: others.inFlight, limit: limit)
    }
}
