import ConcProtocol
import Logging
import NIOCore

/// Serves one client connection: each frame is decoded and handed to the Dispatcher, and each reply
/// is written when it is ready, so many requests can be in flight on one connection and answers
/// may come back in any order (matched by id). A bad frame costs only its own error reply.
/// The peer's credentials are read once, when the connection opens, for admin requests.
final class ControlConnectionHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let dispatcher: Dispatcher
    private let logger: Logger
    private var peer: PeerCredentials?

    init(dispatcher: Dispatcher, logger: Logger) {
        self.dispatcher = dispatcher
        self.logger = logger
    }

    func channelActive(context: ChannelHandlerContext) {
        // On the channel's own event loop the option is read at once, so the future is already
        // complete and `peer` is set before the first frame is read.
        let loopBound = NIOLoopBound(self, eventLoop: context.eventLoop)
        PeerCredentials.of(context.channel).whenSuccess { peer in
            loopBound.value.peer = peer
        }
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = Self.unwrapInboundIn(data)
        let channel = context.channel
        let request: Request
        do {
            request = try RequestCodec.decode(frame.readableBytesView)
        } catch {
            logger.notice(
                "rejected a request",
                metadata: ["code": "\(error.error.code.rawValue)", "reason": "\(error.error.message)"]
            )
            Self.write(.failure(id: error.id, error.error), to: channel)
            return
        }
        dispatcher.handle(request, peer: peer) { reply in
            Self.write(reply, to: channel)
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if let tooLarge = error as? FrameTooLargeError {
            logger.notice("closing a connection that sent an oversized frame", metadata: ["limit": "\(tooLarge.limit)"])
            let reply = Reply.failure(
                id: nil,
                WireError(.frameTooLarge, "a frame is longer than \(tooLarge.limit) bytes; closing the connection")
            )
            let channel = context.channel
            channel.writeAndFlush(Self.encode(reply, allocator: channel.allocator)).whenComplete { _ in
                channel.close(promise: nil)
            }
        } else {
            logger.debug("closing a connection after an error", metadata: ["error": "\(error)"])
            context.close(promise: nil)
        }
    }

    private static func write(_ reply: Reply, to channel: any Channel) {
        channel.writeAndFlush(encode(reply, allocator: channel.allocator), promise: nil)
    }

    private static func encode(_ reply: Reply, allocator: ByteBufferAllocator) -> ByteBuffer {
        let bytes = ReplyCodec.encode(reply)
        var buffer = allocator.buffer(capacity: bytes.count + 1)
        buffer.writeBytes(bytes)
        buffer.writeInteger(UInt8(ascii: "\n"))
        return buffer
    }
}
