import ConcProtocol

/// What the Dispatcher needs of a pool: accept a job or refuse it at once, say how busy it is,
/// and warm up and drain. A new kind of pool is a new type conforming to this, nothing more.
package protocol Pool: AnyObject, Sendable {
    /// Which pool this is.
    var kind: PoolKind { get }

    /// Starts every worker and returns once all are ready to run a task.
    func start() async throws

    /// Changes the pool's size (workers, threads, or the async in-flight limit) and queue limit.
    /// Growing warms the new workers before it returns; shrinking lets surplus workers finish
    /// their current job first, so no accepted job is lost.
    func resize(size: Int, queueLimit: Int) async throws

    /// Accepts `job` or throws `busy` (queue full) or `shutting_down` at once; never blocks.
    func submit(_ job: Job) throws(WireError)

    /// Size, busy, idle and queued now. The Dispatcher fills in the completed and failed counts.
    func snapshot() -> PoolSnapshot

    /// Stops taking jobs, lets queued and running ones finish, then stops the workers.
    func shutdown() async
}

/// A pool's own view of its load.
package struct PoolSnapshot: Sendable {
    package var size: Int
    package var busy: Int
    package var queued: Int
    package var queueLimit: Int
    package var workers: [WorkerStatus]?
}

extension JobQueue {
    /// Enqueues `job` for the `pool` pool, turning a refusal into the error its client reads.
    func submit(_ job: Job, to pool: PoolKind) throws(WireError) {
        do {
            try enqueue(job)
        } catch {
            throw error.wireError(pool: pool, limit: limit)
        }
    }
}

extension JobQueue.Refusal {
    /// The error a client gets when a pool refuses a job.
    package func wireError(pool: PoolKind, limit: Int) -> WireError {
        switch self {
        case .full:
            return WireError(.busy, "the \(pool) pool's queue is full (\(limit) tasks waiting); try again later")
        case .closed:
            return WireError(.shuttingDown, "concd is shutting down and takes no new tasks")
        }
    }
}
