import Foundation
import SwitchyardCore
import SwitchyardStorage
import Synchronization

/// Virtual keys in memory: every key check is answered here, never by a database round trip. The storage service
/// reloads it every `user_api_key_cache_ttl` seconds (so keys made or revoked by another instance take effect
/// within that time) and settles the spend charged here once it is written.
///
/// A key's spend is what the database last said plus what this instance charged since and has not yet written.
/// Requests are admitted while that spend is under the budget; they are charged when they end. So concurrent
/// requests can overshoot a budget by at most the cost of the requests in flight when it was reached.
public final class KeyCache: Sendable {
    struct Entry {
        var key: VirtualKey
        /// Charged here, not yet written.
        var pending = 0.0
        var inFlight = 0
        var requests = MinuteWindow()
        var tokens = MinuteWindow()
        /// The other instances' counts and this one's share, for fleet-wide limits.
        var fleet = FleetShare.alone

        var hasLimits: Bool { key.rpmLimit != nil || key.tpmLimit != nil || key.maxParallelRequests != nil }
    }

    struct State {
        var entries: [String: Entry] = [:]
        /// Whether the keys were read from the database at least once.
        var loaded = false
        /// Whether the last read from the database failed.
        var databaseDown = false
        /// Live instances at the last fleet exchange, this one included: a key new here starts with its share.
        var fleetInstances = 1

        func newEntry(_ key: VirtualKey) -> Entry {
            var entry = Entry(key: key)
            if fleetInstances > 1 { entry.fleet = FleetShare(instances: fleetInstances) }
            return entry
        }
    }

    private let state = Mutex(State())
    static let origin = ContinuousClock.now

    public init() {}

    /// The clock second used for minute windows.
    static func second(_ instant: ContinuousClock.Instant = .now) -> Int64 { (instant - origin).components.seconds }

    /// Replaces the keys with the database's, keeping what only this instance knows: unwritten spend, requests in
    /// flight and this minute's counts. Keys gone from the database are gone here.
    public func replace(with keys: [VirtualKey]) {
        state.withLock { state in
            var entries: [String: Entry] = [:]
            for key in keys {
                var entry = state.entries[key.token] ?? state.newEntry(key)
                entry.key = key
                entries[key.token] = entry
            }
            state.entries = entries
            state.loaded = true
            state.databaseDown = false
        }
    }

    /// The database could not be read.
    public func markDatabaseDown() { state.withLock { $0.databaseDown = true } }

    /// Whether the last read from the database failed (or none succeeded yet).
    public var databaseUnavailable: Bool { state.withLock { $0.databaseDown || !$0.loaded } }

    /// Adds or replaces one key (made or changed through this instance).
    public func upsert(_ key: VirtualKey) {
        state.withLock { state in
            var entry = state.entries[key.token] ?? state.newEntry(key)
            let spend = entry.key.spend
            entry.key = key
            entry.key.spend = max(spend, key.spend)
            state.entries[key.token] = entry
        }
    }

    /// Adds a key looked up in the database, unless it is known by now (a reload or another lookup was quicker).
    public func insertIfAbsent(_ key: VirtualKey) {
        state.withLock { state in
            if state.entries[key.token] == nil { state.entries[key.token] = state.newEntry(key) }
        }
    }

    /// Removes keys (revoked through this instance).
    public func remove(_ tokens: [String]) {
        state.withLock { state in for token in tokens { state.entries[token] = nil } }
    }

    /// A key by hash, with its spend as this instance sees it.
    public func key(token: String) -> VirtualKey? {
        state.withLock { state in
            guard let entry = state.entries[token] else { return nil }
            var key = entry.key
            key.spend += entry.pending
            return key
        }
    }

    /// Whether a key is known (no copy of it).
    public func contains(token: String) -> Bool { state.withLock { $0.entries[token] != nil } }

    /// Every key, with spend as this instance sees it.
    public var keys: [VirtualKey] {
        state.withLock { state in
            state.entries.values.map { entry in
                var key = entry.key
                key.spend += entry.pending
                return key
            }.sorted { $0.createdAt < $1.createdAt }
        }
    }

    /// How many keys are known.
    public var count: Int { state.withLock { $0.entries.count } }

    /// Whether any key is known.
    public var isEmpty: Bool { state.withLock { $0.entries.isEmpty } }

    /// What a key check found.
    public enum Admission: Sendable {
        case admitted(KeyLease)
        case unknown
        case rejected(ProxyError)
    }

