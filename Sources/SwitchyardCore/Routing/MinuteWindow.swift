/// A count over the last 60 seconds, kept in one-second buckets: requests or tokens per minute, sliding.
public struct MinuteWindow: Sendable, Equatable {
    private var counts = [Int](repeating: 0, count: 60)
    private var stamps = [Int64](repeating: .min, count: 60)

    /// An empty window.
    public init() {}

    /// Adds `amount` in second `second` (seconds since any fixed origin, never negative).
    public mutating func add(_ amount: Int, second: Int64) {
        let slot = Int(second % 60)
        if stamps[slot] != second {
            stamps[slot] = second
            counts[slot] = 0
        }
        counts[slot] += amount
    }

    /// The sum over the 60 seconds ending with `second`.
    public func total(second: Int64) -> Int {
        var sum = 0
        for slot in 0..<60 where stamps[slot] > second - 60 { sum += counts[slot] }
        return sum
    }

    /// Seconds from `second` until the sum has fallen to `target` or below: 0 when it already has.
    public func seconds(untilAtMost target: Int, second: Int64) -> Int {
        let live = (0..<60).filter { stamps[$0] > second - 60 }.map { (stamps[$0], counts[$0]) }.sorted { $0.0 < $1.0 }
        var sum = live.reduce(0) { $0 + $1.1 }
        if sum <= target { return 0 }
        for (stamp, count) in live {
            sum -= count
            if sum <= target { return Int(stamp + 60 - second) }
        }
        return 60
    }
}
