import NIOCore

/// How many GETs the async pool sends one HTTP server at once: a window that opens while the server
/// keeps up and closes when it shows it cannot, as TCP's congestion window does for packets.
///
/// A server whose listen backlog overflows drops the new connections' SYNs without a word; the
/// client's kernel sends them again after a second, then three, seven, fifteen: a burst of a thousand
/// connections at a small server (`python3 -m http.server`, backlog 5) leaves some waiting half a
/// minute. So the window starts at `initial`, grows by `growthPerAnswer` per GET that finishes while
/// others wait (doubling each round, up to `maximum`, the configured `connections_per_host`), and
/// halves when a
/// GET took `slowConnect` or more to get its request onto a connection, which on a loopback or LAN
/// connection only a dropped SYN explains. One halving per round: GETs admitted before the last cut
/// do not cut again. Past the first halving it grows by one per window's worth of GETs.
///
/// A dropped SYN is known only a second later, and a small server answers thousands of GETs in a
/// second: growth alone would outrun the signal. So the window grows only on GETs answered about
/// as fast as the server's quickest (at most twice its time plus 2 ms): a server that starts to
/// queue its connections shows it in its answers' time before its backlog overflows, while a slow
/// page that many can wait on at once (a 50 ms page) keeps its time however many wait.
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

    /// The window a server starts with, or `maximum` if lower. Measured: 100 at once already
    /// overflows `python3 -m http.server`'s backlog and costs seconds of retransmitted SYNs.
    package static let initial = 32
    /// Places a quick answer adds below the threshold: the window doubles per round. Measured
    /// (docs/performance.md): growing fourfold per round made neither the 50 ms page's burst quicker
    /// nor the small server's safe.
    package static let growthPerAnswer = 1
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
        if inFlight < limit && waitingCount == 0 {
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

    /// Whether nothing is in flight or waiting.
    package var isIdle: Bool { inFlight == 0 && waitingCount == 0 }

    /// A GET admitted at `admitted` had its request on a connection after `connectTime`.
    package mutating func connected(admitted: NIODeadline, connectTime: TimeAmount, now: NIODeadline) {
        guard connectTime >= Self.slowConnect else { return }
        if let lastCut, admitted < lastCut { return }
        threshold = max(2, limit / 2)
        limit = threshold
        finishedSinceGrowth = 0
        lastCut = now
    }

    /// An admitted GET finished, whatever its outcome; `answeredIn` is the time from its admission
    /// to its response's head, nil when none came. Returns the waiting GETs admitted now.
    package mutating func finished(answeredIn: TimeAmount?) -> [UInt64] {
        inFlight -= 1
        var quick = false
        if let answeredIn {
            quickest = min(quickest ?? answeredIn, answeredIn)
            quick = answeredIn <= (quickest ?? answeredIn) * 2 + .milliseconds(2)
        }
        if quick && waitingCount > 0 && limit < maximum {
            if limit < threshold {
                limit = min(threshold, limit + Self.growthPerAnswer)
            } else {
                finishedSinceGrowth += 1
                if finishedSinceGrowth >= limit {
                    limit += 1
                    finishedSinceGrowth = 0
                }
            }
        }
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
