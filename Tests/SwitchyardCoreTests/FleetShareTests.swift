import Testing

@testable import SwitchyardCore

/// How a fleet-wide limit is shared between syncs (`FleetShare`).
@Suite struct FleetShareTests {
    @Test func aLoneInstanceAdmitsUpToTheLimit() {
        let alone = FleetShare.alone
        #expect((0..<10).allSatisfy { alone.admits(mine: $0, mineAtSync: 0, others: 0, limit: 10) })
        #expect(!alone.admits(mine: 10, mineAtSync: 0, others: 0, limit: 10))
        // The others' count alone, without a share, still counts.
        let told = FleetShare(instances: 1, others: FleetCounts(requests: 7))
        #expect(told.admitsRequest(mine: 2, limit: 10))
        #expect(!told.admitsRequest(mine: 3, limit: 10))
    }

    @Test func anInstanceTakesItsShareOfTheHeadroomBetweenSyncs() {
        // Limit 10, two instances, nothing counted at the sync: five each.
        let share = FleetShare(instances: 2)
        #expect(share.admitsRequest(mine: 4, limit: 10))
        #expect(!share.admitsRequest(mine: 5, limit: 10))
        // Requests that left (a parallel limit: they ended) free their place again at once.
        let busy = FleetShare(instances: 2, others: FleetCounts(inFlight: 1), atSync: FleetCounts(inFlight: 3))
        #expect(!busy.admitsParallel(mine: 3, limit: 4))
        #expect(busy.admitsParallel(mine: 2, limit: 4))
        // No headroom left at the sync: nothing more until the next.
        let full = FleetShare(instances: 3, others: FleetCounts(requests: 6), atSync: FleetCounts(requests: 4))
        #expect(!full.admitsRequest(mine: 4, limit: 10))
    }

    /// N instances, every one of them offered far more requests than the limit in every interval: whatever the
    /// order, the fleet admits at most the limit plus N - 1 over a minute of syncs (a per-instance limit would
    /// admit N times the limit), and all of the limit when the load is on one instance only.
    @Test(arguments: [2, 3, 5, 8])
    func aFleetOvershootsByAtMostOneRequestPerInstance(_ instances: Int) {
        for limit in [1, 2, 7, 10, 60, 1000] {
            for loaded in [instances, 1] {
                var counts = [Int](repeating: 0, count: instances)
                var published = counts
                for _ in 0..<60 {
                    // One interval: each loaded instance admits while its view allows.
                    for index in 0..<loaded {
                        let others = published.enumerated().filter { $0.offset != index }.map(\.element).reduce(0, +)
                        let share = FleetShare(
                            instances: instances, others: FleetCounts(requests: others),
                            atSync: FleetCounts(requests: published[index]))
                        while share.admitsRequest(mine: counts[index], limit: limit) { counts[index] += 1 }
                    }
                    published = counts
                }
                let total = counts.reduce(0, +)
                #expect(total <= limit + instances - 1, "limit \(limit), \(instances) instances, \(loaded) loaded")
                #expect(total >= limit, "limit \(limit), \(instances) instances, \(loaded) loaded: the fleet used it all")
            }
        }
    }
}
