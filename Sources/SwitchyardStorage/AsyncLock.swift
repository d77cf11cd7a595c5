/// A lock for async code: one holder at a time, waiters served in order. Keeps a transaction's statements together
/// on the one connection while other calls wait.
public actor AsyncLock {
    public init() {}

    private var locked = false
    private var waiters: [CheckedContinuation<Void, Never>] = []

    public func lock() async {
        if !locked {
            locked = true
            return
        }
        await withCheckedContinuation { waiters.append($0) }
    }

    public func unlock() {
        if waiters.isEmpty {
            locked = false
        } else {
            waiters.removeFirst().resume()
        }
    }
}
