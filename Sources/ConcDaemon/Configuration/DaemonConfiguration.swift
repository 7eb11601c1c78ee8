import ConcFleet
import CConcShims
import ConcProtocol
import Glibc
import Logging

/// Everything the daemon needs to start. A value type with defaults; every key is documented in
/// etc/concd/concd.yaml and docs/operations.md.
public struct DaemonConfiguration: Sendable, Equatable {
    /// The control socket's path. Default: `$CONCD_SOCKET`, else `/run/concd/concd.sock`.
    public var socketPath: String
    /// Worker processes in the process pool. Default: the number of cores.
    public var processWorkers: Int
    /// The most workers the process pool grows to while work waits; nil for `processWorkers` (a fixed size).
    public var processMaximum: Int?
    /// Seconds a process worker above `processWorkers` may stay idle before it retires. Default: 10.
    public var processIdleTimeoutSeconds: Double = 10
    /// Each process worker's hard memory limit in MiB, enforced by the kernel; 0 (the default) none.
    public var processMemoryLimitMegabytes: Int = 0
    /// How that limit is enforced. Default: a cgroup where concd may make one, else RLIMIT_DATA.
    public var processMemoryLimitMechanism: MemoryLimit.Mechanism = .auto
    /// Parked threads in the thread pool. Default: 4 × the number of cores.
    public var threads: Int
    /// The most threads the thread pool grows to while work waits; nil for the default (256, and
    /// never below `threads`).
    public var threadMaximum: Int?
    /// Seconds a thread above `threads` waits for work before it exits. Default: 10.
    public var threadIdleTimeoutSeconds: Double = 10
    /// Tasks the async pool runs at once before it answers busy. Default: 100,000.
    public var asyncLimit: Int
    /// Jobs that may wait in the process and thread pools' queues each. Default: 10,000.
    public var queueLimit: Int
    /// Keep-alive connections the async pool opens to one HTTP server. Default: 1,024.
    public var asyncConnectionsPerHost: Int
    /// The worker binary the process pool starts. Default: `concd-worker` beside this executable,
    /// else this executable in worker mode.
    public var workerExecutable: String?
    /// Replace a process worker after this many tasks; 0 never. Default: 0.
    public var processMaxTasks: Int = 0
    /// Up to this many extra tasks, drawn per worker, so workers are not all replaced at once. Default: 0.
    public var processMaxTasksJitter: Int = 0
    /// Replace a process worker after a task leaves it above this resident memory (MiB); 0 never. Default: 0.
    public var processMaxRSSMegabytes: Int = 0
    /// Seconds between the journal's metrics records. Default: 10.
    public var metricsIntervalSeconds: Double = 10
    /// The least severe message logged. Default: info.
    public var logLevel: Logger.Level = .info
    /// Whether metrics records go to the journal (with MESSAGE_ID and CONCD_* fields) rather than
    /// to the log. Default: when stderr is the journal stream.
    public var metricsToJournal: Bool = Journal.isStderrConnected
    /// Where to serve Prometheus metrics over HTTP (`GET /metrics`); `nil`, the default, serves none.
    public var metricsListen: ListenAddress?
    /// What one client connection may cost: send buffer, stall timeout, metrics connections and idle time.
    public var connectionLimits = ConnectionLimits()
    /// Who may run which commands with `exec`, and how much of their output is kept. Default: only
    /// root and the daemon's user; 64 KiB of each stream.
    public var exec = ExecPolicy()
    /// The pools the configuration names beside the built-in ones (`pools.NAME.model`), in its
    /// order. Default: none.
    public var namedPools: [PoolConfiguration] = []
    /// The fleet's queue (`queue:`), nil for a single host without a database.
    package var queue: FleetSettings?

    /// Every pool to run: the built-in process, thread and async pools, then the named ones.
    public var pools: [PoolConfiguration] {
        var process = PoolConfiguration(name: .process, model: .process, size: processWorkers)
        process.maxTasks = processMaxTasks
        process.maxTasksJitter = processMaxTasksJitter
        process.maxRSSMegabytes = processMaxRSSMegabytes
        process.maximum = processMaximum
        process.idleTimeoutSeconds = processIdleTimeoutSeconds
        process.memoryLimitMegabytes = processMemoryLimitMegabytes
        process.memoryLimitMechanism = processMemoryLimitMechanism
        var async = PoolConfiguration(name: .async, model: .async, size: asyncLimit)
        async.connectionsPerHost = asyncConnectionsPerHost
        var thread = PoolConfiguration(name: .thread, model: .thread, size: threads)
        thread.maximum = threadMaximum
        thread.idleTimeoutSeconds = threadIdleTimeoutSeconds
        return [process, thread, async] + namedPools
    }

    /// The socket path used when none is given: `$CONCD_SOCKET`, else `/run/concd/concd.sock`.
    public static var defaultSocketPath: String {
        if let fromEnvironment = getenv("CONCD_SOCKET"), fromEnvironment.pointee != 0 {
            return String(cString: fromEnvironment)
        }
        return "/run/concd/concd.sock"
    }

    /// The number of cores this process may run on.
    public static var cores: Int {
        Int(concd_available_cores())
    }

    /// Creates a configuration; omitted values take the defaults above.
    public init(
        socketPath: String? = nil, processWorkers: Int? = nil, threads: Int? = nil, asyncLimit: Int = 100_000,
        queueLimit: Int = 10_000, asyncConnectionsPerHost: Int = 1024, workerExecutable: String? = nil
    ) {
        self.socketPath = socketPath ?? Self.defaultSocketPath
        self.processWorkers = processWorkers ?? PoolConfiguration.defaultSize(of: .process)
        self.threads = threads ?? PoolConfiguration.defaultSize(of: .thread)
        self.asyncLimit = asyncLimit
        self.queueLimit = queueLimit
        self.asyncConnectionsPerHost = asyncConnectionsPerHost
        self.workerExecutable = workerExecutable
    }
}
