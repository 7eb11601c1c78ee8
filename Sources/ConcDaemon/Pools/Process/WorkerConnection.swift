import ConcProtocol
import ConcWorkerCore
import Glibc
import NIOCore
import Synchronization

/// The daemon's side of one worker process: the socket tasks are sent on, the NIO channel its
/// replies are read from, and the deadline timer of the task it runs.
package final class WorkerConnection: Sendable {
    /// The daemon's sending end of the socketpair; the channel reads a dup of it.
    let socket: WorkerSocket
    /// Reads the worker's replies; closing it ends the worker (it exits on EOF).
    let channel: any Channel
    /// The deadline timer of the running task, if it has one. At most one task per worker has a
    /// deadline at a time: a task sent ahead of time never has one.
    private let deadline = Mutex<DeadlineTimer>(DeadlineTimer())
    /// What a user's program printed last (nil for concd's own worker, whose output is concd's).
    let output: WorkerOutput?

    private struct DeadlineTimer {
        var armed: (sequence: UInt64, timer: Scheduled<Void>)?
        /// Cancelled before it was armed (the task was answered before the submitting thread got
        /// round to arming it): arming it is skipped.
        var cancelledUpTo: UInt64 = 0
    }

    init(socket: WorkerSocket, channel: any Channel, output: WorkerOutput? = nil) {
        self.socket = socket
        self.channel = channel
        self.output = output
    }

    /// The event loop the worker's replies arrive on.
    var eventLoop: any EventLoop { channel.eventLoop }

    /// Calls `fire` at `at` unless `cancelDeadline(sequence)` comes first.
    func armDeadline(sequence: UInt64, at: NIODeadline, _ fire: @escaping @Sendable () -> Void) {
        deadline.withLock { state in
            guard sequence > state.cancelledUpTo else { return }
            state.armed?.timer.cancel()
            state.armed = (sequence, eventLoop.scheduleTask(deadline: at, fire))
        }
    }

    /// Cancels the deadline timer of task `sequence`, answered in time.
    func cancelDeadline(sequence: UInt64) {
        deadline.withLock { state in
            state.cancelledUpTo = max(state.cancelledUpTo, sequence)
            if let armed = state.armed, armed.sequence <= sequence {
                armed.timer.cancel()
                state.armed = nil
            }
        }
    }

    /// Closes the daemon's ends: the worker reads EOF and exits. Its deadline timer goes too.
    func close() {
        deadline.withLock { state in
            state.cancelledUpTo = .max
            state.armed?.timer.cancel()
            state.armed = nil
        }
        socket.release()
        channel.close(promise: nil)
    }
}

/// The daemon's sending end of a worker's socketpair. It is closed when the last of its holders
/// lets go: the connection, and any send in progress, so a send never reaches a closed or reused
/// descriptor.
final class WorkerSocket: Sendable {
    let descriptor: Int32
    private let holders = Atomic(1)
    private let turns = Mutex(Turns())

    /// Sends run in ticket order: the worker matches replies to tasks by order alone, and two
    /// threads that decided two sends one after the other may reach `send` the other way round.
    private struct Turns {
        /// The ticket whose send runs next (tickets start at 1).
        var next: UInt64 = 1
        /// Sends whose turn has not come, run by the thread that finishes the one before.
        var parked: [UInt64: @Sendable () -> Void] = [:]
    }

    init(_ descriptor: Int32) {
        self.descriptor = descriptor
    }

    /// Holds the descriptor open for a send; taken under the pool's lock, where the send is decided.
    func retain() {
        holders.add(1, ordering: .relaxed)
    }

    func release() {
        if holders.subtract(1, ordering: .acquiringAndReleasing).newValue == 0 { Glibc.close(descriptor) }
    }

    /// Runs `now` if every earlier ticket's send has run, else parks what `later` makes for the
    /// thread that runs the ticket before it. The lock is not held while a send runs, and the
    /// common case (our turn) builds no closure.
    func inTurn(_ ticket: UInt64, now: () -> Void, later: () -> @Sendable () -> Void) {
        let ready = turns.withLock { turns -> Bool in
            if turns.next == ticket { return true }
            turns.parked[ticket] = later()
            return false
        }
        guard ready else { return }
        now()
        while let parked = turns.withLock({ turns -> (@Sendable () -> Void)? in
            turns.next += 1
            // Looked up only when some send waits: hashing the ticket cost about 300 instructions a send.
            return turns.parked.isEmpty ? nil : turns.parked.removeValue(forKey: turns.next)
        }) {
            parked()
        }
    }

    /// Sends one datagram without blocking; true when all of it went.
    func send(_ message: UnsafeRawBufferPointer) -> Bool {
        let sent = Syscall.retryingEINTR {
            Glibc.send(descriptor, message.baseAddress, message.count, Int32(MSG_NOSIGNAL | MSG_DONTWAIT))
        }
        return sent == message.count
    }
}

/// Reads one worker's messages on its event loop and tells the pool when the worker goes away.
/// concd's own worker sends datagrams (SOCK_SEQPACKET keeps them apart: one read is one message);
/// a user's program sends lines, cut by a `LineFrameHandler` in front of this handler, and a line
/// longer than `ProtocolLimits.maxWorkerReplyBytes` breaks the protocol, which replaces the worker.
final class WorkerChannelHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer

    private let pool: ProcessPool
    private let slot: Int
    private let worker: UInt64
    /// Whether the worker is a user's program, speaking the line protocol.
    private let lines: Bool
    /// The read burst of the channel's event loop: replies its messages answer are written when the read ends.
    private let loopBurst: LoopReadBurst

    init(pool: ProcessPool, slot: Int, worker: UInt64, lines: Bool, loopBurst: LoopReadBurst) {
        self.pool = pool
        self.slot = slot
        self.worker = worker
        self.lines = lines
        self.loopBurst = loopBurst
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        loopBurst.begin()
        if lines {
            pool.received(slot: slot, worker: worker, line: unwrapInboundIn(data))
        } else {
            pool.received(slot: slot, worker: worker, message: unwrapInboundIn(data))
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        loopBurst.end()
    }

    func channelInactive(context: ChannelHandlerContext) {
        // A read cut short by the close gets no `channelReadComplete`.
        loopBurst.end()
        pool.lost(slot: slot, worker: worker)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        loopBurst.end()
        if error is FrameTooLargeError {
            pool.misbehaved(
                slot: slot, worker: worker,
                reason: "it sent a line longer than \(ProtocolLimits.maxWorkerReplyBytes) bytes (the largest reply concd takes)"
            )
        }
        context.close(promise: nil)
    }
}