    /// Checks a key for a request to `alias` and, if it may go ahead, counts it in flight and in this minute.
    /// What flags and the admin routes look at of a key: its alias, and the `tier`, `team` (or `team_id`) and
    /// `role` its metadata names.
    public func identity(token: String) -> (alias: String?, tier: String?, team: String?, role: String?)? {
        guard let key = state.withLock({ $0.entries[token]?.key }) else { return nil }
        let metadata = (try? JSONParser.parse(key.metadata))?.objectValue
        return (
            key.keyAlias, metadata?["tier"]?.stringValue,
            metadata?["team"]?.stringValue ?? metadata?["team_id"]?.stringValue, metadata?["role"]?.stringValue
        )
    }

    public func admit(
        token: String, alias: String, promptTokens: Int, now: Date = Date(), ignoringBudget: Bool = false
    ) -> Admission {
        let second = Self.second()
        return state.withLock { state in
            guard var entry = state.entries[token] else { return .unknown }
            let key = entry.key
            if let expires = key.expires, expires <= now.timeIntervalSince1970 {
                return .rejected(
                    .unauthorized("This key expired at \(KeyCache.iso(expires)). Ask for a new key (POST /key/generate)."))
            }
            if !key.models.isEmpty, !key.models.contains(alias) {
                return .rejected(
                    ProxyError(
                        status: 403, type: "permission_error", code: "model_not_allowed",
                        message: "This key may not use the model '\(alias)'. It may use: "
                            + "\(key.models.joined(separator: ", ")).", param: "model"))
            }
            if let resetAt = key.budgetResetAt, resetAt <= now.timeIntervalSince1970,
                let duration = key.budgetDuration.flatMap(DurationText.seconds)
            {
                // The budget period is over: start the next one now; the storage service writes the reset.
                entry.key.spend = 0
                entry.pending = 0
                entry.key.budgetResetAt = Self.nextReset(after: resetAt, every: duration, now: now.timeIntervalSince1970)
            }
            let spend = entry.key.spend + entry.pending
            if let budget = key.maxBudget, spend >= budget, !ignoringBudget {
                var message = String(
                    format: "This key's budget is spent: $%.6f of $%.6f", spend, budget)
                if let resetAt = entry.key.budgetResetAt { message += "; it resets at \(KeyCache.iso(resetAt))" }
                message += "."
                let retry = entry.key.budgetResetAt.map { max(1, Int(($0 - now.timeIntervalSince1970).rounded(.up))) }
                state.entries[token] = entry
                return .rejected(
                    ProxyError(
                        status: 429, type: "insufficient_quota", code: "budget_exceeded", message: message,
                        retryAfter: retry))
            }
            let fleet = entry.fleet
            let mine = entry.requests.total(second: second)
            let requests = mine + fleet.others.requests
            let tokens = entry.tokens.total(second: second) + fleet.others.tokens
            func limited(_ what: String, limit: Int, retryAfter: Int) -> Admission {
                var error = ProxyError(
                    status: 429, type: "rate_limit_error", code: "rate_limit_exceeded",
                    message: "This key is at its limit of \(limit) \(what); retry in \(retryAfter) s.",
                    retryAfter: retryAfter)
                if let rpm = key.rpmLimit {
                    error.headers["x-ratelimit-limit-requests"] = String(rpm)
                    error.headers["x-ratelimit-remaining-requests"] = String(max(0, rpm - requests))
                    error.headers["x-ratelimit-reset-requests"] = "\(what.hasPrefix("requests") ? retryAfter : 0)s"
                }
                if let tpm = key.tpmLimit {
                    error.headers["x-ratelimit-limit-tokens"] = String(tpm)
                    error.headers["x-ratelimit-remaining-tokens"] = String(max(0, tpm - tokens))
                    error.headers["x-ratelimit-reset-tokens"] = "\(what.hasPrefix("tokens") ? retryAfter : 0)s"
                }
                if let parallel = key.maxParallelRequests {
                    error.headers["x-ratelimit-limit-parallel-requests"] = String(parallel)
                }
                return .rejected(error)
            }
            if let cap = key.maxParallelRequests, !fleet.admitsParallel(mine: entry.inFlight, limit: cap) {
                state.entries[token] = entry
                return limited("parallel requests", limit: cap, retryAfter: 1)
            }
            if let rpm = key.rpmLimit, !fleet.admitsRequest(mine: mine, limit: rpm) {
                state.entries[token] = entry
                // Over the fleet's count: until this instance's own requests leave the window (the others' are
                // read again at the next sync); under it but past this instance's share: the next sync.
                let wait =
                    requests >= rpm
                    ? entry.requests.seconds(untilAtMost: max(0, rpm - 1 - fleet.others.requests), second: second) : 1
                return limited("requests per minute", limit: rpm, retryAfter: max(1, wait))
            }
            if let tpm = key.tpmLimit, tokens > 0, tokens + promptTokens > tpm {
                state.entries[token] = entry
                return limited(
                    "tokens per minute", limit: tpm,
                    retryAfter: max(
                        1,
                        entry.tokens.seconds(
                            untilAtMost: max(0, tpm - promptTokens - fleet.others.tokens), second: second)))
            }
            entry.inFlight += 1
            entry.requests.add(1, second: second)
            state.entries[token] = entry
            return .admitted(KeyLease(token: token, keyAlias: key.keyAlias))
        }
    }

