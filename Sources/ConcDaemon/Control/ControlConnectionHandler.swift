import ConcProtocol
import ConcSystem
import Glibc
import Logging
import NIOCore
import Synchronization

/// Serves one client connection: each frame is decoded and handed to the Dispatcher, and each reply
/// is written when it is ready, so many requests can be in flight on one connection and answers
/// may come back in any order (matched by id). A bad frame costs only its own error reply.
///
/// Replies are gathered in an outbox and leave with one flush: the first reply queued schedules a
/// flush task on the event loop, which writes every reply queued by the time it runs, and the end of
/// a read burst (`channelReadComplete`) flushes what the burst produced without waiting for it. A
/// reply queued on the event loop while a worker's channel of that loop is being read is flushed at
/// the end of that read instead of in a task (`LoopReadBurst`). So a
/// busy connection costs one write system call and one wake-up for many replies, not one each.
/// A flush writes straight to the connection's socket when NIO holds none of its bytes, and hands
/// NIO only what the socket would not take (`write(_:on:)`): NIO's write path, through the
/// pipeline and its pending-writes machinery, cost about 4 000 instructions per flush.
/// The peer's credentials (SO_PEERCRED, which the kernel fixed at connect) are read once, at
/// accept (`ControlServer`), for admin requests, for `exec` (which the exec policy allows per user),
/// for the log, and to count a connection that leaves without a whole frame against its peer
/// (`VanishGuard`). A connection that sends bad
/// frames is logged when the first is rejected and, if more followed, once more when it closes with
/// their count: a fuzzer or a broken client costs two log lines, not one per frame. One that sends
/// `rejectedInARow` bad frames in a row is answered `too_many_rejected` and closed (logged once,
/// throttled), and counts against its peer like a connection that came to nothing: a peer that
/// sends nothing but garbage costs a bounded share of an event loop, not all the frames it can write.
final class ControlConnectionHandler: ChannelInboundHandler, OwedFlush, Sendable {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let dispatcher: Dispatcher
    private let logger: Logger
    private let outbox = Mutex(Outbox())
    /// Between a read burst's first `channelRead` and its `channelReadComplete`; written only on the
    /// event loop. A reply queued on the event loop then needs no flush task: the burst's end flushes it.
    private let inReadBurst = Atomic(false)
    /// Requests this connection sent that could not be decoded; touched only on the event loop.
    private let rejected = Atomic(0)
    /// Who the peer is, read when its first request was rejected (the socket is gone by the close).
    private let peer = Mutex<Logger.Metadata?>(nil)
    /// The peer's credentials as read at accept (nil if the kernel would not say).
    private let credentials: PeerCredentials?
    /// Where a connection that closes before its first whole frame is counted against its peer.
    private let vanishing: VanishGuard<PeerCredentials>?
    /// A whole frame (or one too long) has arrived: the peer did not just vanish. Touched only on the event loop.
    private let sawFrame = Atomic(false)
    /// Frames rejected since the last one decoded; touched only on the event loop.
    private let streak = Atomic(0)
    /// Rejected frames in a row before the connection is closed (0: never).
    private let rejectedInARow: Int
    /// The connection was closed for `rejectedInARow` rejected frames; later frames are dropped.
    private let gaveUp = Atomic(false)
    /// The connection's socket, which NIO owns; replies are written to it directly (nil: always
    /// through NIO, as on a test's embedded channel).
    private let descriptor: CInt?
    /// Writes handed to NIO and not yet done; touched only on the event loop. While any is pending
    /// a direct write would overtake it, so later replies go through NIO too.
    private let inNIO = Atomic(0)
    /// The read burst of this connection's event loop, whose end writes a reply queued during it
    /// (nil: a flush task always, as on a test's embedded channel).
    private let loopBurst: LoopReadBurst?

    private struct Outbox {
        /// Encoded replies not yet handed to the channel.
        var pending: ByteBuffer?
        /// A flush task is queued on the event loop.
        var scheduled = false
        /// The last buffer sent whole, emptied: the next reply is written into it rather than into
        /// a new allocation (about 900 instructions a flush with its release).
        var spare: ByteBuffer?

        /// An empty buffer for replies: the spare one, or a new one.
        mutating func pendingBuffer(_ allocator: ByteBufferAllocator) -> ByteBuffer {
            spare.take() ?? allocator.buffer(capacity: 2048)
        }
    }

    private static let sendFlags = Int32(MSG_NOSIGNAL | MSG_DONTWAIT)

    /// The largest emptied buffer kept for the next replies: a burst of pipelined replies may have
    /// grown it, and an idle connection should not hold that much.
    private static let spareCapacity = 16 * 1024

