import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import ServiceLifecycle
import Synchronization

/// The optional Prometheus scrape endpoint: `GET /metrics` answers the text exposition with
/// `Content-Type: text/plain; version=0.0.4`; any other path is 404 and any other method 405.
/// Off unless `metrics.listen` is set. It binds before the daemon reports ready, so a taken port
/// stops the start with a clear error, and it closes on graceful shutdown.
package final class MetricsHTTPServer: Service {
    private let channel: any Channel
    private let logger: Logger
    /// The address it actually listens on (the port filled in when 0 was asked for).
    package let address: ListenAddress

    private init(channel: any Channel, address: ListenAddress, logger: Logger) {
        self.channel = channel
        self.address = address
        self.logger = logger
    }

    /// Binds `address` and starts serving `dispatcher`'s metrics.
    package static func bind(
        address: ListenAddress, dispatcher: Dispatcher, group: any EventLoopGroup, logger: Logger
    ) async throws -> MetricsHTTPServer {
        let channel = try await ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 128)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                    try channel.pipeline.syncOperations.addHandler(MetricsRequestHandler(dispatcher: dispatcher))
                }
            }
            .bind(host: address.host, port: address.port)
            .get()
        let bound = ListenAddress(host: address.host, port: channel.localAddress?.port ?? address.port)
        logger.info("serving Prometheus metrics", metadata: ["metrics_listen": "\(bound)", "path": "/metrics"])
        return MetricsHTTPServer(channel: channel, address: bound, logger: logger)
    }

    package func run() async throws {
        try? await gracefulShutdown()
        try? await channel.close()
    }
}

/// Answers one HTTP request at a time on a connection; the exposition is rendered when the request
/// has been read in full.
final class MetricsRequestHandler: ChannelInboundHandler, Sendable {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    /// The content type of the Prometheus text format.
    static let contentType = "text/plain; version=0.0.4; charset=utf-8"

    private let dispatcher: Dispatcher
    private let head = Mutex<HTTPRequestHead?>(nil)

    init(dispatcher: Dispatcher) {
        self.dispatcher = dispatcher
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch Self.unwrapInboundIn(data) {
        case .head(let request):
            head.withLock { $0 = request }
        case .body:
            break
        case .end:
            guard let request = head.withLock({ $0 }) else { return }
            respond(to: request, context: context)
        }
    }

    private func respond(to request: HTTPRequestHead, context: ChannelHandlerContext) {
        let path = request.uri.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false).first.map(String.init) ?? ""
        var status = HTTPResponseStatus.ok
        var body: String
        var headers = HTTPHeaders()
        if path != "/metrics" {
            status = .notFound
            body = "not found; metrics are at /metrics\n"
            headers.add(name: "Content-Type", value: "text/plain; charset=utf-8")
        } else if request.method != .GET && request.method != .HEAD {
            status = .methodNotAllowed
            body = "only GET and HEAD are allowed\n"
            headers.add(name: "Allow", value: "GET, HEAD")
            headers.add(name: "Content-Type", value: "text/plain; charset=utf-8")
        } else {
            body = dispatcher.metricsExposition()
            headers.add(name: "Content-Type", value: Self.contentType)
        }
        let keepAlive = request.isKeepAlive
        headers.add(name: "Content-Length", value: String(body.utf8.count))
        headers.add(name: "Connection", value: keepAlive ? "keep-alive" : "close")
        context.write(Self.wrapOutboundOut(.head(HTTPResponseHead(version: request.version, status: status, headers: headers))), promise: nil)
        if request.method != .HEAD {
            context.write(Self.wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(string: body)))), promise: nil)
        }
        let done = context.writeAndFlush(Self.wrapOutboundOut(.end(nil)))
        if !keepAlive {
            let channel = context.channel
            done.whenComplete { _ in channel.close(promise: nil) }
        }
    }
}

extension MetricsHTTPServer {
    /// The metrics listener could not bind its address.
    package struct BindError: Error, CustomStringConvertible {
        var address: ListenAddress
        var reason: String

        package var description: String {
            "cannot serve metrics on \(address) (metrics.listen): \(reason)"
        }
    }
}
