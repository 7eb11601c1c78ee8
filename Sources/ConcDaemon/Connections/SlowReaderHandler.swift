import Logging
import NIOCore

/// Backpressure for a peer that does not read its replies. When the channel turns unwritable (the
/// replies the daemon owes it passed the write-buffer high-water mark, `connections.send_buffer_kib`)
/// reading that peer's requests is turned off (NIO's `autoRead`), so it cannot make the daemon
/// owe it more than the mark plus the replies to one read; when it has caught up under the low
/// mark reading is turned on again. A peer that stays unwritable for the stall timeout is closed,
/// with one log line naming it.
///
/// It goes last in the pipeline: only the events the handlers before it forward reach it
/// (writability changes and the close), so it adds nothing to a request's path.
final class SlowReaderHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = NIOAny

    private let timeout: TimeAmount
    private let logger: Logger
    private var timer: Scheduled<Void>?

    init(timeout: TimeAmount, logger: Logger) {
        self.timeout = timeout
        self.logger = logger
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        let writable = context.channel.isWritable
        try? context.channel.syncOptions?.setOption(.autoRead, value: writable)
        if writable {
            timer?.cancel()
            timer = nil
        } else if timer == nil {
            timer = context.eventLoop.assumeIsolated().scheduleTask(in: timeout) { [self] in giveUp(context: context) }
        }
        context.fireChannelWritabilityChanged()
    }

    func channelInactive(context: ChannelHandlerContext) {
        timer?.cancel()
        timer = nil
        context.fireChannelInactive()
    }

    private func giveUp(context: ChannelHandlerContext) {
        timer = nil
        let channel = context.channel
        let unsent = (try? channel.syncOptions?.getOption(.bufferedWritableBytes)) ?? 0
        let seconds = Double(timeout.nanoseconds) / 1e9
        let logger = logger
        PeerIdentity.metadata(of: channel).whenSuccess { peer in
            var metadata = peer
            metadata["unsent_bytes"] = "\(unsent)"
            metadata["stalled_s"] = "\(seconds)"
            logger.notice("disconnecting a client that has not read its replies", metadata: metadata)
        }
        context.close(promise: nil)
    }
}
