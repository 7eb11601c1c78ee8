import NIOCore

/// Splits a byte stream into newline-terminated frames of at most `maxFrameBytes` (the newline and an
/// optional carriage return before it are dropped). A longer frame is an error, so a peer cannot make the
/// other side buffer without bound.
public struct LineFrameDecoder: ByteToMessageDecoder {
    public typealias InboundOut = ByteBuffer

    /// The longest frame accepted.
    public let maxFrameBytes: Int
    private var scanned = 0

    /// Creates a decoder that accepts frames up to `maxFrameBytes`.
    public init(maxFrameBytes: Int = ProtocolLimits.maxFrameBytes) {
        self.maxFrameBytes = maxFrameBytes
    }

    public mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        guard let frame = try nextFrame(&buffer) else { return .needMoreData }
        context.fireChannelRead(Self.wrapInboundOut(frame))
        return .continue
    }

    public mutating func decodeLast(
        context: ChannelHandlerContext, buffer: inout ByteBuffer, seenEOF: Bool
    ) throws -> DecodingState {
        try decode(context: context, buffer: &buffer)
    }

    /// Takes the next complete frame out of `buffer`, or returns nil when none is complete yet.
    public mutating func nextFrame(_ buffer: inout ByteBuffer) throws -> ByteBuffer? {
        let view = buffer.readableBytesView
        let start = view.startIndex.advanced(by: scanned)
        if let newline = view[start...].firstIndex(of: UInt8(ascii: "\n")) {
            var length = newline - view.startIndex
            scanned = 0
            guard length <= maxFrameBytes + 1 else { throw FrameTooLargeError(limit: maxFrameBytes) }
            if length > 0, view[view.startIndex + length - 1] == UInt8(ascii: "\r") { length -= 1 }
            guard length <= maxFrameBytes else { throw FrameTooLargeError(limit: maxFrameBytes) }
            let frame = buffer.readSlice(length: length)!
            buffer.moveReaderIndex(forwardBy: newline - view.startIndex - length + 1)
            return frame
        }
        scanned = view.count
        if view.count > maxFrameBytes + 1 { throw FrameTooLargeError(limit: maxFrameBytes) }
        return nil
    }
}

/// A peer sent a frame longer than the limit.
public struct FrameTooLargeError: Error, Sendable, Equatable {
    /// The limit that was exceeded.
    public var limit: Int

    /// Creates the error for a limit.
    public init(limit: Int) {
        self.limit = limit
    }
}
