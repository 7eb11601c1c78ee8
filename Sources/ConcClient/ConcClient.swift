import ConcProtocol
import Glibc
import NIOCore
import NIOPosix
import Synchronization

/// A typed async client of the control socket. One connection carries many requests in flight;
/// replies are matched to callers by request id.
public final class ConcClient: Sendable {
    /// The socket this client is connected to.
    public let socketPath: String
    private let channel: any Channel
    private let pending: PendingReplies
    private let nextID = Atomic<UInt64>(1)
    private let outbox = Outbox()

    private init(socketPath: String, channel: any Channel, pending: PendingReplies) {
        self.socketPath = socketPath
        self.channel = channel
        self.pending = pending
    }

    /// Connects to the daemon at `socketPath`.
    public static func connect(
        socketPath: String, group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton
    ) async throws(ConcClientError) -> ConcClient {
        let pending = PendingReplies(socketPath: socketPath)
        do {
            let channel = try await ClientBootstrap(group: group)
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandlers(
                            // Requests are bounded by the protocol's frame limit; a status reply of a
                            // large pool may be longer, so replies get more room.
                            ByteToMessageHandler(LineFrameDecoder(maxFrameBytes: Self.maxReplyBytes)),
                            ReplyHandler(pending: pending)
                        )
                    }
                }
                .connect(unixDomainSocketPath: socketPath)
                .get()
            return ConcClient(socketPath: socketPath, channel: channel, pending: pending)
        } catch {
            throw .unreachable(socketPath: socketPath, reason: Self.reason(error))
        }
    }

    /// Round-trips a no-op through the daemon; returns the protocol version it speaks.
    public func ping() async throws(ConcClientError) -> Int {
        let reply = try await send(.ping)
        guard reply.ok, let version = reply.version else { throw .rejected(reply.error ?? Self.malformed) }
        return version
    }

    /// The daemon's pools and counters.
    public func status() async throws(ConcClientError) -> DaemonStatus {
        let reply = try await send(.status)
        guard reply.ok, let status = reply.status else { throw .rejected(reply.error ?? Self.malformed) }
        return status
    }

    /// Runs a task and returns its reply, which says `ok: false` with a typed error when the task failed.
    public func submit(_ submission: Submission) async throws(ConcClientError) -> Reply {
        try await send(.submit(submission))
    }

    /// Sends any operation and returns the daemon's reply.
    public func send(_ operation: Request.Operation) async throws(ConcClientError) -> Reply {
        let id = nextID.wrappingAdd(1, ordering: .relaxed).oldValue
        let frame = RequestCodec.encode(Request(id: id, operation: operation))
        let result: Result<Reply, ConcClientError> = await withCheckedContinuation { continuation in
            guard pending.register(id: id, continuation) else { return }
            enqueue(frame, id: id)
        }
        return try result.get()
    }

    /// Adds a frame to the outbox; the first one in schedules a flush on the event loop, which
    /// writes every frame queued by then in one go (one task and one system call for many
    /// requests sent at once, instead of one each).
    private func enqueue(_ frame: [UInt8], id: UInt64) {
        let channel = self.channel
        let flush = outbox.withLock { outbox -> Bool in
            if outbox.buffer == nil { outbox.buffer = channel.allocator.buffer(capacity: max(frame.count + 1, 256)) }
            outbox.buffer!.writeBytes(frame)
            outbox.buffer!.writeInteger(UInt8(ascii: "\n"))
            outbox.ids.append(id)
            defer { outbox.scheduled = true }
            return !outbox.scheduled
        }
        guard flush else { return }
        channel.eventLoop.execute { [outbox, pending, socketPath] in
            let (buffer, ids) = outbox.withLock { outbox -> (ByteBuffer?, [UInt64]) in
                defer {
                    outbox.buffer = nil
                    outbox.ids = []
                    outbox.scheduled = false
                }
                return (outbox.buffer, outbox.ids)
            }
            guard let buffer else { return }
            channel.writeAndFlush(buffer).whenFailure { _ in
                for id in ids { pending.fail(id: id, .connectionClosed(socketPath: socketPath)) }
            }
        }
    }

    /// Closes the connection; requests still waiting fail with ``ConcClientError/connectionClosed(socketPath:)``.
    public func close() async {
        try? await channel.close()
    }

    /// The longest reply frame accepted.
    static let maxReplyBytes = 16 << 20

    private static let malformed = WireError(.internal, "the daemon sent a reply without the expected fields")

    private static func reason(_ error: any Error) -> String {
        if let ioError = error as? IOError {
            return String(cString: strerror(ioError.errnoCode))
        }
        return "\(error)"
    }
}

