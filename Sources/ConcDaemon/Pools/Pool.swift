import ConcProtocol
import NIOCore

/// What the Dispatcher and the Daemon need of a pool: accept a job or refuse it at once, say how
/// busy it is, warm up and drain, and the operations only some models support (killing a worker,
/// recycling), which answer "not supported" by default. A new model is a new type conforming to
/// this plus its case in `PoolRegistry.makePool`; nothing else lists models or pools.
package protocol Pool: AnyObject, Sendable {
    /// This pool's name: the built-in pools are named after their models.
    var name: PoolName { get }

    /// The kind of implementation this pool is.
    var model: PoolModel { get }

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

    /// SIGKILLs this pool's worker process with this pid (`kill_worker`); the pool replaces it.
    func kill(workerPID pid: Int32) -> Result<String, WireError>

    /// Takes the recycling policy a reload read; workers pick it up when they are next spawned.
    func setRecycling(_ policy: RecyclePolicy)

    /// Takes the growth bounds a reload read: the most workers the pool may grow to while work
    /// waits, and how long one above the minimum (`resize`'s size) may idle before it retires.
    func setGrowth(maximum: Int, idleTimeout: TimeAmount)

    /// Whether the workers run a user's program: such a pool takes calls and nothing else.
    var runsProgram: Bool { get }

    /// Why a call of `function` cannot run here (a function the program said it does not have), or
    /// nil when it may be sent.
    func refusal(forFunction function: String) -> WireError?

    /// Stops the job tagged `tag` if it waits or runs here, answering it `cancelled`; returns
    /// whether it was found. Only process pools can stop a running task (by stopping its worker).
    func stop(tag: UInt64) -> Bool
}

extension Pool {
    /// Threads and tasks cannot be stopped from outside: their jobs run to their end.
    package func stop(tag: UInt64) -> Bool { false }

    /// Pools whose workers are not processes have no pid to kill.
    package func kill(workerPID pid: Int32) -> Result<String, WireError> {
        .failure(WireError(.unsupportedPool, "the \(name) pool is a \(model) pool, whose workers are not processes"))
    }

    /// Only worker processes are recycled; other models keep nothing between tasks to bound.
    package func setRecycling(_ policy: RecyclePolicy) {}

    /// A pool of a fixed size ignores growth bounds.
    package func setGrowth(maximum: Int, idleTimeout: TimeAmount) {}

    /// Only process pools run a user's program.
    package var runsProgram: Bool { false }

    /// A pool that knows no list of functions sends every call and lets the program answer.
    package func refusal(forFunction function: String) -> WireError? { nil }
}

/// A pool's own view of its load.
package struct PoolSnapshot: Sendable {
    package var size: Int
    package var busy: Int
    package var queued: Int
    package var queueLimit: Int
    package var workers: [WorkerStatus]?
    /// The fewest workers an elastic pool keeps; nil for a pool of a fixed size.
    package var minimum: Int?
    /// The most workers an elastic pool grows to; nil for a pool of a fixed size.
    package var maximum: Int?
}

extension JobQueue {
    /// Enqueues `job` for the `pool` pool, turning a refusal into the error its client reads.
    /// Returns the jobs queued beyond the threads parked to take them.
    @discardableResult
    func submit(_ job: Job, to pool: PoolName) throws(WireError) -> Int {
        do {
            return try enqueue(job)
        } catch {
            throw error.wireError(pool: pool, limit: limit)
        }
    }
}

extension JobQueue.Refusal {
    /// The error a client gets when a pool refuses a job.
    package func wireError(pool: PoolName, limit: Int) -> WireError {
        switch self {
        case .full:
            return WireError(.busy, "the \(pool) pool's queue is full (\(limit) tasks waiting); try again later")
        case .closed:
            return WireError(.shuttingDown, "concd is shutting down and takes no new tasks")
        }
    }
}
