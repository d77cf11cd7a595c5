import SwitchyardCore
import SwitchyardStorage
import Synchronization

/// Responses API answers the proxy made by translation: the newest kept in memory (so a follow-up on this instance
/// finds one at once), every one written to the database with the request log's next batch (so the fleet finds it
/// within a batch interval, and it is pruned with the log's retention). Without storage, memory alone.
final class ResponseStore: Sendable {
    /// Responses kept in memory, newest last.
    static let recentLimit = 1_000

    private struct State {
        var pending: [StoredResponse] = []
        var recent: [String: StoredResponse] = [:]
        /// Ids in the order they were kept; those before `head` were evicted already.
        var order: [String] = []
        var head = 0
    }

    private let state = Mutex(State())

    /// Keeps a response.
    func keep(_ response: StoredResponse, persist: Bool) {
        state.withLock { state in
            if persist { state.pending.append(response) }
            if state.recent.updateValue(response, forKey: response.id) == nil { state.order.append(response.id) }
            while state.order.count - state.head > Self.recentLimit {
                state.recent.removeValue(forKey: state.order[state.head])
                state.head += 1
            }
            // Evicted ids are dropped a thousand at a time: removing one from the front moved all the others
            // (16,000 instructions a request once the store was full).
            if state.head >= Self.recentLimit {
                state.order.removeFirst(state.head)
                state.head = 0
            }
        }
    }

    /// A response kept in memory.
    func recent(id: String) -> StoredResponse? { state.withLock { $0.recent[id] } }

    /// Forgets a response kept in memory (and not yet written); whether it was there.
    func forget(id: String) -> Bool {
        state.withLock { state in
            state.pending.removeAll { $0.id == id }
            if let position = state.order[state.head...].firstIndex(of: id) { state.order.remove(at: position) }
            return state.recent.removeValue(forKey: id) != nil
        }
    }

    /// The responses waiting to be written, taken.
    func takePending() -> [StoredResponse] {
        state.withLock { state in
            defer { state.pending = [] }
            return state.pending
        }
    }

    /// Responses a failed write gives back.
    func putBack(_ responses: [StoredResponse]) {
        state.withLock { $0.pending.insert(contentsOf: responses, at: 0) }
    }
}
