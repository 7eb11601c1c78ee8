import ConcProtocol
import ConcSystem
import Glibc
import Logging
import NIOCore
import NIOPosix
import ServiceLifecycle
import Synchronization
import SystemPackage

/// The Unix control socket. It binds before the daemon reports ready. On graceful shutdown it is
/// stopped before the pools (the group stops services in reverse order): it stops accepting and
/// makes the Dispatcher refuse new tasks, while open connections stay up for the replies of tasks
/// that are still draining.
package final class ControlServer: Service {
    private let socketPath: String
    private let dispatcher: Dispatcher
    private let group: any EventLoopGroup
    private let logger: Logger
    private let acceptor: Acceptor
    private let connections: OpenConnections
    /// The throttled give-up lines of its connections (`LogThrottle`), written out at shutdown.
    private let throttles: [LogThrottle]
    /// When the listening socket stopped accepting.
    private let stoppedAccepting = Mutex<ContinuousClock.Instant?>(nil)
    /// Whether systemd passed the socket (it then owns the path and keeps listening across restarts).
    let isSocketActivated: Bool

    private init(
        socketPath: String, dispatcher: Dispatcher, group: any EventLoopGroup, logger: Logger, acceptor: Acceptor,
        connections: OpenConnections, throttles: [LogThrottle], isSocketActivated: Bool
    ) {
        self.connections = connections
        self.throttles = throttles
        self.socketPath = socketPath
        self.dispatcher = dispatcher
        self.group = group
        self.logger = logger
        self.acceptor = acceptor
        self.isSocketActivated = isSocketActivated
    }

    /// Takes the listening socket systemd passed (socket activation), or else binds `socketPath`
    /// (mode 0660), and starts accepting on an `Acceptor`: a process whose connections keep coming
    /// to nothing is refused there, before NIO builds anything (`VanishGuard`).
    /// Each connection is read only while the replies it is owed stay under `limits.sendBufferBytes`
    /// (the write-buffer water marks and `autoRead`, by `SlowReaderHandler`), and is closed if they
    /// stay above it for `limits.stallTimeoutSeconds`.
    package static func bind(
        socketPath: String, dispatcher: Dispatcher, group: any EventLoopGroup, limits: ConnectionLimits = .init(),
        logger: Logger
    ) async throws -> ControlServer {
        let connections = OpenConnections()
        let firstRejections = LogThrottle(
            message: "rejected a request; more from this connection are counted and logged when it closes",
            summary: "rejected requests on more connections (counted, not each logged)", logger: logger,
            timers: group.next()
        )
        let rejectingCloses = LogThrottle(
            message: "a connection that sent rejected requests closed",
            summary: "more connections that sent rejected requests closed (counted, not each logged)", logger: logger,
            timers: group.next()
        )
        let givingUp = LogThrottle(
            message: "closing a connection after too many rejected requests in a row",
            summary: "more connections closed after too many rejected requests in a row (counted, not each logged)",
            logger: logger, timers: group.next()
        )
        let throttles = [firstRejections, rejectingCloses, givingUp]
        let vanishing = VanishGuard<PeerCredentials>(
            perSecond: limits.vanishingPerSecond, logger: logger, timers: group.next(), describe: PeerIdentity.metadata(of:)
        )
        // Runs on the acceptor's thread for each accepted descriptor: a refused one is closed
        // before NIO builds anything for it.
        let serve: @Sendable (CInt) -> Void = { descriptor in
            let credentials = PeerCredentials.of(descriptor: descriptor)
            if let credentials, !vanishing.admit(credentials) {
                close(descriptor)
                return
            }
            Acceptor.serve(descriptor, on: group, limits: limits, logger: logger) { channel in
                connections.insert(channel)
                let handler = ControlConnectionHandler(
                    dispatcher: dispatcher, descriptor: descriptor, loopBurst: LoopReadBurst.of(channel.eventLoop),
                    credentials: credentials, vanishing: vanishing, firstRejections: firstRejections, rejectingCloses: rejectingCloses,
                    rejectedInARow: limits.rejectedInARow, givingUp: givingUp, logger: logger
                )
                // Frames go straight to the handler, not through the pipeline.
                try channel.pipeline.syncOperations.addHandlers(
                    LineFrameHandler { [handler] frame, channel in handler.received(frame, on: channel) },
                    handler,
                    SlowReaderHandler(timeout: limits.stallTimeout, logger: logger)
                )
            }
        }
        func accepting(_ descriptor: CInt) throws(BindError) -> Acceptor {
            do {
                return try Acceptor(descriptor: descriptor, name: "control", logger: logger, handle: serve)
            } catch {
                throw BindError(code: .bindFailed, path: socketPath, underlyingError: error, reason: nil)
            }
        }
        if let descriptor = SocketActivation.listeningSocket() {
            let acceptor = try accepting(descriptor)
            acceptor.start()
            logger.info("listening on the socket systemd passed", metadata: ["socket": "\(socketPath)", "fd": "\(descriptor)"])
            return ControlServer(
                socketPath: socketPath, dispatcher: dispatcher, group: group, logger: logger, acceptor: acceptor,
                connections: connections, throttles: throttles, isSocketActivated: true
            )
        }
        let address: UnixSocketAddress
        do {
            address = try UnixSocketAddress(path: socketPath)
        } catch {
            throw BindError(code: .badPath, path: socketPath, underlyingError: nil, reason: error.description)
        }
        try removeStaleSocket(at: address)
        let previous = umask(0o117)
        defer { umask(previous) }
        let descriptor: CInt
        do {
            descriptor = try ListeningSocket.unix(address, backlog: 1024)
        } catch {
            throw BindError(code: .bindFailed, path: socketPath, underlyingError: error, reason: nil)
        }
        let acceptor = try accepting(descriptor)
        acceptor.start()
        logger.info("listening", metadata: ["socket": "\(socketPath)"])
        return ControlServer(
            socketPath: socketPath, dispatcher: dispatcher, group: group, logger: logger, acceptor: acceptor,
            connections: connections, throttles: throttles, isSocketActivated: false
        )
    }

    package func run() async throws {
        try? await gracefulShutdown()
        for throttle in throttles { throttle.flush(force: true) }
        dispatcher.stopAccepting()
        logger.info("control socket closing; in-flight tasks will still be answered")
        acceptor.stop()
        stoppedAccepting.withLock { $0 = .now }
        // A socket systemd passed stays systemd's: it keeps listening (and queueing) while concd restarts.
        if !isSocketActivated { unlink(socketPath) }
    }

    /// Ends every open connection once the replies already written to it are sent: the last step of
    /// a shutdown, after the pools have drained, so that no accepted task loses its answer when the
    /// process exits. Gives up on a client that does not read within `timeout`.
    ///
    /// Not before `grace` has passed since the socket stopped accepting: a client accepted just
    /// before then may not have sent its request yet, and closing on it unread would leave it
    /// unable to tell whether its task ran; within the grace its request is read and answered
    /// `shutting_down`, which it can safely send again. (With nothing to drain, the pools finish
    /// within a millisecond, and the e2e restart test saw one such client in about 400.)
    package func finishConnections(timeout: TimeAmount = .seconds(5), grace: Duration = .milliseconds(250)) async {
        if let stopped = stoppedAccepting.withLock({ $0 }) {
            try? await Task.sleep(until: stopped + grace, clock: .continuous)
        }
        // Taken after the grace: a client accepted at the last moment is registered meanwhile, and
        // with nothing open before it a daemon must still wait for it.
        let open = connections.all()
        guard !open.isEmpty else { return }
        logger.debug("closing client connections", metadata: ["connections": "\(open.count)"])
        await withTaskGroup(of: Void.self) { group in
            for connection in open {
                group.addTask {
                    let giveUp = connection.eventLoop.scheduleTask(in: timeout) { connection.close(promise: nil) }
                    try? await connection.writeAndFlush(ByteBuffer())
                    giveUp.cancel()
                    try? await connection.close()
                }
            }
        }
    }

    /// A socket file left by a daemon that died is removed; one a live daemon answers on is not.
    private static func removeStaleSocket(at address: UnixSocketAddress) throws(BindError) {
        var info = stat()
        guard lstat(address.path, &info) == 0 else { return }
        guard (info.st_mode & S_IFMT) == S_IFSOCK else {
            throw BindError(code: .notASocket, path: address.path, underlyingError: nil, reason: nil)
        }
        let probe = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        defer { close(probe) }
        if address.withSockAddr({ connect(probe, $0, $1) }) == 0 {
            throw BindError(code: .alreadyListening, path: address.path, underlyingError: nil, reason: nil)
        }
        unlink(address.path)
    }
}

/// The control connections open now, so a shutdown can finish each of them.
final class OpenConnections: Sendable {
    private let channels = Mutex([ObjectIdentifier: any Channel]())

    func insert(_ channel: any Channel) {
        let key = ObjectIdentifier(channel)
        channels.withLock { $0[key] = channel }
        channel.closeFuture.whenComplete { [self] _ in
            _ = channels.withLock { $0.removeValue(forKey: key) }
            HeapTrimmer.noteClosed()
        }
    }

    func all() -> [any Channel] {
        channels.withLock { Array($0.values) }
    }
}
