import Glibc
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
///
/// It is often opened beyond loopback, so what a connection may cost is bounded (`ConnectionLimits`):
/// at most `metricsMaxConnections` at once (the next is answered 503), request line and headers of
/// at most `metricsHeaderBytes` (431), no request body (413), one request answered at a time and
/// the next only once the peer has read the previous answer down to the send buffer's low mark,
/// reads turned off meanwhile (`SlowReaderHandler`); a connection idle for `metricsIdleTimeoutSeconds` or stalled for
/// `stallTimeoutSeconds` is closed. A scraper that behaves meets none of these.
package final class MetricsHTTPServer: Service {
    private let acceptor: Acceptor
    private let logger: Logger
    /// The throttled give-up lines of its connections (`LogThrottle`), written out at shutdown.
    private let throttles: [LogThrottle]
    /// The address it actually listens on (the port filled in when 0 was asked for).
    package let address: ListenAddress

    private init(acceptor: Acceptor, address: ListenAddress, throttles: [LogThrottle], logger: Logger) {
        self.acceptor = acceptor
        self.address = address
        self.throttles = throttles
        self.logger = logger
    }

    /// Binds `address` and starts serving `dispatcher`'s metrics.
    package static func bind(
        address: ListenAddress, dispatcher: Dispatcher, group: any EventLoopGroup, limits: ConnectionLimits = .init(),
        logger: Logger
    ) async throws -> MetricsHTTPServer {
        let open = OpenCount(limit: limits.metricsMaxConnections, logger: logger)
        let refusals = LogThrottle(
            message: "refused a metrics request and closed the connection",
            summary: "refused more metrics requests and closed their connections (counted, not each logged)",
            logger: logger, timers: group.next()
        )
        let idleCloses = LogThrottle(
            message: "closing an idle metrics connection",
            summary: "closed more idle metrics connections (counted, not each logged)", logger: logger,
            timers: group.next()
        )
        let decoderLimits = {
            var limits = NIOHTTPDecoderLimitConfiguration()
            limits.maxHeaderListSize = ConnectionLimits.metricsHeaderBytes
            limits.maxHeaderFieldSize = ConnectionLimits.metricsHeaderBytes / 2
            limits.maxHeaderFieldCount = 100
            return limits
        }()
        let vanishing = VanishGuard<String>(perSecond: limits.vanishingPerSecond, logger: logger, timers: group.next()) {
            ["peer": "\($0)"]
        }
        // Runs on the acceptor's thread for each accepted descriptor: a refused one is closed
        // before NIO builds anything for it, and so is one without a peer address, which was reset
        // before it was accepted.
        let serve: @Sendable (CInt) -> Void = { descriptor in
            guard let address = ListeningSocket.peerAddress(of: descriptor)?.ipAddress, vanishing.admit(address) else {
                close(descriptor)
                return
            }
            Acceptor.serve(descriptor, on: group, limits: limits, logger: logger) { channel in
                let pipeline = channel.pipeline.syncOperations
                guard open.admit(channel) else {
                    try pipeline.addHandler(RefusingHandler())
                    return
                }
                try pipeline.addHandler(IdleStateHandler(readTimeout: limits.metricsIdleTimeout))
                try pipeline.configureHTTPServerPipeline(
                    withErrorHandling: false, withEncoderConfiguration: .init(),
                    withDecoderLimitConfiguration: decoderLimits
                )
                try pipeline.addHandlers(
                    MetricsRequestHandler(
                        dispatcher: dispatcher, refusals: refusals, idleCloses: idleCloses,
                        vanishing: (vanishing, address), logger: logger
                    ),
                    SlowReaderHandler(timeout: limits.stallTimeout, logger: logger)
                )
            }
        }
        let listening = try ListeningSocket.tcp(SocketAddress.makeAddressResolvingHost(address.host, port: address.port), backlog: 128)
        let acceptor = try Acceptor(descriptor: listening.descriptor, name: "metrics", logger: logger, handle: serve)
        acceptor.start()
        let bound = ListenAddress(host: address.host, port: listening.port)
        logger.info("serving Prometheus metrics", metadata: ["metrics_listen": "\(bound)", "path": "/metrics"])
        return MetricsHTTPServer(acceptor: acceptor, address: bound, throttles: [refusals, idleCloses], logger: logger)
    }

    package func run() async throws {
        try? await gracefulShutdown()
        for throttle in throttles { throttle.flush(force: true) }
        acceptor.stop()
    }
}


/// Counts the metrics connections open now and admits one only under the limit; refusals are
/// logged at most once a second, with how many there were since the last line.
private final class OpenCount: Sendable {
    private struct State {
        var open = 0
        var refusedSinceLog = 0
        var lastLog: ContinuousClock.Instant?
    }

    private let limit: Int
    private let logger: Logger
    private let state = Mutex(State())

    init(limit: Int, logger: Logger) {
        self.limit = limit
        self.logger = logger
    }

    /// Whether `channel` may be served; if so it is counted until it closes.
    func admit(_ channel: any Channel) -> Bool {
        let now = ContinuousClock.now
        let (admitted, refusedToLog) = state.withLock { state -> (Bool, Int?) in
            guard state.open >= limit else {
                state.open += 1
                return (true, nil)
            }
            state.refusedSinceLog += 1
            if let last = state.lastLog, now - last < .seconds(1) { return (false, nil) }
            state.lastLog = now
            defer { state.refusedSinceLog = 0 }
            return (false, state.refusedSinceLog)
        }
        if admitted {
            channel.closeFuture.whenComplete { [self] _ in
                state.withLock { $0.open -= 1 }
                HeapTrimmer.noteClosed()
            }
        } else if let refusedToLog {
            logger.notice(
                "refusing metrics connections: too many open",
                metadata: [
                    "peer": "\(channel.remoteAddress.map { "\($0)" } ?? "unknown")", "limit": "\(limit)",
                    "refused": "\(refusedToLog)",
                ]
            )
        }
        return admitted
    }
}

