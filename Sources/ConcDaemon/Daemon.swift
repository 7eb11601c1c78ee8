import ConcFleet
import ConcProtocol
import Glibc
import Logging
import NIOCore
import NIOPosix
import ServiceLifecycle
import Synchronization
import UnixSignals

/// The daemon as a library: builds the pools, the Dispatcher and the control server, warms every
/// pool, binds the socket (or takes systemd's), tells systemd it is ready, and runs until SIGTERM or
/// SIGINT (or ``shutdown()``), then stops accepting and drains. SIGHUP re-reads the configuration.
public final class Daemon: Sendable {
    /// This build's version.
    public static let version = "0.1.0"

    private let initialConfiguration: DaemonConfiguration
    private let loader: ConfigurationLoader?
    private let logger: Logger
    private let notifier = SystemdNotifier()
    private let ready = Countdown(1)
    private let running = Mutex<Running?>(nil)
    private let stopRequested = Mutex(false)
    private let metricsListener = Mutex<ListenAddress?>(nil)

    /// What exists once the daemon is up.
    private struct Running: Sendable {
        var group: ServiceGroup
        var dispatcher: Dispatcher
        var metrics: MetricsReporter
        var configuration: DaemonConfiguration
    }

    /// Creates a daemon; nothing starts until ``run()``. With a `loader`, SIGHUP re-reads the configuration.
    public init(configuration: DaemonConfiguration, loader: ConfigurationLoader? = nil, logger: Logger) {
        self.initialConfiguration = configuration
        self.loader = loader
        self.logger = logger
    }

    /// Runs the daemon until it is asked to stop. Throws when a pool cannot warm up or the socket cannot be bound.
    public func run() async throws {
        let configuration = initialConfiguration
        // Signals are trapped before anything else: a SIGTERM that arrived after READY=1 but before
        // the service group trapped it would be lost (ignored), and an early SIGHUP would kill.
        let stopSignals = await UnixSignalsSequence(trapping: .sigterm, .sigint)
        let hangups = await UnixSignalsSequence(trapping: .sighup)
        let signalForwarder = Task { [self] in
            var received = 0
            for await signal in stopSignals {
                received += 1
                if received == 1 {
                    logger.info("stopping on \(signal)", metadata: ["event": "signal"])
                    await shutdown()
                } else {
                    logger.warning("second \(signal) while draining; exiting now", metadata: ["event": "signal"])
                    exit(130)
                }
            }
        }
        defer { signalForwarder.cancel() }
        let openFiles = ResourceLimits.raiseOpenFiles()
        logger.debug("open file limit", metadata: ["nofile": "\(openFiles)"])
        let eventLoops = MultiThreadedEventLoopGroup.singleton
        let pools = configuration.pools.map { pool in
            PoolRegistry.makePool(
                pool, queueLimit: configuration.queueLimit, workerExecutable: configuration.workerExecutable,
                eventLoopGroup: eventLoops, logger: logger
            )
        }
        do {
            try await withThrowingTaskGroup(of: Void.self) { warmUp in
                for pool in pools { warmUp.addTask { try await pool.start() } }
                try await warmUp.waitForAll()
            }
        } catch {
            for pool in pools { await pool.shutdown() }
            throw error
        }
        let dispatcher = Dispatcher(pools: pools, socketPath: configuration.socketPath, execPolicy: configuration.exec, logger: logger)
        dispatcher.connect(Dispatcher.DaemonControl(
            reload: { [self] in await reload() },
            shutdown: { [self] in await shutdown() }
        ))
        var fleet: FleetService?
        if let settings = configuration.queue {
            fleet = FleetService(settings: settings, executor: DaemonFleetExecutor(dispatcher: dispatcher), logger: logger)
            fleet.map(dispatcher.attach)
        }
        var metricsServer: MetricsHTTPServer?
        if let address = configuration.metricsListen {
            do {
                metricsServer = try await MetricsHTTPServer.bind(
                    address: address, dispatcher: dispatcher, group: eventLoops, limits: configuration.connectionLimits,
                    logger: logger
                )
                metricsListener.withLock { $0 = metricsServer?.address }
            } catch {
                for pool in pools { await pool.shutdown() }
                throw MetricsHTTPServer.BindError(address: address, reason: "\(error)")
            }
        }
        let server: ControlServer
        do {
            server = try await ControlServer.bind(
                socketPath: configuration.socketPath, dispatcher: dispatcher, group: eventLoops,
                limits: configuration.connectionLimits, logger: logger
            )
        } catch {
            for pool in pools { await pool.shutdown() }
            throw error
        }

        let metrics = MetricsReporter(
            dispatcher: dispatcher,
            intervalSeconds: configuration.metricsIntervalSeconds,
            toJournal: configuration.metricsToJournal,
            logger: logger
        )
        var reporters: [any Service] = [
            metrics,
            StatusReporter(dispatcher: dispatcher, notifier: notifier),
            ReloadHandler(daemon: self, hangups: hangups),
            HeapTrimmer(),
        ]
        if let period = notifier.watchdogPeriod {
            reporters.append(Watchdog(dispatcher: dispatcher, notifier: notifier, period: period, logger: logger))
            logger.info("watchdog enabled", metadata: ["ping_every_ms": "\(period.nanoseconds / 1_000_000)"])
        }
        // Services stop in reverse order: STOPPING=1 first, then the reporters, then the fleet stops
        // claiming and records what runs here, then the server stops accepting, then the pools drain.
        let drain = DrainExtender(dispatcher: dispatcher, notifier: notifier)
        let services: [any Service] =
            pools.map { PoolService(pool: $0, logger: logger) } + [server] + (metricsServer.map { [$0] } ?? [])
            + (fleet.map { [$0] } ?? []) + reporters
            + [SystemdLifecycle(notifier: notifier, drain: drain, logger: logger)]
        let serviceGroup = ServiceGroup(
            configuration: .init(services: services, logger: logger)
        )
        running.withLock {
            $0 = Running(group: serviceGroup, dispatcher: dispatcher, metrics: metrics, configuration: configuration)
        }
        let status = StatusLine.render(dispatcher.status())
        notifier.ready(status: status)
        logger.info(
            "ready",
            metadata: ["event": "ready", "status": "\(status)", "version": "\(Self.version)", "pid": "\(getpid())"]
        )
        ready.countDown()
        if stopRequested.withLock({ $0 }) { await serviceGroup.triggerGracefulShutdown() }
        defer { drain.cancel() }
        try await serviceGroup.run()
        await server.finishConnections()
        SystemdNotifier.flush()
        logger.info("stopped", metadata: ["event": "stopped"])
    }

