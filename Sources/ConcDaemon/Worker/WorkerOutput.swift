import Logging
import NIOCore
import Synchronization

/// What a user's worker program prints: each line goes to concd's log (the journal under systemd)
/// tagged with the pool, the worker, its pid and the stream, and the last few are kept so that a
/// worker that fails to start or dies can be reported with what it said last.
package final class WorkerOutput: Sendable {
    /// Lines kept for a report.
    static let keptLines = 8
    /// A longer line is logged in pieces of this many bytes.
    static let maxLineBytes = 4096

    private let lines = Mutex<[String]>([])

    package init() {}

    func append(_ line: String) {
        lines.withLock { lines in
            if lines.count == Self.keptLines { lines.removeFirst() }
            lines.append(line)
        }
    }

    /// The last lines it printed, for a sentence (nil when it printed nothing).
    package var tail: String? {
        let kept = lines.withLock { $0 }
        guard !kept.isEmpty else { return nil }
        return kept.joined(separator: " | ")
    }
}

/// Cuts a worker's output into lines, a line longer than `WorkerOutput.maxLineBytes` into pieces:
/// unlike a protocol frame, printed text is never an error, and the pipe must keep draining or
/// the worker would block on its next print.
struct OutputLineDecoder: ByteToMessageDecoder {
    typealias InboundOut = ByteBuffer

    mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        let view = buffer.readableBytesView
        if let newline = view.firstIndex(of: UInt8(ascii: "\n")), newline - view.startIndex <= WorkerOutput.maxLineBytes {
            let line = buffer.readSlice(length: newline - view.startIndex)!
            buffer.moveReaderIndex(forwardBy: 1)
            context.fireChannelRead(Self.wrapInboundOut(line))
            return .continue
        }
        guard view.count >= WorkerOutput.maxLineBytes else { return .needMoreData }
        context.fireChannelRead(Self.wrapInboundOut(buffer.readSlice(length: WorkerOutput.maxLineBytes)!))
        return .continue
    }

    mutating func decodeLast(context: ChannelHandlerContext, buffer: inout ByteBuffer, seenEOF: Bool) throws -> DecodingState {
        if try decode(context: context, buffer: &buffer) == .continue { return .continue }
        if buffer.readableBytes > 0 { context.fireChannelRead(Self.wrapInboundOut(buffer.readSlice(length: buffer.readableBytes)!)) }
        return .needMoreData
    }
}

/// Logs each line of one output stream of one worker.
final class WorkerOutputHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer

    private let logger: Logger
    private let output: WorkerOutput
    private let metadata: Logger.Metadata
    private let isError: Bool

    init(logger: Logger, output: WorkerOutput, pool: String, worker: String, pid: Int32, stream: String) {
        self.logger = logger
        self.output = output
        self.isError = stream == "stderr"
        metadata = ["event": "worker_output", "pool": "\(pool)", "worker": "\(worker)", "pid": "\(pid)", "stream": "\(stream)"]
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var line = String(decoding: unwrapInboundIn(data).readableBytesView, as: UTF8.self)
        if line.hasSuffix("\r") { line.removeLast() }
        output.append(line)
        if isError {
            logger.warning("\(line)", metadata: metadata)
        } else {
            logger.info("\(line)", metadata: metadata)
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}
