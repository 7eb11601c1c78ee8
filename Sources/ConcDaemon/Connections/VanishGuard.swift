import Logging
import NIOCore
import Synchronization

/// One listener's `VanishingPeers` under a lock, with its two log lines: one when a peer starts
/// being refused (who, and the rate it may leave at) and one when it has been calm long enough to
/// be forgotten (how many of its connections were refused). A storm costs two lines, not one per
/// connection.
final class VanishGuard<Peer: Hashable & Sendable>: Sendable {
    private struct State {
        var peers: VanishingPeers<Peer>
        /// A sweep is scheduled: it runs every second while any peer is tracked.
        var sweeping = false
    }

    private let state: Mutex<State>
    private let perSecond: Int
    private let describe: @Sendable (Peer) -> Logger.Metadata
    private let logger: Logger
    private let timers: any EventLoop

    /// A guard that allows each peer `perSecond` departures without a request (five seconds' worth
    /// at once; 0 turns it off), describing a peer in its log lines with `describe`.
    init(perSecond: Int, logger: Logger, timers: any EventLoop, describe: @escaping @Sendable (Peer) -> Logger.Metadata) {
        state = Mutex(State(peers: VanishingPeers(limits: .init(perSecond: perSecond))))
        self.perSecond = perSecond
        self.describe = describe
        self.logger = logger
        self.timers = timers
    }

    /// Whether a connection from `peer` accepted now may be served.
    func admit(_ peer: Peer) -> Bool {
        let now = NIODeadline.now()
        let admission = state.withLock { $0.peers.connected(peer, now: now) }
        guard case .refuse(let first) = admission else { return true }
        if first {
            var metadata = describe(peer)
            metadata["allowed_per_second"] = "\(perSecond)"
            logger.notice(
                "refusing connections from a peer that keeps connecting and leaving without a request",
                metadata: metadata
            )
        }
        return false
    }

    /// A served connection from `peer` came to nothing: it closed without a whole request, or its request was refused.
    func vanished(_ peer: Peer) {
        let now = NIODeadline.now()
        let startSweeping = state.withLock { state -> Bool in
            state.peers.vanished(peer, now: now)
            guard state.peers.tracked > 0, !state.sweeping else { return false }
            state.sweeping = true
            return true
        }
        if startSweeping { scheduleSweep() }
    }

    private func scheduleSweep() {
        timers.scheduleTask(in: .seconds(1)) { [self] in sweep() }
    }

    private func sweep() {
        let now = NIODeadline.now()
        let (calmed, again) = state.withLock { state -> ([VanishingPeers<Peer>.Calmed], Bool) in
            let calmed = state.peers.sweep(now: now)
            state.sweeping = state.peers.tracked > 0
            return (calmed, state.sweeping)
        }
        for peer in calmed {
            var metadata = describe(peer.peer)
            metadata["refused"] = "\(peer.refused)"
            logger.notice("admitting a peer again: it has stopped connecting and leaving", metadata: metadata)
        }
        if again { scheduleSweep() }
    }
}
