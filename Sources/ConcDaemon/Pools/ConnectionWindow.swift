import NIOCore

/// How many GETs the async pool sends one HTTP server at once: a window that opens while the server
/// keeps up and closes when it shows it cannot, as TCP's congestion window does for packets.
///
/// A server whose listen backlog overflows drops the new connections' SYNs (or the handshake's
/// last ACK) without a word; the client's kernel sends them again after a second, then three,
/// seven, fifteen: a burst of a thousand connections at a small server (`python3 -m http.server`,
/// backlog 5) leaves some waiting half a minute. So:
/// - a server's first GET goes alone (``probeTime``): its answer is the server's quickest, unloaded;
/// - then the window is `initial`, and each GET that finishes while others wait moves it: a *quick*
///   answer (at most twice the quickest plus 2 ms) opens `growthPerAnswer` place, a *flat* one
///   (within a fifth of the quickest plus 1 ms: the server took the whole window without making
///   anyone wait, as a server that queues cannot) opens `growthPerFlatAnswer`, a slower one gives a
///   place back down to `initial`. So a slow page that many can wait on at once (50 ms each,
///   however many wait) quadruples the window per round, and a server that starts to queue shows it
///   in its answers' time, before its backlog overflows, and stops it;
/// - it halves when a GET took `slowConnect` or more to get its request onto a connection, or its
///   answer came that much later than the quickest, which on a loopback or LAN connection only a
///   lost handshake explains. One halving per round: GETs admitted before the last cut do not cut
///   again. Past the first halving it grows by one per window's worth of GETs;
/// - `maximum` (the configured `connections_per_host`) bounds it.
///
/// Values only, events in and decisions out: the pool holds one per server under its lock.
package struct ConnectionWindow: Sendable, Equatable {
    /// GETs admitted at once now.
    package private(set) var limit: Int
    /// The most it opens to.
    package let maximum: Int
    /// Below this the window doubles per round; above it, it grows by one per round.
    package private(set) var threshold: Int
    /// GETs admitted and not yet finished.
    package private(set) var inFlight = 0
    /// GETs waiting for the window, oldest first, by the pool's ids (from `waitingHead` on).
    private var waiting: [UInt64] = []
    private var waitingHead = 0
    /// GETs finished since the window last grew by one above the threshold.
    private var finishedSinceGrowth = 0
    /// When the window was last cut; GETs admitted before then do not cut it again.
    private var lastCut: NIODeadline?
    /// The quickest answer seen from this server, admission to response head.
    private var quickest: TimeAmount?
    /// Whether the server's first GET is still out alone (``probeTime``).
    package private(set) var probing = true

    /// The window a server starts with, or `maximum` if lower. Measured: 100 at once already
    /// overflows `python3 -m http.server`'s backlog and costs seconds of retransmitted SYNs.
    package static let initial = 32
    /// Places a quick answer adds below the threshold: the window doubles per round.
    package static let growthPerAnswer = 1
    /// Places a flat answer adds below the threshold: the window quadruples per round. Measured
    /// (docs/performance.md): eightfold was 20-30 ms quicker on a 50 ms page but drowned a cold
    /// small server, whose slow first answer makes its queued answers look flat.
    package static let growthPerFlatAnswer = 3
    /// How long a server's first GET goes alone before the rest of the window follows it. Its answer
    /// is the server's quickest, taken unloaded: learnt from the first window's GETs instead, a
    /// small server's quickest is already its time under load, and answers twice as slow as that
    /// keep opening the window past what its backlog holds (`python3 -m http.server`: 135 at once
    /// within 90 ms, then seconds of handshakes taken again). A server that answers within this
    /// time has its unloaded time known; one that does not is slow by itself (a 50 ms page), and
    /// its first window waits only this long.
    package static let probeTime = TimeAmount.milliseconds(5)
    /// A connection that took this long to carry its request met a dropped SYN (Linux sends the
    /// first again after one second).
    package static let slowConnect = TimeAmount.milliseconds(900)

    /// A window that opens up to `maximum` GETs at once.
    package init(maximum: Int) {
        self.maximum = max(1, maximum)
        self.limit = min(Self.initial, self.maximum)
        self.threshold = self.maximum
    }

    /// GETs waiting for the window now.
    package var waitingCount: Int { waiting.count - waitingHead }

    /// A GET wants to start: returns true when admitted now, else it waits its turn as `id`.
    package mutating func request(id: UInt64) -> Bool {
        if inFlight < (probing ? 1 : limit) && waitingCount == 0 {
            inFlight += 1
            return true
        }
        waiting.append(id)
        return false
    }

    /// A waiting GET gave up (its deadline passed). Returns false when it was admitted already:
    /// then it counts as in flight until it finishes.
    package mutating func withdraw(id: UInt64) -> Bool {
        guard let index = waiting[waitingHead...].firstIndex(of: id) else { return false }
        waiting.remove(at: index)
        return true
    }

    /// The first GET went out ``probeTime`` ago without an answer: the rest of the window follows
    /// it. Returns the waiting GETs admitted now.
    package mutating func probeTimeElapsed() -> [UInt64] {
        guard probing else { return [] }
        probing = false
        return admitWaiting()
    }

    /// Whether nothing is in flight or waiting.
    package var isIdle: Bool { inFlight == 0 && waitingCount == 0 }

    /// A GET admitted at `admitted` had its request on a connection after `connectTime`.
    package mutating func connected(admitted: NIODeadline, connectTime: TimeAmount, now: NIODeadline) {
        guard connectTime >= Self.slowConnect else { return }
        cut(admitted: admitted, now: now)
    }

    /// Halves the window, once per round: GETs admitted before the last cut do not cut again.
    private mutating func cut(admitted: NIODeadline, now: NIODeadline) {
        if let lastCut, admitted < lastCut { return }
        threshold = max(2, limit / 2)
        limit = threshold
        finishedSinceGrowth = 0
        lastCut = now
    }

    /// An admitted GET finished, whatever its outcome; `answeredIn` is the time from its admission
    /// (at `admitted`) to its response's head, nil when none came. Returns the waiting GETs admitted
    /// now.
    package mutating func finished(
        answeredIn: TimeAmount?, admitted: NIODeadline = .uptimeNanoseconds(0), now: NIODeadline = .now()
    ) -> [UInt64] {
        inFlight -= 1
        let probe = probing
        probing = false
        var quick = false
        var flat = false
        if let answeredIn {
            let quickest = min(self.quickest ?? answeredIn, answeredIn)
            self.quickest = quickest
            quick = answeredIn <= quickest * 2 + .milliseconds(2)
            flat = answeredIn <= quickest + .nanoseconds(quickest.nanoseconds / 5) + .milliseconds(1)
            if answeredIn >= quickest + Self.slowConnect {
                // The server dropped the handshake's last ACK because its accept queue was full:
                // the client saw the connection open, the server took it only when it sent its
                // SYN-ACK again a second later. The same signal as a slow connect.
                cut(admitted: admitted, now: now)
            }
        }
        if probe {
            // The probe's answer sets the quickest; the window it opens is the initial one.
        } else if !quick && waitingCount > 0 && limit > Self.initial && answeredIn != nil {
            // The server queues: give back the growth that made it, one place per slow answer, down
            // to the initial window. A server that only grows makes its backlog overflow before the
            // halving's signal (a second late) arrives.
            limit -= 1
        } else if quick && waitingCount > 0 && limit < maximum {
            if limit < threshold {
                limit = min(threshold, limit + (flat ? Self.growthPerFlatAnswer : Self.growthPerAnswer))
            } else {
                finishedSinceGrowth += 1
                if finishedSinceGrowth >= limit {
                    limit += 1
                    finishedSinceGrowth = 0
                }
            }
        }
        return admitWaiting()
    }

    /// Admits waiting GETs, oldest first, while the window has room.
    private mutating func admitWaiting() -> [UInt64] {
        var admitted: [UInt64] = []
        while inFlight < limit && waitingHead < waiting.count {
            admitted.append(waiting[waitingHead])
            waitingHead += 1
            inFlight += 1
        }
        if waitingHead > 64 && waitingHead * 2 > waiting.count {
            waiting.removeFirst(waitingHead)
            waitingHead = 0
        }
        return admitted
    }
}
