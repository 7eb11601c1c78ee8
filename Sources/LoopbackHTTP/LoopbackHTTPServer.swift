import NIOCore
import NIOHTTP1
import NIOPosix

/// A small HTTP/1.1 server on the loopback interface, for demos, tests and benchmarks, so that no
/// workload ever needs an outside address. Routes:
/// - `/` — 200 with a short body
/// - `/bytes/N` — 200 with N bytes
/// - `/delay/MS` — 200 after MS milliseconds (shows concurrency: many waits overlap)
/// - `/status/CODE` — that status, empty body
public final class LoopbackHTTPServer: Sendable {
    private let channel: any Channel

    /// The port the server listens on.
    public let port: Int
    /// The address the server listens on.
    public let host: String

    /// The base URL, `http://127.0.0.1:PORT`.
    public var baseURL: String { "http://\(host):\(port)" }

    private init(channel: any Channel, host: String, port: Int) {
        self.channel = channel
        self.host = host
        self.port = port
    }

    /// Starts a server on `host` (loopback only) and `port` (0 picks a free one).
    public static func start(
        host: String = "127.0.0.1", port: Int = 0, group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton
    ) async throws -> LoopbackHTTPServer {
        precondition(host == "127.0.0.1" || host == "::1" || host == "localhost", "LoopbackHTTPServer binds loopback only")
        let channel = try await ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 4096)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                    try channel.pipeline.syncOperations.addHandler(RouteHandler())
                }
            }
            .bind(host: host, port: port)
            .get()
        return LoopbackHTTPServer(channel: channel, host: host, port: channel.localAddress?.port ?? port)
    }

    /// Stops accepting connections.
    public func stop() async {
        try? await channel.close()
    }
}

final class RouteHandler: ChannelInboundHandler, Sendable {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard case .head(let head) = Self.unwrapInboundIn(data) else { return }
        let parts = head.uri.split(separator: "?", maxSplits: 1)[0].split(separator: "/")
        var status = HTTPResponseStatus.ok
        var body = "hello from the concd loopback server\n"
        var delay = TimeAmount.zero
        switch (parts.first, parts.dropFirst().first.flatMap { Int($0) }) {
        case (nil, _):
            break
        case ("bytes", let count?) where (0...(64 << 20)).contains(count):
            body = String(repeating: "x", count: count)
        case ("delay", let milliseconds?) where (0...600_000).contains(milliseconds):
            delay = .milliseconds(Int64(milliseconds))
        case ("status", let code?) where (100...599).contains(code):
            status = HTTPResponseStatus(statusCode: code)
            body = ""
        default:
            status = .notFound
            body = "not found\n"
        }
        let keepAlive = head.isKeepAlive
        let loopBound = NIOLoopBound(context, eventLoop: context.eventLoop)
        let respond = {
            let context = loopBound.value
            var headers = HTTPHeaders()
            headers.add(name: "Content-Length", value: String(body.utf8.count))
            headers.add(name: "Connection", value: keepAlive ? "keep-alive" : "close")
            let responseHead = HTTPResponseHead(version: head.version, status: status, headers: headers)
            context.write(Self.wrapOutboundOut(.head(responseHead)), promise: nil)
            context.write(Self.wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(string: body)))), promise: nil)
            let done = context.writeAndFlush(Self.wrapOutboundOut(.end(nil)))
            if !keepAlive {
                done.whenComplete { _ in loopBound.value.close(promise: nil) }
            }
        }
        if delay == .zero {
            respond()
        } else {
            context.eventLoop.assumeIsolated().scheduleTask(in: delay, respond)
        }
    }
}
