import NIOCore

#if canImport(Glibc)
import Glibc
#endif

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
        // memchr over the bytes in place: the generic search over a ByteBufferView cost about
        // 500 instructions a frame.
        let from = scanned
        let found = buffer.withUnsafeReadableBytes { bytes -> Int? in
            guard from < bytes.count, let base = bytes.baseAddress,
                let hit = memchr(base + from, Int32(UInt8(ascii: "\n")), bytes.count - from)
            else { return nil }
            return base.distance(to: UnsafeRawPointer(hit))
        }
        guard let newline = found else {
            scanned = buffer.readableBytes
            if buffer.readableBytes > maxFrameBytes + 1 { throw FrameTooLargeError(limit: maxFrameBytes) }
            return nil
        }
        scanned = 0
        var length = newline
        guard length <= maxFrameBytes + 1 else { throw FrameTooLargeError(limit: maxFrameBytes) }
        if length > 0, buffer.getInteger(at: buffer.readerIndex + length - 1, as: UInt8.self) == UInt8(ascii: "\r") { length -= 1 }
        guard length <= maxFrameBytes else { throw FrameTooLargeError(limit: maxFrameBytes) }
        let frame = buffer.readSlice(length: length)!
        buffer.moveReaderIndex(forwardBy: newline - length + 1)
        return frame
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
