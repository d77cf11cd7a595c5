import Foundation
import SwitchyardStorage
import Synchronization

/// Keys the cache does not know, looked up in the database on first use: a key made on another instance works
/// here at once, not only after the next key reload.
///
/// - Single flight: concurrent requests with the same unknown key wait for one lookup.
/// - A key found is put in the cache and served from memory from then on.
/// - A hash the database does not know is remembered as unknown for `negativeTTL` (at most `negativeCapacity`
///   hashes), so a client that repeats a wrong key costs one lookup per `negativeTTL`.
/// - Lookups of hashes not remembered either way are rate-limited per instance (`ratePerSecond`, bursts of
///   `burst`): random keys cannot hammer the database. A key refused because the budget is spent is refused like
///   an unknown one, with a message that says to retry; it is served at the next key reload in any case.
/// - A lookup that takes longer than `timeout` (or fails) answers the request as if the database were down.
final class KeyLookup: Sendable {
    /// What a lookup found.
    enum Outcome: Sendable {
        case found(VirtualKey)
        case unknown
        case limited
        case unavailable
    }

    static let ratePerSecond = 10.0
    static let burst = 20.0
    static let negativeTTL: Duration = .seconds(10)
    static let negativeCapacity = 10_000
    static let timeout: Duration = .seconds(2)

    private struct State {
        var waiting: [String: [CheckedContinuation<Outcome, Never>]] = [:]
        var unknown: [String: ContinuousClock.Instant] = [:]
        var allowance = KeyLookup.burst
        var filledAt = ContinuousClock.now
    }

    private let state = Mutex(State())

    /// Either the lookup to make (`nil`: this caller makes it) or an answer without one.
    private func join(_ token: String, now: ContinuousClock.Instant, waiter: CheckedContinuation<Outcome, Never>) -> Outcome?? {
        state.withLock { state -> Outcome?? in
            if let until = state.unknown[token] {
                if until > now { return .some(.unknown) }
                state.unknown[token] = nil
            }
            if state.waiting[token] != nil {
                state.waiting[token, default: []].append(waiter)
                return .none
            }
            let elapsed =
                Double((now - state.filledAt).components.attoseconds) / 1e18
                + Double((now - state.filledAt).components.seconds)
            state.allowance = min(Self.burst, state.allowance + elapsed * Self.ratePerSecond)
            state.filledAt = now
            guard state.allowance >= 1 else { return .some(.limited) }
            state.allowance -= 1
            state.waiting[token] = [waiter]
            return .some(nil)
        }
    }

    /// Looks `token` up with `fetch`, once for all concurrent callers; `counted` sees each caller's outcome and
    /// whether it made the database call.
    /// `found` is called with a key found before any caller is answered, so a request that comes after the answer
    /// finds the key in the cache, not a second lookup.
    func resolve(
        _ token: String, fetch: @escaping @Sendable (String) async throws -> VirtualKey?,
        found: @escaping @Sendable (VirtualKey) -> Void,
        counted: @Sendable (Outcome, _ lookedUp: Bool) -> Void
    ) async -> Outcome {
        let now = ContinuousClock.now
        var leads = false
        let outcome = await withCheckedContinuation { (continuation: CheckedContinuation<Outcome, Never>) in
            switch join(token, now: now, waiter: continuation) {
            case .none: break  // Another caller's lookup answers this one.
            case .some(.some(let answer)): continuation.resume(returning: answer)
            case .some(.none):
                leads = true
                Task {
                    let answer = await Self.fetch(token, with: fetch)
                    if case .found(let key) = answer { found(key) }
                    let waiters = self.state.withLock { state -> [CheckedContinuation<Outcome, Never>] in
                        if case .unknown = answer {
                            if state.unknown.count >= Self.negativeCapacity {
                                let now = ContinuousClock.now
                                state.unknown = state.unknown.filter { $0.value > now }
                            }
                            if state.unknown.count < Self.negativeCapacity {
                                state.unknown[token] = ContinuousClock.now + Self.negativeTTL
                            }
                        }
                        return state.waiting.removeValue(forKey: token) ?? []
                    }
                    for waiter in waiters { waiter.resume(returning: answer) }
                }
            }
        }
        counted(outcome, leads)
        return outcome
    }

    /// `fetch`'s answer, or `.unavailable` when it fails or has not answered within `timeout` (it is then left to
    /// end on its own; nobody waits for it).
    private static func fetch(
        _ token: String, with fetch: @escaping @Sendable (String) async throws -> VirtualKey?
    ) async -> Outcome {
        let pending = Mutex<CheckedContinuation<Outcome, Never>?>(nil)
        let finish: @Sendable (Outcome) -> Void = { outcome in
            pending.withLock { $0.take() }?.resume(returning: outcome)
        }
        return await withCheckedContinuation { (continuation: CheckedContinuation<Outcome, Never>) in
            pending.withLock { $0 = continuation }
            let timer = Task {
                try? await Task.sleep(for: timeout)
                finish(.unavailable)
            }
            Task {
                let outcome: Outcome
                do {
                    outcome = try await fetch(token).map(Outcome.found) ?? .unknown
                } catch {
                    outcome = .unavailable
                }
                timer.cancel()
                finish(outcome)
            }
        }
    }
}
