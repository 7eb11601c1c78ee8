import Logging
import NIOCore

/// Disconnects a peer that leaves the daemon's replies unread: once the channel turns unwritable
/// (the replies it owes passed the high-water mark, and NIO's `BackPressureHandler` in front has
/// stopped reading the peer's requests), a timer starts; catching up under the low mark stops it,
/// and if it fires the connection is closed with one log line naming the peer. Until then the
/// peer costs at most the high-water mark plus what one read of its requests produces.
final class StalledPeerHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = NIOAny

    private let timeout: TimeAmount
    private let logger: Logger
    private var timer: Scheduled<Void>?

    init(timeout: TimeAmount, logger: Logger) {
        self.timeout = timeout
        self.logger = logger
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable {
            timer?.cancel()
            timer = nil
        } else if timer == nil {
            let loop = context.eventLoop.assumeIsolated()
            timer = loop.scheduleTask(in: timeout) { [self] in giveUp(context: context) }
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
