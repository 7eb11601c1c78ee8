import ConcProtocol
import NIOCore
import NIOEmbedded
import Testing

/// The control socket's framing handler, driven through an `EmbeddedChannel`: what reaches the next
/// handler for bytes that arrive in any split.
@Suite struct LineFrameHandlerTests {
    /// Records the frames and errors the framing handler passes on.
    private final class Recorder: ChannelInboundHandler {
        typealias InboundIn = ByteBuffer
        var frames: [String] = []
        var errors: [any Error] = []
        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            frames.append(String(buffer: Self.unwrapInboundIn(data)))
        }
        func errorCaught(context: ChannelHandlerContext, error: any Error) { errors.append(error) }
    }

    private func run(_ chunks: [String], limit: Int = 16) throws -> Recorder {
        let recorder = Recorder()
        let channel = EmbeddedChannel()
        try channel.pipeline.syncOperations.addHandlers(LineFrameHandler(maxFrameBytes: limit), recorder)
        for chunk in chunks { try channel.writeInbound(ByteBuffer(string: chunk)) }
        _ = try channel.finish(acceptAlreadyClosed: true)
        return recorder
    }

    @Test func framesAreFoundInAnySplitOfTheBytes() throws {
        let text = "ab\ncd\r\n\nefg\nh"
        let whole = try run([text]).frames
        #expect(whole == ["ab", "cd", "", "efg"], "an unfinished last line is never passed on")
        // Every split into two reads, and one byte a read, give the same frames.
        for cut in text.indices {
            #expect(try run([String(text[..<cut]), String(text[cut...])]).frames == whole, "cut at \(cut.utf16Offset(in: text))")
        }
        #expect(try run(text.map { String($0) }).frames == whole)
    }

    @Test func aFrameOverTheLimitIsOneErrorAndNothingAfterIt() throws {
        let recorder = try run(["ok\n" + String(repeating: "x", count: 17) + "\nlater\n", "more\n"])
        #expect(recorder.frames == ["ok"])
        #expect(recorder.errors.count == 1 && recorder.errors.first as? FrameTooLargeError == FrameTooLargeError(limit: 16))
    }

    @Test func anEndlessFrameIsRefusedBeforeItsNewline() throws {
        let recorder = try run([String(repeating: "x", count: 10), String(repeating: "x", count: 10)])
        #expect(recorder.frames.isEmpty && recorder.errors.count == 1)
    }

    @Test func aFrameAtTheLimitPassesAcrossReads() throws {
        let frame = String(repeating: "y", count: 16)
        #expect(try run([String(frame.prefix(7)), String(frame.dropFirst(7)) + "\r", "\n"]).frames == [frame])
    }
}

extension LineFrameHandlerTests {
    @Test func framesCanGoStraightToAClosure() throws {
        final class Frames: @unchecked Sendable { var seen: [String] = [] }
        let frames = Frames()
        let channel = EmbeddedChannel()
        try channel.pipeline.syncOperations.addHandler(LineFrameHandler(maxFrameBytes: 16) { frame, _ in frames.seen.append(String(buffer: frame)) })
        try channel.writeInbound(ByteBuffer(string: "a\nb"))
        try channel.writeInbound(ByteBuffer(string: "c\n"))
        #expect(frames.seen == ["a", "bc"])
        #expect(try channel.readInbound(as: ByteBuffer.self) == nil, "nothing also travels the pipeline")
        _ = try channel.finish(acceptAlreadyClosed: true)
    }
}