/// Why a client call failed (a task that ran and failed is not an error here: its reply says `ok: false`).
public enum ConcClientError: Error, Sendable, Equatable, CustomStringConvertible {
    /// Nothing answered on the socket.
    case unreachable(socketPath: String, reason: String)
    /// The connection closed before the reply arrived.
    case connectionClosed(socketPath: String)
    /// The daemon refused the request.
    case rejected(WireError)
    /// The task ran and failed (`call` and `exec` throw it; `submit` returns such a reply instead):
    /// the function raised (`task_failed`, with its type and traceback), its worker died, its
    /// deadline passed, or the pool was busy or stopping.
    case taskFailed(WireError)
    /// The daemon sent something that is not a reply.
    case protocolViolation(String)

    public var description: String {
        switch self {
        case .unreachable(let socketPath, let reason):
            return "cannot reach concd at \(socketPath) (\(reason)) — is it running? "
                + "Start it with: sudo systemctl start concd (or: concd --socket \(socketPath))"
        case .connectionClosed(let socketPath):
            return "concd at \(socketPath) closed the connection before it answered"
        case .rejected(let error):
            return "concd refused the request: \(error.message) [\(error.code.rawValue)]"
        case .taskFailed(let error):
            return "the task failed: \(error.message) [\(error.code.rawValue)]"
        case .protocolViolation(let detail):
            return "concd sent something that is not a reply: \(detail)"
        }
    }
}

/// Frames waiting for the event loop to write them, and the ids of their requests.
final class Outbox: Sendable {
    struct State {
        var buffer: ByteBuffer?
        var ids: [UInt64] = []
        var scheduled = false
    }

    private let state = Mutex(State())

    func withLock<T>(_ body: (inout State) -> T) -> T {
        state.withLock { body(&$0) }
    }
}

/// Callers waiting for replies, by request id.
final class PendingReplies: Sendable {
    typealias Waiter = CheckedContinuation<Result<Reply, ConcClientError>, Never>
    private struct State {
        var waiters: [UInt64: Waiter] = [:]
        var closed = false
    }

    private let state = Mutex(State())
    let socketPath: String

    init(socketPath: String) {
        self.socketPath = socketPath
    }

    /// Registers a waiter; when the connection is already closed, fails it at once and returns false.
    func register(id: UInt64, _ waiter: Waiter) -> Bool {
        let accepted = state.withLock { state -> Bool in
            guard !state.closed else { return false }
            state.waiters[id] = waiter
            return true
        }
        if !accepted { waiter.resume(returning: .failure(.connectionClosed(socketPath: socketPath))) }
        return accepted
    }

    func deliver(_ reply: Reply) {
        guard let id = reply.id, let waiter = state.withLock({ $0.waiters.removeValue(forKey: id) }) else {
            // A reply without a known id answers a frame the daemon could not read; every waiter fails.
            if let error = reply.error { failAll(.rejected(error)) }
            return
        }
        waiter.resume(returning: .success(reply))
    }

    func fail(id: UInt64, _ error: ConcClientError) {
        state.withLock { $0.waiters.removeValue(forKey: id) }?.resume(returning: .failure(error))
    }

    func failAll(_ error: ConcClientError) {
        let waiters = state.withLock { state -> [Waiter] in
            state.closed = true
            defer { state.waiters.removeAll() }
            return Array(state.waiters.values)
        }
        for waiter in waiters { waiter.resume(returning: .failure(error)) }
    }
}

/// Decodes reply frames and hands them to their waiters.
final class ReplyHandler: ChannelInboundHandler, Sendable {
    typealias InboundIn = ByteBuffer

    private let pending: PendingReplies

    init(pending: PendingReplies) {
        self.pending = pending
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = Self.unwrapInboundIn(data)
        do {
            pending.deliver(try ReplyCodec.decode(frame.readableBytesView))
        } catch {
            pending.failAll(.protocolViolation(String(decoding: frame.readableBytesView.prefix(200), as: UTF8.self)))
            context.close(promise: nil)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        pending.failAll(.connectionClosed(socketPath: pending.socketPath))
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        pending.failAll(.protocolViolation("\(error)"))
        context.close(promise: nil)
    }
}