    /// A request admitted by `admit` ended: it is charged `cost` and its tokens count towards this minute.
    public func finish(_ lease: KeyLease, cost: Double, tokens: Int) {
        let second = Self.second()
        state.withLock { state in
            guard var entry = state.entries[lease.token] else { return }
            entry.inFlight = max(0, entry.inFlight - 1)
            if cost > 0 { entry.pending += cost }
            if tokens > 0 { entry.tokens.add(tokens, second: second) }
            state.entries[lease.token] = entry
        }
    }

    /// This instance's counts for keys with limits, to publish to the fleet.
    public func fleetCounts() -> [String: FleetCounts] {
        let second = Self.second()
        return state.withLock { state in
            var counts: [String: FleetCounts] = [:]
            for (token, entry) in state.entries where entry.hasLimits {
                counts[token] = FleetCounts(
                    requests: entry.requests.total(second: second), tokens: entry.tokens.total(second: second),
                    inFlight: entry.inFlight)
            }
            return counts
        }
    }

    /// What the fleet published: `published` is what this instance sent (its counts at the sync), `others` the
    /// other instances' counts by key hash. `instances` 1 (or nil counts): each key's limits are this instance's.
    public func applyFleet(instances: Int, published: [String: FleetCounts], others: [String: FleetCounts]) {
        state.withLock { state in
            state.fleetInstances = max(1, instances)
            for (token, entry) in state.entries where entry.hasLimits || entry.fleet != .alone {
                let share =
                    instances > 1 || others[token] != nil
                    ? FleetShare(
                        instances: max(1, instances), others: others[token] ?? FleetCounts(),
                        atSync: published[token] ?? FleetCounts()) : .alone
                if share != entry.fleet { state.entries[token]?.fleet = share }
            }
        }
    }

    /// Spend charged here was written to the database: it moves from pending to the stored spend.
    public func settle(_ written: [String: Double]) {
        state.withLock { state in
            for (token, amount) in written {
                guard var entry = state.entries[token] else { continue }
                let moved = min(amount, entry.pending)
                entry.pending -= moved
                entry.key.spend += moved
                state.entries[token] = entry
            }
        }
    }

    /// Budget periods that ended and were restarted in memory but not yet in the database.
    public func dueResets(stored: [VirtualKey]) -> [BudgetReset] {
        state.withLock { state in
            stored.compactMap { key in
                guard let storedReset = key.budgetResetAt, let entry = state.entries[key.token],
                    let current = entry.key.budgetResetAt, current > storedReset
                else { return nil }
                return BudgetReset(token: key.token, previousResetAt: storedReset, nextResetAt: current)
            }
        }
    }

    /// The first reset time after `now`, stepping from `last` by `every`.
    static func nextReset(after last: Double, every: Double, now: Double) -> Double {
        guard every > 0 else { return now }
        let periods = ((now - last) / every).rounded(.down) + 1
        return last + periods * every
    }

    static func iso(_ time: Double) -> String {
        let formatter = ISO8601DateFormatter()
        return formatter.string(from: Date(timeIntervalSince1970: time))
    }
}

/// A request admitted on a key: ends with `KeyCache.finish`.
public struct KeyLease: Sendable, Equatable {
    /// The key's hash.
    public let token: String
    /// The key's alias, for the request log.
    public let keyAlias: String?
}