    /// Returns once every pool is warm and the control socket accepts.
    public func waitUntilReady() async {
        await ready.wait()
    }

    /// Where the Prometheus listener listens once the daemon is ready (`nil` without one).
    public var metricsAddress: ListenAddress? {
        metricsListener.withLock { $0 }
    }

    /// Starts a graceful shutdown, as SIGTERM would.
    public func shutdown() async {
        stopRequested.withLock { $0 = true }
        if let group = running.withLock({ $0?.group }) {
            await group.triggerGracefulShutdown()
        }
    }

    /// Re-reads the configuration and applies it: pool sizes, queue limits, recycling, the metrics
    /// interval. Pools added, removed or given another model are not: that needs a restart.
    /// Tells systemd RELOADING=1 first and READY=1 after; a configuration that fails to load or
    /// apply leaves the running one in place, and the log says why.
    public func reload() async {
        guard let current = running.withLock({ $0 }) else { return }
        notifier.notify("RELOADING=1\nMONOTONIC_USEC=\(SystemdNotifier.monotonicMicroseconds())\nSTATUS=reloading configuration")
        logger.info("reloading configuration", metadata: ["event": "reload"])
        defer {
            notifier.notify("READY=1\nSTATUS=\(StatusLine.render(current.dispatcher.status()))")
        }
        guard let loader else {
            logger.notice("reload: no configuration file in use; nothing to re-read")
            return
        }
        let next: DaemonConfiguration
        do {
            next = try await loader.load()
        } catch {
            logger.error("reload failed; keeping the running configuration", metadata: ["event": "reload_failed", "reason": "\(error)"])
            return
        }
        if next.socketPath != current.configuration.socketPath {
            logger.warning("the control socket's path changes only on restart", metadata: ["socket": "\(next.socketPath)"])
        }
        var failures: [String] = []
        var restartNeeded: [String] = []
        let registry = current.dispatcher.registry
        for wanted in next.pools {
            guard let entry = registry.entry(wanted.name) else {
                restartNeeded.append("\(wanted.name) is new")
                continue
            }
            guard entry.model == wanted.model else {
                restartNeeded.append("\(wanted.name) changes its model from \(entry.model) to \(wanted.model)")
                continue
            }
            do {
                try await entry.pool.resize(size: wanted.size, queueLimit: next.queueLimit)
            } catch {
                failures.append("\(wanted.name): \(error)")
            }
            entry.pool.setRecycling(wanted.recycling)
            entry.pool.setGrowth(
                maximum: wanted.resolvedMaximum, idleTimeout: .nanoseconds(Int64(wanted.idleTimeoutSeconds * 1e9))
            )
        }
        for name in registry.names where !next.pools.contains(where: { $0.name == name }) {
            restartNeeded.append("\(name) is gone")
        }
        current.metrics.setInterval(seconds: next.metricsIntervalSeconds)
        current.dispatcher.setExecPolicy(next.exec)
        running.withLock { $0?.configuration = next }
        if !restartNeeded.isEmpty {
            logger.error(
                "reload applied only in part: adding or removing pools needs a restart; the running pools stay as they are",
                metadata: ["event": "reload_failed", "reason": "\(restartNeeded.joined(separator: "; "))"]
            )
        }
        guard failures.isEmpty else {
            logger.error(
                "reload applied only in part: a pool could not be resized",
                metadata: ["event": "reload_failed", "reason": "\(failures.joined(separator: "; "))"]
            )
            return
        }
        guard restartNeeded.isEmpty else { return }
        logger.info(
            "configuration reloaded",
            metadata: [
                "event": "reloaded", "process_workers": "\(next.processWorkers)", "threads": "\(next.threads)",
                "async_limit": "\(next.asyncLimit)", "queue_limit": "\(next.queueLimit)",
                "pools": "\(next.pools.map { "\($0.name)=\($0.size)" }.joined(separator: ","))",
            ]
        )
    }
}

/// Runs a pool as a service: it waits for graceful shutdown, then drains the pool.
struct PoolService: Service {
    let pool: any Pool
    let logger: Logger

    func run() async throws {
        try? await gracefulShutdown()
        // Not "pool": CONCD_POOL is kept for the metrics records, so that filtering on it gives a clean series.
        logger.info("draining pool", metadata: ["draining": "\(pool.name)"])
        await pool.shutdown()
    }
}

/// Re-reads the configuration on each SIGHUP (`systemctl reload concd`).
struct ReloadHandler: Service {
    let daemon: Daemon
    let hangups: UnixSignalsSequence

    func run() async throws {
        await cancelWhenGracefulShutdown {
            for await _ in hangups {
                await daemon.reload()
            }
        }
    }
}
