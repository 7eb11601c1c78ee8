import Logging
import NIOCore
import Synchronization

/// Keeps a flood of bad connections from becoming a flood of log lines (journald's own rate limit
/// would then drop the daemon's other messages too): up to `perSecond` lines a second for one kind
/// of event are written as they happen, each naming its peer; past that, events are counted with
/// up to five of their peers and written as one line when the second is over: by the next event,
/// or by a timer set when the second's first event is held back. Nothing is dropped without a
/// count; at shutdown the server that owns the throttle writes what is still held (`flush(force:)`).
package final class LogThrottle: Sendable {
    /// The throttle's whole state: the current one-second window and what it held back.
    package struct Window: Sendable {
        package var start: ContinuousClock.Instant
        package var written = 0
        package var held = 0
        package var peers: [String] = []

        package init(start: ContinuousClock.Instant) {
            self.start = start
        }

        /// What to do with one event at `now`: write it, or count it; and the count of a window
        /// that ended, to write first.
        package mutating func event(peer: String, now: ContinuousClock.Instant, perSecond: Int) -> (write: Bool, ended: (Int, [String])?) {
            let ended = roll(now: now)
            guard written >= perSecond else {
                written += 1
                return (true, ended)
            }
            held += 1
            if peers.count < 5 && !peers.contains(peer) { peers.append(peer) }
            return (false, ended)
        }

        /// Starts a new window if this one is a second old (or `force`); returns what the old one held back.
        package mutating func roll(now: ContinuousClock.Instant, force: Bool = false) -> (Int, [String])? {
            guard force || now - start >= .seconds(1) else { return nil }
            defer { self = Window(start: now) }
            return held > 0 ? (held, peers) : nil
        }
    }

    private let message: String
    private let summary: String
    private let perSecond: Int
    private let logger: Logger
    private let timers: any EventLoop
    private let window = Mutex(Window(start: .now))

    /// A throttle for `message`; held-back events are written as `summary` with `count` and
    /// `peers`, by a timer on `timers` when no later event writes them.
    init(message: String, summary: String, perSecond: Int = 10, logger: Logger, timers: any EventLoop) {
        self.message = message
        self.summary = summary
        self.perSecond = perSecond
        self.logger = logger
        self.timers = timers
    }

    /// Writes `message` with `metadata` now, or counts it under `peer`.
    func log(_ metadata: Logger.Metadata, peer: String) {
        let (write, ended, firstHeld) = window.withLock { window in
            let (write, ended) = window.event(peer: peer, now: .now, perSecond: perSecond)
            return (write, ended, !write && window.held == 1)
        }
        if let ended { writeSummary(ended) }
        if write { logger.notice("\(message)", metadata: metadata) }
        // Just past the end of this event's window (which began at or before it).
        if firstHeld { timers.scheduleTask(in: .milliseconds(1010)) { [self] in flush() } }
    }

    /// Writes the count of a second that is over (any second, with `force`), if it held anything back.
    func flush(force: Bool = false) {
        if let ended = window.withLock({ $0.roll(now: .now, force: force) }) { writeSummary(ended) }
    }

    private func writeSummary(_ ended: (count: Int, peers: [String])) {
        logger.notice(
            "\(summary)",
            metadata: ["count": "\(ended.count)", "peers": "\(ended.peers.joined(separator: ","))"]
        )
    }
}

/// The peer named in a line's metadata, as the throttle counts it.
extension Logger.Metadata {
    var peerName: String {
        if case .string(let address)? = self["peer"] { return address }
        if case .string(let uid)? = self["peer_uid"] { return "uid \(uid)" }
        return "unknown"
    }
}
