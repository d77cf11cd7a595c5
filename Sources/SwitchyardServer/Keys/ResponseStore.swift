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
        var order: [String] = []
    }

    private let state = Mutex(State())

    /// Keeps a response.
    func keep(_ response: StoredResponse, persist: Bool) {
        state.withLock { state in
            if persist { state.pending.append(response) }
            if state.recent.updateValue(response, forKey: response.id) == nil { state.order.append(response.id) }
            if state.order.count > Self.recentLimit {
                let evicted = state.order.takeFirst(state.order.count - Self.recentLimit)
                for id in evicted { state.recent.removeValue(forKey: id) }
            }
        }
    }

    /// A response kept in memory.
    func recent(id: String) -> StoredResponse? { state.withLock { $0.recent[id] } }

    /// Forgets a response kept in memory (and not yet written); whether it was there.
    func forget(id: String) -> Bool {
        state.withLock { state in
            state.pending.removeAll { $0.id == id }
            state.order.removeAll { $0 == id }
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

/// The removal of `count` elements from the front, returned.
extension Array {
    fileprivate mutating func takeFirst(_ count: Int) -> [Element] {
        let head = Array(prefix(count))
        removeFirst(count)
        return head
    }
}
