import ConcProtocol

/// What the Dispatcher needs of a pool: accept a job or refuse it at once, say how busy it is,
/// and warm up and drain. A new kind of pool is a new type conforming to this, nothing more.
protocol Pool: AnyObject, Sendable {
    /// Which pool this is.
    var kind: PoolKind { get }

    /// Starts every worker and returns once all are ready to run a task.
    func start() async throws

    /// Accepts `job` or throws `busy` (queue full) or `shutting_down` at once; never blocks.
    func submit(_ job: Job) throws(WireError)

    /// Size, busy, idle and queued now. The Dispatcher fills in the completed and failed counts.
    func snapshot() -> PoolSnapshot

    /// Stops taking jobs, lets queued and running ones finish, then stops the workers.
    func shutdown() async
}

/// A pool's own view of its load.
struct PoolSnapshot: Sendable {
    var size: Int
    var busy: Int
    var queued: Int
    var queueLimit: Int
    var workers: [WorkerStatus]?
}

extension JobQueue.Refusal {
    /// The error a client gets when a pool refuses a job.
    func wireError(pool: PoolKind, limit: Int) -> WireError {
        switch self {
        case .full:
            return WireError(.busy, "the \(pool) pool's queue is full (\(limit) tasks waiting); try again later")
        case .closed:
            return WireError(.shuttingDown, "concd is shutting down and takes no new tasks")
        }
    }
}
