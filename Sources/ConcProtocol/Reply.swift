/// What the daemon answers: one JSON object a line, carrying the request's `id`.
public struct Reply: Codable, Sendable, Equatable {
    /// The request's id, or `null` when the request had none or could not be read.
    public var id: UInt64?
    /// Whether the request succeeded.
    public var ok: Bool
    /// For a task: its result (for `cpu`, the integer sum).
    public var value: TaskValue?
    /// For a task: the workload kind that ran.
    public var kind: WorkloadKind?
    /// For a task: the pool it ran on.
    public var pool: PoolName?
    /// For a task: which worker ran it (`process-1`, `thread-3`, `async`).
    public var worker: String?
    /// For a process worker: its pid.
    public var workerPID: Int32?
    /// For a task: microseconds from the daemon receiving it to the result, queueing included.
    public var wallMicroseconds: UInt64?
    /// For `ping`: the protocol version.
    public var version: Int?
    /// For `status`: the daemon's state.
    public var status: DaemonStatus? {
        get { statusBox?.value }
        set { statusBox = newValue.map(Boxed.init) }
    }
    /// For a task: how many times it ran (more than 1 when its worker died and `retries` allowed another try).
    public var attempts: Int?
    /// For admin operations: what was done, as a sentence.
    public var detail: String?
    /// On failure: what went wrong.
    public var error: WireError?
    /// For `metrics`: the Prometheus text exposition (format 0.0.4).
    public var metrics: String?
    /// For a durable submission, `wait` and `cancel`: the job's id.
    public var jobID: Int64?
    /// For `job`: the job.
    public var job: JobInfo? {
        get { jobBox?.value }
        set { jobBox = newValue.map(Boxed.init) }
    }
    /// The two large fields, rare on the wire, held behind a reference: inline they made every
    /// reply (a task's too) several hundred bytes, copied and destroyed field by field several
    /// times on its way out (about 1 000 instructions a reply, callgrind).
    @usableFromInline var statusBox: Boxed<DaemonStatus>?
    @usableFromInline var jobBox: Boxed<JobInfo>?
    /// For `jobs`: the jobs, newest first.
    public var jobs: [JobInfo]?

    enum CodingKeys: String, CodingKey {
        case id, ok, value, kind, pool, worker
        case workerPID = "worker_pid"
        case wallMicroseconds = "wall_us"
        case version, status, error, attempts, detail, metrics, job, jobs
        case jobID = "job_id"
    }

    /// A task's reply, as the daemon writes one for every task it ran: a task's fields set, the
    /// rest nil. Every field is set here, not through another initializer: passing the large
    /// optional fields as nil cost each task reply about 800 instructions, and delegating built
    /// the reply in a temporary that was copied and destroyed, about 600 more (callgrind).
    @inlinable
    public init(
        task id: UInt64?, ok: Bool, value: TaskValue?, kind: WorkloadKind?, pool: PoolName?, worker: String?, workerPID: Int32?,
        wallMicroseconds: UInt64?, error: WireError?, attempts: Int?
    ) {
        self.id = id
        self.ok = ok
        self.value = value
        self.kind = kind
        self.pool = pool
        self.worker = worker
        self.workerPID = workerPID
        self.wallMicroseconds = wallMicroseconds
        self.version = nil
        self.statusBox = nil
        self.error = error
        self.attempts = attempts
        self.detail = nil
        self.metrics = nil
        self.jobID = nil
        self.jobBox = nil
        self.jobs = nil
    }

