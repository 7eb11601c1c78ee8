/// A snapshot of the daemon, as `concctl status --json` prints it.
public struct DaemonStatus: Codable, Sendable, Equatable {
    /// The daemon's pid.
    public var pid: Int32
    /// The daemon's version.
    public var version: String
    /// Seconds since the daemon started.
    public var uptimeSeconds: Double
    /// The control socket's path.
    public var socket: String
    /// One entry per pool: the built-in ones (process, thread, async), then those the configuration
    /// names, in its order.
    public var pools: [PoolStatus]
    /// CPU time used so far by the daemon and its live worker processes; absent from older daemons.
    public var cpu: CPUUsage?
    /// The fleet's queue, when the daemon takes durable jobs (`queue:` in concd.yaml).
    public var queue: QueueStatus?

    enum CodingKeys: String, CodingKey {
        case pid, version, socket, pools, cpu, queue
        case uptimeSeconds = "uptime_s"
    }

    /// Creates a snapshot.
    public init(pid: Int32, version: String, uptimeSeconds: Double, socket: String, pools: [PoolStatus]) {
        self.pid = pid
        self.version = version
        self.uptimeSeconds = uptimeSeconds
        self.socket = socket
        self.pools = pools
    }
}

/// Counters of one pool.
public struct PoolStatus: Codable, Sendable, Equatable {
    /// Which pool: its name (on the wire `kind`, as before pools had names of their own).
    public var kind: PoolName
    /// The pool's model; absent from older daemons, whose pools are the built-in ones.
    public var model: PoolModel?
    /// Workers (processes, threads) now or, for async, the in-flight limit.
    public var size: Int
    /// The fewest workers an elastic pool keeps; absent for a pool of a fixed size and from older daemons.
    public var minimum: Int?
    /// The most workers an elastic pool grows to; absent for a pool of a fixed size and from older daemons.
    public var maximum: Int?
    /// Tasks running now.
    public var busy: Int
    /// Workers free now.
    public var idle: Int
    /// Tasks accepted but not started.
    public var queued: Int
    /// The most tasks that may wait in the queue.
    public var queueLimit: Int
    /// Tasks finished with a result.
    public var completed: UInt64
    /// Tasks finished with an error.
    public var failed: UInt64
    /// For the process pool: each worker.
    public var workers: [WorkerStatus]?
    /// Submissions the pool refused (busy, shutting down); absent from older daemons.
    public var rejected: UInt64?
    /// Tasks run again after their worker died (`retries`); absent from older daemons.
    public var retried: UInt64?
    /// Tasks finished per second over the last few seconds (``RecentWindow/seconds``).
    public var tasksPerSecond: Double?
    /// Median wall time, in microseconds, of the tasks finished in that window (0 when none).
    public var p50Microseconds: UInt64?
    /// 99th-percentile wall time, in microseconds, of the tasks finished in that window (0 when none).
    public var p99Microseconds: UInt64?

    enum CodingKeys: String, CodingKey {
        case kind, model, size, busy, idle, queued, completed, failed, workers, rejected, retried
        case minimum = "min"
        case maximum = "max"
        case queueLimit = "queue_limit"
        case tasksPerSecond = "tasks_per_s"
        case p50Microseconds = "p50_us"
        case p99Microseconds = "p99_us"
    }

    /// Creates a pool's counters.
    public init(
        kind: PoolName, model: PoolModel? = nil, size: Int, busy: Int, idle: Int, queued: Int, queueLimit: Int,
        completed: UInt64, failed: UInt64, workers: [WorkerStatus]? = nil
    ) {
        self.kind = kind
        self.model = model ?? kind.builtInModel
        self.size = size
        self.busy = busy
        self.idle = idle
        self.queued = queued
        self.queueLimit = queueLimit
        self.completed = completed
        self.failed = failed
        self.workers = workers
    }

    /// The size as `status` and `top` show it: `8`, or `12 (8-256)` for an elastic pool, its
    /// minimum and maximum in brackets.
    public var sizeText: String {
        guard let bounds else { return "\(size)" }
        return "\(size) \(bounds)"
    }

    /// `(8-256)` for an elastic pool (its maximum above its minimum), nil for a pool of a fixed size.
    public var bounds: String? {
        guard let minimum, let maximum, maximum > minimum else { return nil }
        return "(\(minimum)-\(maximum))"
    }

    /// The pool's model: as the daemon says, else that of the built-in pool of this name.
    public var resolvedModel: PoolModel? {
        model ?? kind.builtInModel
    }
}

/// One process worker.
public struct WorkerStatus: Codable, Sendable, Equatable {
    /// The worker's name, as replies carry it (`process-0`).
    public var name: String
    /// The worker's pid, or `nil` while it is being replaced.
    public var pid: Int32?
    /// Whether it is running a task.
    public var busy: Bool
    /// Tasks it has run since it was spawned.
    public var tasks: UInt64

    /// Creates a worker's status.
    public init(name: String, pid: Int32?, busy: Bool, tasks: UInt64) {
        self.name = name
        self.pid = pid
        self.busy = busy
        self.tasks = tasks
    }
}