    /// A connection's first rejected request, and its close after more (`ControlServer.throttles`).
    private let firstRejections: LogThrottle
    private let rejectingCloses: LogThrottle
    /// Connections closed for `rejectedInARow` rejected frames.
    private let givingUp: LogThrottle?

    init(
        dispatcher: Dispatcher, descriptor: CInt? = nil, loopBurst: LoopReadBurst? = nil, credentials: PeerCredentials? = nil,
        vanishing: VanishGuard<PeerCredentials>? = nil, firstRejections: LogThrottle, rejectingCloses: LogThrottle,
        rejectedInARow: Int = 0, givingUp: LogThrottle? = nil, logger: Logger
    ) {
        self.descriptor = descriptor
        self.loopBurst = loopBurst
        self.rejectedInARow = rejectedInARow
        self.givingUp = givingUp
        self.dispatcher = dispatcher
        self.credentials = credentials
        self.vanishing = vanishing
        self.firstRejections = firstRejections
        self.rejectingCloses = rejectingCloses
        self.logger = logger
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        received(Self.unwrapInboundIn(data), on: context.channel)
    }

    /// Handles one frame of `channel`, on its event loop: what `channelRead` does, called directly by
    /// the framing handler in front of this one (`LineFrameHandler`'s `deliver`).
    func received(_ frame: ByteBuffer, on channel: any Channel) {
        inReadBurst.store(true, ordering: .relaxed)
        sawFrame.store(true, ordering: .relaxed)
        guard !gaveUp.load(ordering: .relaxed) else { return }
        let request: Request
        do {
            request = try RequestCodec.decode(frame)
        } catch {
            noteRejected(error.error, channel: channel)
            send(.failure(id: error.id, error.error), on: channel)
            if rejectedInARow > 0, streak.add(1, ordering: .relaxed).newValue >= rejectedInARow { giveUp(channel) }
            return
        }
        streak.store(0, ordering: .relaxed)
        guard request.operation.needsCaller else {
            dispatcher.handle(request) { [self] reply in send(reply, on: channel) }
            return
        }
        if let credentials {
            dispatcher.handle(request, peer: credentials) { [self] reply in send(reply, on: channel) }
            return
        }
        // On the channel's own event loop the option is read at once: the future is already complete.
        PeerCredentials.of(channel).whenSuccess { [self] peer in
            dispatcher.handle(request, peer: peer) { [self] reply in send(reply, on: channel) }
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        inReadBurst.store(false, ordering: .relaxed)
        // Taken out, not copied: a buffer sent whole is then ours alone, and kept (`Outbox.spare`).
        var pending = outbox.withLock { $0.pending.take() }
        if let buffer = pending.take() { write(buffer, on: context.channel) }
        // Not forwarded: the handler after this one (SlowReaderHandler) has no use for it.
    }

    func channelInactive(context: ChannelHandlerContext) {
        let count = rejected.load(ordering: .relaxed)
        if count > 1 && !gaveUp.load(ordering: .relaxed) {
            var metadata = peer.withLock { $0 } ?? [:]
            metadata["rejected"] = "\(count)"
            rejectingCloses.log(metadata, peer: metadata.peerName)
        }
        if let credentials, let vanishing, !sawFrame.load(ordering: .relaxed) { vanishing.vanished(credentials) }
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if let tooLarge = error as? FrameTooLargeError {
            sawFrame.store(true, ordering: .relaxed)
            let logger = logger
            PeerIdentity.metadata(of: context.channel).whenSuccess { peer in
                var metadata = peer
                metadata["limit"] = "\(tooLarge.limit)"
                logger.notice("closing a connection that sent an oversized frame", metadata: metadata)
            }
            let reply = Reply.failure(
                id: nil,
                WireError(.frameTooLarge, "a frame is longer than \(tooLarge.limit) bytes; closing the connection")
            )
            sendLast(reply, on: context.channel)
        } else {
            logger.debug("closing a connection after an error", metadata: ["error": "\(error)"])
            context.close(promise: nil)
        }
    }

    /// Answers `too_many_rejected` after the replies already queued, closes the connection once they
    /// are written, logs it (throttled) and counts it against the peer as a connection that came to nothing.
    private func giveUp(_ channel: any Channel) {
        gaveUp.store(true, ordering: .relaxed)
        channel.setOption(.autoRead, value: false).whenComplete { _ in }
        let limit = rejectedInARow
        let reply = Reply.failure(
            id: nil,
            WireError(.tooManyRejected, "\(limit) frames in a row were rejected; closing the connection")
        )
        sendLast(reply, on: channel)
        if let credentials, let vanishing { vanishing.vanished(credentials) }
        guard let givingUp else { return }
        let count = rejected.load(ordering: .relaxed)
        PeerIdentity.metadata(of: channel).whenSuccess { who in
            var metadata = who
            metadata["rejected"] = "\(count)"
            metadata["rejected_in_a_row"] = "\(limit)"
            givingUp.log(metadata, peer: who.peerName)
        }
    }

    /// Writes the replies already queued, then `reply`, and closes the connection once they are written.
    private func sendLast(_ reply: Reply, on channel: any Channel) {
        var buffer = outbox.withLock { outbox -> ByteBuffer in
            outbox.pending.take() ?? outbox.pendingBuffer(channel.allocator)
        }
        ReplyCodec.encode(reply, appendingLineTo: &buffer)
        channel.writeAndFlush(buffer).whenComplete { _ in channel.close(promise: nil) }
    }

    /// Logs the first rejected request of this connection with who sent it; later ones at debug level.
    private func noteRejected(_ error: WireError, channel: any Channel) {
        func details() -> Logger.Metadata { ["code": "\(error.code.rawValue)", "reason": "\(error.message)"] }
        guard rejected.add(1, ordering: .relaxed).newValue == 1 else {
            // Built only at debug level (an autoclosure): a fuzzer's every frame would pay for it.
            logger.debug("rejected a request", metadata: details())
            return
        }
        let metadata = details()
        let firstRejections = firstRejections
        PeerIdentity.metadata(of: channel).whenSuccess { [self] who in
            peer.withLock { $0 = who }
            firstRejections.log(metadata.merging(who) { _, new in new }, peer: who.peerName)
        }
    }

    /// Queues a reply from any thread; the first one queued since the last flush task schedules one
    /// (from the event loop itself that is a queued task, not a wake-up), unless it was queued on the
    /// event loop during a read burst, whose `channelReadComplete` flushes it.
    private func send(_ reply: Reply, on channel: any Channel) {
        let flushedByBurst = inReadBurst.load(ordering: .relaxed) && channel.eventLoop.inEventLoop
        let flushNow = outbox.withLock { outbox -> Bool in
            // Written in place: encoding under the lock costs less than a buffer of its own and a copy.
            if outbox.pending == nil { outbox.pending = outbox.pendingBuffer(channel.allocator) }
            ReplyCodec.encode(reply, appendingLineTo: &outbox.pending!)
            guard !outbox.scheduled, !flushedByBurst else { return false }
            outbox.scheduled = true
            return true
        }
        guard flushNow else { return }
        if let loopBurst, channel.eventLoop.inEventLoop, loopBurst.owe(self, channel) { return }
        channel.eventLoop.execute { [self] in flushOwed(on: channel) }
    }

    /// The flush a reply queued from outside this connection's read burst scheduled: writes every
    /// reply queued by now. Runs on the event loop, in a task of its own or at the end of another
    /// channel's read burst (`LoopReadBurst`).
    package func flushOwed(on channel: any Channel) {
        var pending = outbox.withLock { outbox -> ByteBuffer? in
            outbox.scheduled = false
            return outbox.pending.take()
        }
        if let buffer = pending.take() { write(buffer, on: channel) }
    }

    /// Writes `buffer` on the channel's event loop: straight to the socket while NIO holds none of
    /// this connection's bytes and the channel is open, and through NIO whatever the socket did not
    /// take (its buffer full, or an error NIO then meets and closes the connection for), so NIO's
    /// write-buffer marks and `SlowReaderHandler` still see a client that does not read.
    ///
    /// `isActive` on the event loop means the descriptor is still the channel's: NIO marks the
    /// channel inactive in the same step that closes the socket, before any callout.
    private func write(_ buffer: consuming ByteBuffer, on channel: any Channel) {
        // Consumed, so that a buffer sent whole is this function's alone and `clear` keeps its storage.
        var buffer = buffer
        if let descriptor, inNIO.load(ordering: .relaxed) == 0, channel.isActive {
            let sent = buffer.withUnsafeReadableBytes { bytes in
                Syscall.retryingEINTR { Glibc.send(descriptor, bytes.baseAddress, bytes.count, Self.sendFlags) }
            }
            if sent == buffer.readableBytes {
                guard buffer.capacity <= Self.spareCapacity else { return }
                buffer.clear()
                outbox.withLock { outbox in
                    if outbox.spare == nil { outbox.spare = buffer }
                }
                return
            }
            if sent > 0 { buffer.moveReaderIndex(forwardBy: sent) }
        }
        inNIO.add(1, ordering: .relaxed)
        let written = channel.eventLoop.makePromise(of: Void.self)
        written.futureResult.whenComplete { [self] _ in inNIO.subtract(1, ordering: .relaxed) }
        channel.writeAndFlush(buffer, promise: written)
    }
}

