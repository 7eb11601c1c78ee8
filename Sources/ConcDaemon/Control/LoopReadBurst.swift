import NIOCore
import Synchronization

/// One event loop's read burst of a channel that answers clients without being their connection: a
/// worker's channel, whose replies complete tasks. A reply reaching a client connection of the same
/// loop during the burst is owed a flush, written when the burst ends together with the others,
/// instead of each connection scheduling a flush task on the loop; a task costs a pass through the
/// loop's task queue, about 3 000 instructions.
///
/// Touched only on its event loop, which makes it safe to share (hence the unchecked Sendable).
package final class LoopReadBurst: @unchecked Sendable {
    /// Each event loop's burst, created the first time a channel of that loop asks for it.
    private static let all = Mutex<[ObjectIdentifier: LoopReadBurst]>([:])

    private var open = false
    private var owed: [(any OwedFlush, any Channel)] = []

    private init() {}

    /// The burst of `loop`, asked for once per channel (not per read).
    package static func of(_ loop: any EventLoop) -> LoopReadBurst {
        all.withLock { all in
            if let burst = all[ObjectIdentifier(loop)] { return burst }
            let burst = LoopReadBurst()
            all[ObjectIdentifier(loop)] = burst
            return burst
        }
    }

    /// A channel of the loop began reading; called again for each message of the same read.
    package func begin() {
        open = true
    }

    /// Owes `handler` a flush of `channel` at the burst's end; false outside a burst (the caller
    /// then schedules its own flush).
    package func owe(_ handler: any OwedFlush, _ channel: any Channel) -> Bool {
        guard open else { return false }
        owed.append((handler, channel))
        return true
    }

    /// The read ended (`channelReadComplete`, or the channel's error or close): every owed flush runs.
    /// Replies those flushes cause are no longer owed: the burst is closed before they run. The
    /// count is read again each turn, so that nothing owed during the flushes is dropped unflushed.
    package func end() {
        guard open else { return }
        open = false
        var index = 0
        while index < owed.count {
            owed[index].0.flushOwed(on: owed[index].1)
            index += 1
        }
        owed.removeAll(keepingCapacity: true)
    }
}

/// A client connection with replies queued for a flush that a read burst owes it.
package protocol OwedFlush: AnyObject, Sendable {
    /// Writes the replies queued by now; on `channel`'s event loop.
    func flushOwed(on channel: any Channel)
}