    /// Creates a reply; fields left `nil` are omitted on the wire.
    public init(
        id: UInt64?, ok: Bool, value: TaskValue? = nil, kind: WorkloadKind? = nil, pool: PoolName? = nil,
        worker: String? = nil, workerPID: Int32? = nil, wallMicroseconds: UInt64? = nil, version: Int? = nil,
        status: DaemonStatus? = nil, error: WireError? = nil, attempts: Int? = nil, detail: String? = nil,
        metrics: String? = nil, jobID: Int64? = nil, job: JobInfo? = nil, jobs: [JobInfo]? = nil
    ) {
        self.init(
            task: id, ok: ok, value: value, kind: kind, pool: pool, worker: worker, workerPID: workerPID,
            wallMicroseconds: wallMicroseconds, error: error, attempts: attempts
        )
        self.version = version
        self.statusBox = status.map(Boxed.init)
        self.detail = detail
        self.metrics = metrics
        self.jobID = jobID
        self.jobBox = job.map(Boxed.init)
        self.jobs = jobs
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.init(
            id: try container.decodeIfPresent(UInt64.self, forKey: .id),
            ok: try container.decode(Bool.self, forKey: .ok),
            value: try container.decodeIfPresent(TaskValue.self, forKey: .value),
            kind: try container.decodeIfPresent(WorkloadKind.self, forKey: .kind),
            pool: try container.decodeIfPresent(PoolName.self, forKey: .pool),
            worker: try container.decodeIfPresent(String.self, forKey: .worker),
            workerPID: try container.decodeIfPresent(Int32.self, forKey: .workerPID),
            wallMicroseconds: try container.decodeIfPresent(UInt64.self, forKey: .wallMicroseconds),
            version: try container.decodeIfPresent(Int.self, forKey: .version),
            status: try container.decodeIfPresent(DaemonStatus.self, forKey: .status),
            error: try container.decodeIfPresent(WireError.self, forKey: .error),
            attempts: try container.decodeIfPresent(Int.self, forKey: .attempts),
            detail: try container.decodeIfPresent(String.self, forKey: .detail),
            metrics: try container.decodeIfPresent(String.self, forKey: .metrics),
            jobID: try container.decodeIfPresent(Int64.self, forKey: .jobID),
            job: try container.decodeIfPresent(JobInfo.self, forKey: .job),
            jobs: try container.decodeIfPresent([JobInfo].self, forKey: .jobs)
        )
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encodeIfPresent(id, forKey: .id)
        try container.encode(ok, forKey: .ok)
        try container.encodeIfPresent(value, forKey: .value)
        try container.encodeIfPresent(kind, forKey: .kind)
        try container.encodeIfPresent(pool, forKey: .pool)
        try container.encodeIfPresent(worker, forKey: .worker)
        try container.encodeIfPresent(workerPID, forKey: .workerPID)
        try container.encodeIfPresent(wallMicroseconds, forKey: .wallMicroseconds)
        try container.encodeIfPresent(version, forKey: .version)
        try container.encodeIfPresent(status, forKey: .status)
        try container.encodeIfPresent(error, forKey: .error)
        try container.encodeIfPresent(attempts, forKey: .attempts)
        try container.encodeIfPresent(detail, forKey: .detail)
        try container.encodeIfPresent(metrics, forKey: .metrics)
        try container.encodeIfPresent(jobID, forKey: .jobID)
        try container.encodeIfPresent(job, forKey: .job)
        try container.encodeIfPresent(jobs, forKey: .jobs)
    }

    /// A failure reply.
    public static func failure(id: UInt64?, _ error: WireError) -> Reply {
        Reply(id: id, ok: false, error: error)
    }
}

/// The result of a task.
/// A value behind a reference that never changes (a new value is a new box), so a struct holding
/// one copies a pointer; compared by value.
@usableFromInline
final class Boxed<Value: Sendable & Equatable>: Sendable, Equatable {
    let value: Value
    init(_ value: Value) { self.value = value }
    @usableFromInline static func == (left: Boxed, right: Boxed) -> Bool { left.value == right.value }
}

public enum TaskValue: Codable, Sendable, Equatable {
    /// An integer: the sum for `cpu`, the milliseconds waited for `sleep`.
    case integer(Int64)
    /// The summary of an HTTP GET.
    case http(HTTPSummary)
    /// No value (`noop`).
    case empty
    /// What a user's function returned (`call`).
    case json(JSONText)
    /// How a command ended and what it wrote (`exec`). Boxed: inline, its two strings and five
    /// numbers made every reply, and each copy of one, about 80 bytes larger.
    indirect case command(CommandResult)

    /// Reads a value by its shape: null, an integer, an HTTP summary (an object of exactly `bytes`,
    /// `status` and `time_us`), a command's result (`stdout`, `stderr`, `exit_code` or `signal`, and
    /// only the keys of ``CommandResult``), else any JSON a function returned.
    public init(from decoder: any Decoder) throws {
        let value = try JSONValue(from: decoder)
        switch value {
        case .null: self = .empty
        case .integer(let integer): self = .integer(integer)
        case .object(let members) where Set(members.map(\.0)) == ["bytes", "status", "time_us"]:
            let container = try decoder.singleValueContainer()
            self = .http(try container.decode(HTTPSummary.self))
        case .object(let members) where Self.isCommandResult(Set(members.map(\.0))):
            let container = try decoder.singleValueContainer()
            self = .command(try container.decode(CommandResult.self))
        default: self = .json(JSONText(value))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .integer(let integer): try container.encode(integer)
        case .http(let summary): try container.encode(summary)
        case .empty: try container.encodeNil()
        case .json(let text): try container.encode(text)
        case .command(let result): try container.encode(result)
        }
    }

    private static func isCommandResult(_ keys: Set<String>) -> Bool {
        keys.isSubset(of: CommandResult.keys) && keys.contains("stdout") && keys.contains("stderr")
            && (keys.contains("exit_code") || keys.contains("signal"))
    }
}

/// What an HTTP GET returned.
public struct HTTPSummary: Codable, Sendable, Equatable {
    /// The HTTP status code.
    public var status: Int
    /// Bytes of body received.
    public var bytes: UInt64
    /// Microseconds the transfer took.
    public var timeMicroseconds: UInt64

    enum CodingKeys: String, CodingKey {
        case status, bytes
        case timeMicroseconds = "time_us"
    }

    /// Creates a summary.
    public init(status: Int, bytes: UInt64, timeMicroseconds: UInt64) {
        self.status = status
        self.bytes = bytes
        self.timeMicroseconds = timeMicroseconds
    }
}
