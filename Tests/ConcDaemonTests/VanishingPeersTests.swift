import ConcDaemon
import NIOCore
import Testing

/// The per-peer bucket of connections that leave without a request, without sockets: a storm is
/// refused after its burst and admitted again at the refill rate, a client that sends requests is
/// never refused, one peer's storm does not touch another, and the table stays bounded.
@Suite struct VanishingPeersTests {
    private let start = NIODeadline.uptimeNanoseconds(1_000_000_000)
    private func at(_ seconds: Double) -> NIODeadline { start + .nanoseconds(Int64(seconds * 1e9)) }

    /// `count` connections from `peer` at `now`, each admitted one vanishing; returns how many were admitted.
    private func storm(_ peers: inout VanishingPeers<Int>, _ peer: Int, _ count: Int, at now: NIODeadline) -> Int {
        var admitted = 0
        for _ in 0..<count where peers.connected(peer, now: now) == .admit {
            admitted += 1
            peers.vanished(peer, now: now)
        }
        return admitted
    }

    @Test func aStormIsRefusedAfterItsBurstAndAdmittedAtTheRefillRate() {
        var peers = VanishingPeers<Int>(limits: .init(perSecond: 20))
        #expect(peers.limits.burst == 100)
        #expect(storm(&peers, 7, 1000, at: at(0)) == 100, "five seconds' worth at once, then nothing")
        #expect(peers.isRefusing(7, now: at(0)))
        // The next refused connection is not the first: only the first is logged.
        #expect(peers.connected(7, now: at(0.01)) == .refuse(first: false))
        // A second later, twenty more are admitted (the tokens refilled meanwhile), and no more.
        #expect(storm(&peers, 7, 1000, at: at(1)) == 20)
        #expect(!peers.isRefusing(7, now: at(1.05)), "one token back after 1/20 s")
    }

    @Test func theFirstRefusalIsMarkedAndTheCalmPeerIsReportedWithItsCount() {
        var peers = VanishingPeers<Int>(limits: .init(perSecond: 20))
        _ = storm(&peers, 1, 100, at: at(0))
        #expect(peers.connected(1, now: at(0)) == .refuse(first: true))
        #expect(peers.connected(1, now: at(0)) == .refuse(first: false))
        #expect(peers.sweep(now: at(4.9)).isEmpty && peers.tracked == 1, "not full yet")
        #expect(peers.sweep(now: at(5)).map { [$0.peer, $0.refused] } == [[1, 2]])
        #expect(peers.tracked == 0, "forgotten once calm")
        #expect(peers.connected(1, now: at(5)) == .admit)
        // A peer that vanished a little and was never refused is forgotten without a report.
        peers.vanished(2, now: at(5))
        #expect(peers.sweep(now: at(6)).isEmpty && peers.tracked == 0)
    }

    @Test func aClientThatSendsRequestsIsNeverRefusedNorTracked() {
        var peers = VanishingPeers<Int>(limits: .init(perSecond: 20))
        // Ten thousand connections in one instant that each send a request: no departure is counted.
        for _ in 0..<10_000 { #expect(peers.connected(3, now: at(0)) == .admit) }
        #expect(peers.tracked == 0)
        // Another peer's storm leaves it alone.
        _ = storm(&peers, 4, 1000, at: at(0))
        #expect(peers.connected(3, now: at(0)) == .admit && peers.isRefusing(4, now: at(0)))
    }

    @Test func zeroTurnsItOff() {
        var peers = VanishingPeers<Int>(limits: .init(perSecond: 0))
        #expect(storm(&peers, 5, 10_000, at: at(0)) == 10_000 && peers.tracked == 0)
    }

    @Test func theTableIsBoundedAndSweepsCalmPeersToMakeRoom() {
        var peers = VanishingPeers<Int>(limits: .init(perSecond: 20), capacity: 100)
        for peer in 0..<1000 { peers.vanished(peer, now: at(0)) }
        #expect(peers.tracked == 100, "the rest are admitted untracked")
        // Once the first hundred are calm, a new peer takes a place.
        peers.vanished(5000, now: at(1))
        #expect(peers.tracked == 1)
        #expect(storm(&peers, 5000, 1000, at: at(1)) == 99)
    }
}
