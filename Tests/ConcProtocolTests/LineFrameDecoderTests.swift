import ConcProtocol
import NIOCore
import Testing

@Suite struct LineFrameDecoderTests {
    private func frames(_ chunks: [String], limit: Int = 16) throws -> [String] {
        var decoder = LineFrameDecoder(maxFrameBytes: limit)
        var buffer = ByteBuffer()
        var out: [String] = []
        for chunk in chunks {
            buffer.writeString(chunk)
            while let frame = try decoder.nextFrame(&buffer) {
                out.append(String(buffer: frame))
            }
        }
        return out
    }

    @Test func splitsOnNewlinesAcrossChunks() throws {
        #expect(try frames(["a\nb", "c\n", "\n", "d\r\ne"]) == ["a", "bc", "", "d"])
    }

    @Test func aFrameAtTheLimitPasses() throws {
        #expect(try frames([String(repeating: "x", count: 16) + "\r\n"]) == [String(repeating: "x", count: 16)])
    }

    @Test func aFrameOverTheLimitIsAnError() {
        #expect(throws: FrameTooLargeError(limit: 16)) { try frames([String(repeating: "x", count: 17) + "\n"]) }
    }

    @Test func anEndlessFrameIsAnErrorBeforeItsNewline() {
        #expect(throws: FrameTooLargeError(limit: 16)) { try frames([String(repeating: "x", count: 10), String(repeating: "x", count: 10)]) }
    }
}
