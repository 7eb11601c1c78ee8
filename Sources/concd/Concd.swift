import ArgumentParser
import ConcDaemon
import Logging

/// `concd`: the warm-pool daemon. Runs in the foreground (systemd, or a developer's shell).
@main
struct Concd: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "concd",
        abstract: "Keeps warm process, thread and async pools and runs work on them.",
        discussion: """
            Runs in the foreground until SIGTERM or SIGINT. Submit work with concctl.

            Example:
              concd --socket /tmp/concd.sock --process-workers 4
            """,
        version: Daemon.version
    )

    @Option(help: "The control socket's path (default: $CONCD_SOCKET, else /run/concd/concd.sock).")
    var socket: String?

    @Option(help: "Worker processes in the process pool (default: the number of cores).")
    var processWorkers: Int?

    @Option(help: "Parked threads in the thread pool (default: 4 x the number of cores).")
    var threads: Int?

    @Option(help: "Tasks the async pool runs at once before it answers busy.")
    var asyncLimit: Int = 100_000

    @Option(help: "Tasks that may wait in each of the process and thread pools' queues.")
    var queueLimit: Int = 10_000

    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical.")
    var logLevel: Logger.Level = .info

    @Option(help: .hidden)
    var workerFd: Int32?

    @Option(help: .hidden)
    var workerParent: Int32?

    func validate() throws {
        for (name, value) in [("--process-workers", processWorkers), ("--threads", threads)] {
            if let value, !(1...1024).contains(value) {
                throw ValidationError("\(name) must be 1...1024, got \(value)")
            }
        }
        guard asyncLimit >= 1 else { throw ValidationError("--async-limit must be at least 1") }
        guard queueLimit >= 1 else { throw ValidationError("--queue-limit must be at least 1") }
    }

    func run() async throws {
        if let workerFd {
            WorkerProcess.run(descriptor: workerFd, parent: workerParent)
        }
        let level = logLevel
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        let logger = Logger(label: "concd")
        let configuration = DaemonConfiguration(
            socketPath: socket,
            processWorkers: processWorkers,
            threads: threads,
            asyncLimit: asyncLimit,
            queueLimit: queueLimit
        )
        do {
            try await Daemon(configuration: configuration, logger: logger).run()
        } catch {
            logger.critical("concd could not start: \(error)")
            throw ExitCode(1)
        }
    }
}

extension Logger.Level: @retroactive ExpressibleByArgument {}
