/// What a client asks of the daemon: one JSON object a line (docs/protocol.md).
public struct Request: Sendable, Equatable {
    /// Chosen by the client and echoed in the reply, so one connection can carry many requests in flight.
    public var id: UInt64?
    /// What to do.
    public var operation: Operation

    /// The operations of protocol version 1.
    public enum Operation: Sendable, Equatable {
        /// Round-trips through the daemon without touching a pool.
        case ping
        /// Reports the daemon's pools and counters.
        case status
        /// Runs a workload on a pool.
        case submit(Submission)
        /// Admin: changes a pool's size until the next reload or restart.
        case resize(pool: PoolName, size: Int)
        /// Admin: re-reads the configuration, as SIGHUP does.
        case reload
        /// Admin: stops the daemon gracefully, as SIGTERM does.
        case shutdown
        /// Admin: SIGKILLs one process worker; the pool replaces it.
        case killWorker(pid: Int32)

        /// Reports the daemon's metrics in the Prometheus text format.
        case metrics
        /// Reports one durable job.
        case job(id: Int64)
        /// Waits for a durable job to finish and answers with its result.
        case waitJob(id: Int64)
        /// Cancels a durable job: a queued one never starts, a running one is stopped where it runs.
        case cancelJob(id: Int64)
        /// Lists durable jobs, newest first, optionally in one state.
        case jobs(state: JobState?, limit: Int)

        /// Whether only root or the daemon's own user may ask for it.
        public var isAdmin: Bool {
            switch self {
            case .ping, .status, .submit, .metrics, .job, .waitJob, .cancelJob, .jobs: return false
            case .resize, .reload, .shutdown, .killWorker: return true
            }
        }

        /// Whether the daemon needs to know who asks (the kernel's word, not the client's): admin
        /// operations, and `exec`, which the exec policy allows per user.
        public var needsCaller: Bool {
            if isAdmin { return true }
            if case .submit(let submission) = self, submission.workload.kind == .exec { return true }
            return false
        }

        /// The `op` string on the wire.
        public var name: String {
            switch self {
            case .ping: return "ping"
            case .status: return "status"
            case .submit: return "submit"
            case .metrics: return "metrics"
            case .resize: return "resize"
            case .reload: return "reload"
            case .shutdown: return "shutdown"
            case .killWorker: return "kill_worker"
            case .job: return "job"
            case .waitJob: return "wait"
            case .cancelJob: return "cancel"
            case .jobs: return "jobs"
            }
        }
    }

    /// Creates a request.
    public init(id: UInt64?, operation: Operation) {
        self.id = id
        self.operation = operation
    }
}

/// A workload and where and how long to run it.
public struct Submission: Sendable, Equatable {
    /// The validated workload.
    public var workload: Workload
    /// The pool to run on; `nil` means the workload's natural pool.
    public var pool: PoolName?
    /// The deadline in milliseconds; `nil` means none.
    public var timeoutMilliseconds: Int64?
    /// How many more times to run the task when its worker process dies under it (`worker_died`).
    public var retries: Int
    /// Store it in the fleet's queue (PostgreSQL) and run it on whichever host claims it; nil runs it here and now.
    public var durability: Durability?

    /// Creates a submission, checking that a built-in pool can run the workload and the deadline is
    /// in range. Whether a pool named in the daemon's configuration can run it, the daemon checks.
    public init(
        workload: Workload, pool: PoolName? = nil, timeoutMilliseconds: Int64? = nil, retries: Int = 0,
        durability: Durability? = nil
    ) throws(WireError) {
        if let pool, let model = pool.builtInModel, let refusal = workload.kind.refusal(onPool: pool, model: model) {
            throw refusal
        }
        if let timeoutMilliseconds, timeoutMilliseconds <= 0 || timeoutMilliseconds > ProtocolLimits.maxTimeoutMilliseconds {
            throw WireError(
                .invalidArgument,
                "timeout_ms must be 1...\(ProtocolLimits.maxTimeoutMilliseconds), got \(timeoutMilliseconds)"
            )
        }
        if pool == nil, workload.kind.naturalPool == nil {
            throw WireError(.badRequest, "a call needs field 'pool': the pool that runs the program with this function")
        }
        if let pool, pool.builtInModel != nil, workload.kind == .call {
            throw WireError(
                .unsupportedPool,
                "the built-in \(pool) pool runs concd's own workloads; a call goes to a pool that runs a program (pools.NAME.command)"
            )
        }
        guard (0...ProtocolLimits.maxRetries).contains(retries) else {
            throw WireError(.invalidArgument, "retries must be 0...\(ProtocolLimits.maxRetries), got \(retries)")
        }
        self.workload = workload
        self.pool = pool
        self.timeoutMilliseconds = timeoutMilliseconds
        self.retries = retries
        self.durability = durability
    }

    /// The pool this submission runs on.
    public var resolvedPool: PoolName {
        // init guarantees one of the two (only a call has no natural pool, and it must name one).
        pool ?? workload.kind.naturalPool ?? .process
    }
}