/// Answers a connection over the limit with 503 and closes it.
private final class RefusingHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer

    func channelActive(context: ChannelHandlerContext) {
        let text = "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nRetry-After: 1\r\nConnection: close\r\n\r\n"
        let channel = context.channel
        channel.writeAndFlush(channel.allocator.buffer(string: text)).whenComplete { _ in channel.close(promise: nil) }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {}
}

/// Answers the HTTP requests of one connection one at a time; the exposition is rendered when a
/// request has been read in full and the peer has read the previous answer (the channel is writable):
/// a client that pipelines requests without reading gets no more than one answer past the send buffer.
final class MetricsRequestHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    /// The content type of the Prometheus text format.
    static let contentType = "text/plain; version=0.0.4; charset=utf-8"

    private let dispatcher: Dispatcher
    /// Refused requests and idle closes (`MetricsHTTPServer.throttles`).
    private let refusals: LogThrottle
    private let idleCloses: LogThrottle
    private let logger: Logger
    /// The request being read.
    private var head: HTTPRequestHead?
    /// A request read in full whose answer waits for the peer to read the previous ones.
    private var waiting: HTTPRequestHead?
    /// Set once the connection is being closed after an error: nothing more is read or answered.
    private var closing = false
    /// Where the connection is counted against its peer's address if the peer leaves before a
    /// request's head or sends a request that is refused (431, 413, 400).
    private let vanishing: (guard: VanishGuard<String>, address: String)?
    /// A request's head has arrived.
    private var sawRequest = false

    init(
        dispatcher: Dispatcher, refusals: LogThrottle, idleCloses: LogThrottle,
        vanishing: (guard: VanishGuard<String>, address: String)? = nil, logger: Logger
    ) {
        self.dispatcher = dispatcher
        self.refusals = refusals
        self.idleCloses = idleCloses
        self.vanishing = vanishing
        self.logger = logger
    }

    func channelInactive(context: ChannelHandlerContext) {
        // Only a peer that left on its own; one answered 431 or closed for idling was the daemon's doing.
        if !sawRequest, !closing, let vanishing { vanishing.guard.vanished(vanishing.address) }
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !closing else { return }
        switch Self.unwrapInboundIn(data) {
        case .head(let request):
            sawRequest = true
            head = request
        case .body:
            refuse(.payloadTooLarge, "the metrics endpoint takes no request body", context: context)
        case .end:
            guard let request = head else { return }
            head = nil
            if context.channel.isWritable {
                respond(to: request, context: context)
            } else {
                waiting = request
            }
        }
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable, let request = waiting {
            waiting = nil
            respond(to: request, context: context)
        }
        context.fireChannelWritabilityChanged()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        guard !closing else { return }
        // A peer that left mid-request cannot be answered, and vanishing is not worth a log line each.
        if let parse = error as? HTTPParserError, parse != .invalidEOFState, context.channel.isActive {
            if case .headerOverflow = parse {
                refuse(
                    .requestHeaderFieldsTooLarge,
                    "request line and headers are limited to \(ConnectionLimits.metricsHeaderBytes) bytes",
                    context: context
                )
            } else {
                refuse(.badRequest, "not an HTTP/1 request (\(parse))", context: context)
            }
            return
        }
        logger.debug("closing a metrics connection after an error", metadata: ["error": "\(error)"])
        context.close(promise: nil)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        guard let idle = event as? IdleStateHandler.IdleStateEvent, idle == .read else {
            context.fireUserInboundEventTriggered(event)
            return
        }
        let idleCloses = idleCloses
        let halfRead = head != nil
        PeerIdentity.metadata(of: context.channel).whenSuccess { peer in
            var metadata = peer
            metadata["mid_request"] = "\(halfRead)"
            idleCloses.log(metadata, peer: peer.peerName)
        }
        closing = true
        context.close(promise: nil)
    }

    /// Answers `status` with `reason` and closes the connection, logged once with the peer.
    private func refuse(_ status: HTTPResponseStatus, _ reason: String, context: ChannelHandlerContext) {
        closing = true
        // A refused request counts against its peer as a departure without one does: a peer that
        // reconnects to send endless headers costs the daemon as much, and is refused at accept the same way.
        if let vanishing { vanishing.guard.vanished(vanishing.address) }
        let refusals = refusals
        PeerIdentity.metadata(of: context.channel).whenSuccess { peer in
            var metadata = peer
            metadata["status"] = "\(status.code)"
            metadata["reason"] = "\(reason)"
            refusals.log(metadata, peer: peer.peerName)
        }
        var headers = HTTPHeaders()
        let body = reason + "\n"
        headers.add(name: "Content-Type", value: "text/plain; charset=utf-8")
        headers.add(name: "Content-Length", value: String(body.utf8.count))
        headers.add(name: "Connection", value: "close")
        let channel = context.channel
        var bytes = channel.allocator.buffer(capacity: 256)
        bytes.writeString("HTTP/1.1 \(status.code) \(status.reasonPhrase)\r\n")
        for (name, value) in headers { bytes.writeString("\(name): \(value)\r\n") }
        bytes.writeString("\r\n" + body)
        // Written below the HTTP handlers, as bytes: the pipelining helper would hold an answer
        // given before the request ended, and this request may never end.
        guard let below = try? channel.pipeline.syncOperations.context(handlerType: IdleStateHandler.self) else {
            context.close(promise: nil)
            return
        }
        below.writeAndFlush(NIOAny(bytes)).whenComplete { _ in channel.close(promise: nil) }
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
