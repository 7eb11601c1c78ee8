/// The typed error codes of the control protocol. Clients decide on these, never on messages.
public enum ErrorCode: String, Codable, Sendable, CaseIterable {
    /// The frame was not a JSON object (or not UTF-8).
    case invalidJSON = "invalid_json"
    /// The frame was longer than ``ProtocolLimits/maxFrameBytes``; the connection is closed after this reply.
    case frameTooLarge = "frame_too_large"
    /// The connection sent `connections.rejected_in_a_row` frames in a row that were all rejected
    /// (a broken client or a fuzzer); the connection is closed after this reply, which has no id.
    case tooManyRejected = "too_many_rejected"
    /// The request asked for a protocol version this daemon does not speak.
    case unsupportedVersion = "unsupported_version"
    /// The request lacks a required field or has a field of the wrong type.
    case badRequest = "bad_request"
    /// `op` names no operation this daemon knows.
    case unknownOperation = "unknown_op"
    /// `kind` names no workload this daemon knows.
    case unknownKind = "unknown_kind"
    /// A workload argument is out of range or malformed (negative n, a URL that is not http(s)).
    case invalidArgument = "invalid_argument"
    /// `pool` names no pool, or a pool that cannot run this kind of workload.
    case unsupportedPool = "unsupported_pool"
    /// The result would not fit a signed 64-bit integer.
    case overflow
    /// An HTTP GET failed before a response arrived (refused, unreachable, DNS, TLS).
    case httpFailed = "http_failed"
    /// The task did not finish within its deadline.
    case timeout
    /// The pool's queue is full; try again later.
    case busy
    /// The worker process running the task died.
    case workerDied = "worker_died"
    /// The task took its worker past the pool's memory limit (`memory_limit_mb`): the kernel stopped
    /// it, and the worker was replaced. Not run again: it would do the same.
    case outOfMemory = "out_of_memory"
    /// The task killed several workers in a row; it is not run again.
    case poisoned = "poison_task"
    /// The request needs more privilege than the caller has (admin operations).
    case permissionDenied = "permission_denied"
    /// The request names something that does not exist (a pid that is not a worker).
    case notFound = "not_found"
    /// The daemon is shutting down and takes no new work.
    case shuttingDown = "shutting_down"
    /// A call names a function the pool's program does not have (as its workers' ready message listed them).
    case unknownFunction = "unknown_function"
    /// The user's function raised an error (its type, message and traceback come with it).
    case taskFailed = "task_failed"
    /// The user's worker program broke the worker protocol (a reply that is not JSON, too large, or
    /// answering a task it was not given); concd replaces the worker.
    case badWorkerReply = "bad_worker_reply"
    /// A durable job or job operation reached a daemon that has no queue (no `queue:` section).
    case noQueue = "no_queue"
    /// The fleet's database cannot be reached now; nothing was stored. Try again later.
    case queueUnavailable = "queue_unavailable"
    /// The durable job was cancelled before it finished.
    case cancelled
    /// The host running a durable job's attempt stopped renewing its lease (it died, stopped or lost
    /// the database); the job was taken back and, if attempts were left, run again elsewhere.
    case leaseExpired = "lease_expired"
    /// Something failed inside the daemon; its log says what.
    case `internal`

    /// Whether the request itself was wrong (resending it unchanged cannot succeed).
    public var isRequestError: Bool {
        switch self {
        case .invalidJSON, .frameTooLarge, .tooManyRejected, .unsupportedVersion, .badRequest, .unknownOperation, .unknownKind,
            .invalidArgument, .unsupportedPool, .permissionDenied, .notFound, .unknownFunction, .noQueue:
            return true
        case .overflow, .httpFailed, .timeout, .busy, .workerDied, .outOfMemory, .poisoned, .shuttingDown, .taskFailed,
            .badWorkerReply, .queueUnavailable, .cancelled, .leaseExpired, .internal:
            return false
        }
    }
}

/// An error as it travels on the wire: a stable code and a sentence for people.
public struct WireError: Error, Codable, Sendable, Equatable, CustomStringConvertible {
    /// The stable, typed code.
    public var code: ErrorCode
    /// A sentence that says what went wrong and, where it can, what to do.
    public var message: String
    /// For `task_failed`: the type of the error the user's code raised (`ValueError`).
    public var type: String?
    /// For `task_failed`: the traceback the user's worker sent, as text.
    public var traceback: String?

    /// Creates an error with a code and a sentence.
    public init(_ code: ErrorCode, _ message: String) {
        self.code = code
        self.message = message
    }

    /// An error the user's code raised, with its type and traceback.
    public static func taskFailed(type: String, message: String, traceback: String?) -> WireError {
        var error = WireError(.taskFailed, message)
        error.type = type
        error.traceback = traceback
        return error
    }

    public var description: String { "\(message) [\(code.rawValue)]" }
}
