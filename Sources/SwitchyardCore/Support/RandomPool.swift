import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// Random numbers from the system's generator, fetched 512 bytes at a time: `SystemRandomNumberGenerator` makes
/// a `getrandom` system call for every 64-bit word, and a request id takes two. The words are as random as the
/// system's (they are read from `/dev/urandom`); only the system calls are fewer.
public struct PooledRandomGenerator: RandomNumberGenerator, Sendable {
    public init() {}

    public mutating func next() -> UInt64 {
        RandomPool.shared.next()
    }
}

/// The words fetched and not yet used, shared by all threads.
final class RandomPool: Sendable {
    static let shared = RandomPool()

    private struct State {
        var words = [UInt64](repeating: 0, count: 64)
        var used = 64
        /// `/dev/urandom`, opened on first use; -1 when it cannot be read.
        var source: Int32 = -2
    }

    private let state = Mutex(State())

    func next() -> UInt64 {
        state.withLock { state in
            if state.used == state.words.count { Self.refill(&state) }
            defer { state.used += 1 }
            return state.words[state.used]
        }
    }

    private static func refill(_ state: inout State) {
        state.used = 0
        #if canImport(Glibc)
            if state.source == -2 { state.source = open("/dev/urandom", O_RDONLY | O_CLOEXEC) }
            if state.source >= 0 {
                let source = state.source
                let complete = state.words.withUnsafeMutableBytes { buffer -> Bool in
                    var offset = 0
                    while offset < buffer.count {
                        let count = read(source, buffer.baseAddress.map { $0 + offset }, buffer.count - offset)
                        if count > 0 {
                            offset += count
                        } else if count < 0, errno == EINTR {
                            continue
                        } else {
                            return false
                        }
                    }
                    return true
                }
                if complete { return }
                close(source)
                state.source = -1
            }
        #endif
        var system = SystemRandomNumberGenerator()
        for index in state.words.indices { state.words[index] = system.next() }
    }
}
