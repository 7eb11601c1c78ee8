import ArgumentParser
import ConcDaemon
import ConcProtocol
import Logging

/// `concd`: the warm-pool daemon. Runs in the foreground (systemd, or a developer's shell).
@main
struct Concd: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "concd",
        abstract: "Keeps warm process, thread and async pools and runs work on them.",
        discussion: """
            Runs in the foreground until SIGTERM or SIGINT; SIGHUP re-reads the configuration.
            Settings come from flags, then CONCD_* environment variables, then the YAML file
            (default /etc/concd/concd.yaml, optional), then built-in defaults. Submit work with concctl.

            Examples:
              concd --socket /tmp/concd.sock --process-workers 4
              concd --socket /tmp/concd.sock --metrics-listen 127.0.0.1:9464
            """,
        version: Daemon.version
    )

    @Option(help: "The YAML configuration file (default: /etc/concd/concd.yaml when it exists).")
    var config: String?

    @Option(help: "The control socket's path (default: $CONCD_SOCKET, else /run/concd/concd.sock).")
    var socket: String?

    @Option(help: "Worker processes in the process pool (default: the number of cores).")
    var processWorkers: Int?

    @Option(help: "Parked threads in the thread pool (default: 4 x the number of cores).")
    var threads: Int?

    @Option(help: "Tasks the async pool runs at once before it answers busy (default: 100000).")
    var asyncLimit: Int?

    @Option(help: "Tasks that may wait in each of the process and thread pools' queues (default: 10000).")
    var queueLimit: Int?

    @Option(help: "Seconds between metrics records in the journal (default: 10).")
    var metricsInterval: Double?

    @Option(help: "Serve Prometheus metrics at http://HOST:PORT/metrics, e.g. 127.0.0.1:9464; off turns it off (default: off).")
    var metricsListen: String?

    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical (default: info).")
    var logLevel: Logger.Level?

    @Option(help: "Where logs go: auto (the journal under systemd, else stderr), journal or stderr.")
    var logTarget: LogTarget = .auto

    @Option(help: .hidden)
    var workerFd: Int32?

    @Option(help: .hidden)
    var workerParent: Int32?

    enum LogTarget: String, ExpressibleByArgument {
        case auto, journal, stderr
    }

    /// Worker mode is decided before ArgumentParser runs: a worker is only ever started by the daemon
    /// as `concd --worker-fd N --worker-parent P`, and parsing reflects over the whole command, which
    /// touches pages of the binary that every worker would then keep resident.
    static func main() async {
        let arguments = CommandLine.arguments
        if arguments.count == 5, arguments[1] == "--worker-fd", let descriptor = Int32(arguments[2]),
            arguments[3] == "--worker-parent", let parent = Int32(arguments[4])
        {
            WorkerProcess.run(descriptor: descriptor, parent: parent)
        }
        await main(nil)
    }

    func validate() throws {
        for (name, value, range) in [
            ("--process-workers", processWorkers, ConfigurationLimits.size(of: .process)),
            ("--threads", threads, ConfigurationLimits.size(of: .thread)),
            ("--async-limit", asyncLimit, ConfigurationLimits.size(of: .async)),
            ("--queue-limit", queueLimit, ConfigurationLimits.queueLimit),
        ] {
            if let value, !range.contains(value) {
                throw ValidationError("\(name) must be \(range.lowerBound)...\(range.upperBound), got \(value)")
            }
        }
        if let metricsListen, metricsListen != "off", case .failure(let error) = ListenAddress.parse(metricsListen) {
            throw ValidationError("--metrics-listen: \(error.description)")
        }
        if let metricsInterval, !ConfigurationLimits.metricsIntervalSeconds.contains(metricsInterval) {
            throw ValidationError("--metrics-interval must be \(ConfigurationLimits.text(ConfigurationLimits.metricsIntervalSeconds)) seconds")
        }
    }

    func run() async throws {
        if let workerFd {
            WorkerProcess.run(descriptor: workerFd, parent: workerParent)
        }
        var overrides = ConfigurationLoader.Overrides(
            socketPath: socket, processWorkers: processWorkers, threads: threads, asyncLimit: asyncLimit,
            queueLimit: queueLimit, metricsIntervalSeconds: metricsInterval, logLevel: logLevel
        )
        overrides.metricsListen = metricsListen
        let loader = ConfigurationLoader(filePath: config, overrides: overrides)
        let loaded: DaemonConfiguration
        do {
            loaded = try await loader.load()
        } catch {
            bootstrapLogging(level: .info)
            Logger(label: "concd").critical("concd cannot start: \(error)")
            throw ExitCode(78)  // EX_CONFIG
        }
        var configuration = loaded
        configuration.metricsToJournal = logsToJournal
        bootstrapLogging(level: configuration.logLevel)
        let logger = Logger(label: "concd")
        do {
            try await Daemon(configuration: configuration, loader: loader, logger: logger).run()
        } catch {
            logger.critical("concd could not start: \(error)")
            throw ExitCode(1)
        }
    }

    private var logsToJournal: Bool {
        logTarget == .journal || (logTarget == .auto && Journal.isStderrConnected)
    }

    private func bootstrapLogging(level: Logger.Level) {
        let journal = logsToJournal
        LoggingSystem.bootstrap { label in
            if journal { return JournalLogHandler(label: label, level: level) }
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
    }
}

extension Logger.Level: @retroactive ExpressibleByArgument {}
