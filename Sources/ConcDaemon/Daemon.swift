import ConcProtocol
import Logging
import NIOCore
import NIOPosix
import ServiceLifecycle
import Synchronization

/// The daemon as a library: builds the pools, the Dispatcher and the control server, warms every
/// pool, binds the socket, tells systemd it is ready, and runs until SIGTERM or SIGINT (or
/// ``shutdown()``), then stops accepting and drains.
public final class Daemon: Sendable {
    /// This build's version.
    public static let version = "0.1.0"

    private let configuration: DaemonConfiguration
    private let logger: Logger
    private let notifier = SystemdNotifier()
    private let ready = Countdown(1)
    private let group = Mutex<ServiceGroup?>(nil)
    private let stopRequested = Mutex(false)

    /// Creates a daemon; nothing starts until ``run()``.
    public init(configuration: DaemonConfiguration, logger: Logger) {
        self.configuration = configuration
        self.logger = logger
    }

    /// Runs the daemon until it is asked to stop. Throws when a pool cannot warm up or the socket cannot be bound.
    public func run() async throws {
        BlockingHTTP.globalInit()
        let openFiles = ResourceLimits.raiseOpenFiles()
        logger.debug("open file limit", metadata: ["nofile": "\(openFiles)"])
        let eventLoops = MultiThreadedEventLoopGroup.singleton
        let pools: [any Pool] = [
            ProcessPool(
                size: configuration.processWorkers,
                queueLimit: configuration.queueLimit,
                executable: configuration.workerExecutable ?? WorkerSpawner.currentExecutable(),
                logger: logger
            ),
            ThreadPool(size: configuration.threads, queueLimit: configuration.queueLimit),
            AsyncPool(
                limit: configuration.asyncLimit,
                connectionsPerHost: configuration.asyncConnectionsPerHost,
                eventLoopGroup: eventLoops
            ),
        ]
        do {
            try await withThrowingTaskGroup(of: Void.self) { warmUp in
                for pool in pools { warmUp.addTask { try await pool.start() } }
                try await warmUp.waitForAll()
            }
        } catch {
            for pool in pools { await pool.shutdown() }
            throw error
        }
        let dispatcher = Dispatcher(pools: pools, socketPath: configuration.socketPath)
        let server: ControlServer
        do {
            server = try await ControlServer.bind(
                socketPath: configuration.socketPath, dispatcher: dispatcher, group: eventLoops, logger: logger
            )
        } catch {
            for pool in pools { await pool.shutdown() }
            throw error
        }

        // Services stop in reverse order: the server stops accepting first, then the pools drain.
        let services: [any Service] =
            pools.map { PoolService(pool: $0, logger: logger) } + [server, SystemdLifecycle(notifier: notifier, logger: logger)]
        let serviceGroup = ServiceGroup(
            configuration: .init(services: services, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
        )
        group.withLock { $0 = serviceGroup }
        let status = StatusLine.render(dispatcher.status())
        notifier.ready(status: status)
        logger.info("ready", metadata: ["status": "\(status)", "version": "\(Self.version)"])
        ready.countDown()
        if stopRequested.withLock({ $0 }) { await serviceGroup.triggerGracefulShutdown() }
        try await serviceGroup.run()
        logger.info("stopped")
    }

    /// Returns once every pool is warm and the control socket accepts.
    public func waitUntilReady() async {
        await ready.wait()
    }

    /// Starts a graceful shutdown, as SIGTERM would.
    public func shutdown() async {
        stopRequested.withLock { $0 = true }
        if let serviceGroup = group.withLock({ $0 }) {
            await serviceGroup.triggerGracefulShutdown()
        }
    }
}

/// Runs a pool as a service: it waits for graceful shutdown, then drains the pool.
struct PoolService: Service {
    let pool: any Pool
    let logger: Logger

    func run() async throws {
        try? await gracefulShutdown()
        logger.info("draining pool", metadata: ["pool": "\(pool.kind)"])
        await pool.shutdown()
    }
}
