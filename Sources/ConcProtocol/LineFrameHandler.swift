import NIOCore

/// Splits a connection's bytes into newline-terminated frames with a ``LineFrameDecoder`` and passes
/// each on as it is found: what `ByteToMessageHandler(LineFrameDecoder())` does, without its
/// generic machinery. callgrind put that at about 3 000 instructions a frame on the control socket
/// (unspecialized generic code across the module boundary, runtime metadata lookups, its buffer
/// bookkeeping), a tenth of a no-op's whole cost in the daemon; this costs a few hundred.
///
/// A read that holds whole frames is passed on as slices of NIO's own buffer, without a copy; only
/// the unfinished end of a read is kept, and the next read is appended to it. A frame longer than
/// the decoder's limit is passed on as a ``FrameTooLargeError`` through `errorCaught`, once, and the
/// connection's later bytes are dropped (the handler after this one answers and closes). An
/// unfinished last line is never passed on. Used on the event loop only.
public final class LineFrameHandler: ChannelInboundHandler {
    public typealias InboundIn = ByteBuffer
    public typealias InboundOut = ByteBuffer

    private var decoder: LineFrameDecoder
    /// Where frames go instead of the next handler's `channelRead`, when given.
    private let deliver: ((ByteBuffer, any Channel) -> Void)?
    /// The unfinished end of the reads so far.
    private var pending: ByteBuffer?
    /// A frame was too long: nothing more is read from this connection.
    private var failed = false

    /// A handler that passes on frames of at most `maxFrameBytes` to the next handler or, when
    /// `deliver` is given, to it directly: a direct call saves the pipeline's hop and the boxing of
    /// each frame in an `NIOAny` (about 800 instructions a frame). Errors still travel the pipeline.
    public init(maxFrameBytes: Int = ProtocolLimits.maxFrameBytes, deliver: ((ByteBuffer, any Channel) -> Void)? = nil) {
        decoder = LineFrameDecoder(maxFrameBytes: maxFrameBytes)
        self.deliver = deliver
    }

    public func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !failed else { return }
        var buffer = Self.unwrapInboundIn(data)
        if var earlier = pending {
            pending = nil
            earlier.writeBuffer(&buffer)
            buffer = earlier
        }
        // The decoder is worked on as a local: called on the stored property, each frame paid two
        // run-time exclusivity checks of this class's storage (about 250 instructions).
        var decoder = self.decoder
        defer { self.decoder = decoder }
        do {
            while let frame = try decoder.nextFrame(&buffer) {
                if let deliver { deliver(frame, context.channel) } else { context.fireChannelRead(Self.wrapInboundOut(frame)) }
                guard !failed else { return }
            }
        } catch {
            failed = true
            context.fireErrorCaught(error)
            return
        }
        if buffer.readableBytes > 0 {
            // Keep only the unfinished end, not the frames already passed on before it.
            buffer.discardReadBytes()
            pending = buffer
        }
    }

    public func channelInactive(context: ChannelHandlerContext) {
        pending = nil
        context.fireChannelInactive()
    }
}

@available(*, unavailable)
extension LineFrameHandler: Sendable {}
