/// Where a durable job is in its life (docs/fleet.md has the diagram).
public enum JobState: String, Codable, Sendable, CaseIterable {
    /// Stored, waiting for a host to claim it (or for its retry's backoff to pass).
    case queued
    /// Claimed by a host that holds its lease.
    case running
    /// Finished with a result; final.
    case succeeded
    /// Failed on its last attempt (or with an error that no retry can mend); final.
    case failed
    /// Cancelled before it finished; final.
    case cancelled

    /// Whether the job will not change again.
    public var isFinal: Bool {
        switch self {
        case .queued, .running: return false
        case .succeeded, .failed, .cancelled: return true
        }
    }
}

/// How a submission asks to be stored in the fleet's queue instead of run at once on this host.
public struct Durability: Sendable, Equatable {
    /// Answer with the job's id as soon as it is stored, instead of waiting for its result.
    public var detach: Bool
    /// How many times the job may run in all before it is kept as failed; nil takes the queue's default.
    public var maxAttempts: Int?

    /// Creates durable options.
    public init(detach: Bool = false, maxAttempts: Int? = nil) throws(WireError) {
        if let maxAttempts, !(1...ProtocolLimits.maxJobAttempts).contains(maxAttempts) {
            throw WireError(.invalidArgument, "attempts must be 1...\(ProtocolLimits.maxJobAttempts), got \(maxAttempts)")
        }
        self.detach = detach
        self.maxAttempts = maxAttempts
    }
}

/// One attempt's failure, kept with the job.
public struct JobAttemptError: Codable, Sendable, Equatable {
    /// Which attempt failed (1 for the first run).
    public var attempt: Int
    /// The host that ran it.
    public var host: String?
    /// What went wrong.
    public var error: WireError

    /// Creates an attempt's error.
    public init(attempt: Int, host: String?, error: WireError) {
        self.attempt = attempt
        self.host = host
        self.error = error
    }
}

/// A durable job as `job` and `jobs` report it.
public struct JobInfo: Codable, Sendable, Equatable {
    /// The job's id, unique in its database.
    public var id: Int64
    /// Where it is now.
    public var state: JobState
    /// The pool it runs on.
    public var pool: String
    /// Its workload kind (`cpu`, `noop`, `call`...).
    public var kind: String
    /// Attempts started so far.
    public var attempt: Int
    /// The most attempts it may have.
    public var maxAttempts: Int
    /// The host running it, or the one that ran its last attempt.
    public var host: String?
    /// Seconds since the epoch.
    public var createdAt: Double
    /// When its current or last attempt started.
    public var startedAt: Double?
    /// When it reached its final state.
    public var finishedAt: Double?
    /// For a queued retry: when it may run again.
    public var runAt: Double?
    /// The final reply (`value` or `error`) once it succeeded or failed.
    public var result: JobResult?
    /// Every failed attempt's error, oldest first.
    public var errors: [JobAttemptError]

    enum CodingKeys: String, CodingKey {
        case id, state, pool, kind, attempt, host, result, errors
        case maxAttempts = "max_attempts"
        case createdAt = "created_at"
        case startedAt = "started_at"
        case finishedAt = "finished_at"
        case runAt = "run_at"
    }

    /// Creates a job's report.
    public init(
        id: Int64, state: JobState, pool: String, kind: String, attempt: Int, maxAttempts: Int, host: String?,
        createdAt: Double, startedAt: Double? = nil, finishedAt: Double? = nil, runAt: Double? = nil,
        result: JobResult? = nil, errors: [JobAttemptError] = []
    ) {
        self.id = id
        self.state = state
        self.pool = pool
        self.kind = kind
        self.attempt = attempt
        self.maxAttempts = maxAttempts
        self.host = host
        self.createdAt = createdAt
        self.startedAt = startedAt
        self.finishedAt = finishedAt
        self.runAt = runAt
        self.result = result
        self.errors = errors
    }
}

/// What a finished job's last attempt answered.
public struct JobResult: Codable, Sendable, Equatable {
    /// Its value, on success.
    public var value: TaskValue?
    /// Its error, on failure.
    public var error: WireError?
    /// The worker that ran it.
    public var worker: String?
    /// Microseconds the attempt took on its host.
    public var wallMicroseconds: UInt64?

    enum CodingKeys: String, CodingKey {
        case value, error, worker
        case wallMicroseconds = "wall_us"
    }

    /// Creates a result.
    public init(value: TaskValue? = nil, error: WireError? = nil, worker: String? = nil, wallMicroseconds: UInt64? = nil) {
        self.value = value
        self.error = error
        self.worker = worker
        self.wallMicroseconds = wallMicroseconds
    }
}

/// The fleet's queue as `status` reports it: jobs per state and the hosts that take them.
public struct QueueStatus: Codable, Sendable, Equatable {
    /// Whether this host's connection to the database works now.
    public var connected: Bool
    /// Why not, when it does not.
    public var problem: String?
    /// This host's name in the fleet.
    public var host: String
    /// The local pools that take jobs from the queue.
    public var pools: [String]
    /// Jobs per state, as last counted (every few seconds).
    public var jobs: [String: Int]
    /// The fleet's hosts, as their heartbeats last said.
    public var hosts: [FleetHostStatus]
    /// Jobs this host runs now.
    public var running: Int
    /// Jobs this host claimed, completed, and lost to a rescue or a cancel since it started.
    public var claimed: Int
    public var completed: Int
    /// Completions the database refused: the job's lease had passed to another attempt.
    public var fenced: Int
    /// Jobs this host took back from hosts whose leases ran out.
    public var rescued: Int
    /// Claims this host made, and their round trips' total seconds (their ratio: the mean claim latency).
    public var claims: Int?
    public var claimSeconds: Double?

    enum CodingKeys: String, CodingKey {
        case connected, problem, host, pools, jobs, hosts, running, claimed, completed, fenced, rescued, claims
        case claimSeconds = "claim_seconds"
    }

    /// Creates a queue report.
    public init(
        connected: Bool, problem: String?, host: String, pools: [String], jobs: [String: Int], hosts: [FleetHostStatus],
        running: Int, claimed: Int, completed: Int, fenced: Int, rescued: Int, claims: Int? = nil, claimSeconds: Double? = nil
    ) {
        self.claims = claims
        self.claimSeconds = claimSeconds
        self.connected = connected
        self.problem = problem
        self.host = host
        self.pools = pools
        self.jobs = jobs
        self.hosts = hosts
        self.running = running
        self.claimed = claimed
        self.completed = completed
        self.fenced = fenced
        self.rescued = rescued
    }
}

/// One host of the fleet, as its last heartbeat said.
public struct FleetHostStatus: Codable, Sendable, Equatable {
    /// Its name (`queue.host_name`).
    public var name: String
    /// Seconds since its last heartbeat, as the database's clock says.
    public var heartbeatAge: Double
    /// Jobs it could take more of then.
    public var free: Int
    /// Jobs it ran then.
    public var running: Int

    enum CodingKeys: String, CodingKey {
        case name, free, running
        case heartbeatAge = "heartbeat_age"
    }

    /// Creates a host's report.
    public init(name: String, heartbeatAge: Double, free: Int, running: Int) {
        self.name = name
        self.heartbeatAge = heartbeatAge
        self.free = free
        self.running = running
    }
}
