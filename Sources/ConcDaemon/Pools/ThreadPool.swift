import CConcShims
import ConcProtocol
import Dispatch
import Foundation
import Logging
import NIOCore
import Synchronization

/// OS threads parked on a ``JobQueue``, each running one blocking job at a time, between a minimum
/// and a maximum (``ThreadPoolSizing``): a job that finds every thread busy starts one more, and a
/// thread above the minimum that waited its idle time for work exits. Shrinking never drops an
/// accepted job: a surplus thread exits between jobs.
///
/// A thread cannot be killed, so a job that runs past its deadline is answered `timeout` at the
/// deadline by a timer, and its thread is abandoned: if that leaves the pool below its minimum a new
/// thread takes its place at once, and the old one exits when its job ends, its result thrown away.
package final class ThreadPool: Pool {
    package let name: PoolName
    package var model: PoolModel { .thread }
    private let queue: JobQueue
    private let busy = Atomic<Int>(0)
    private let stopped = Countdown(0)
    private let state: Mutex<ThreadPoolSizing>
    private let idleNanoseconds: Atomic<Int64>
    private let abandoned = Atomic<Int>(0)
    /// Deadline timers run here, not on a global queue: Swift concurrency's executor shares the
    /// global queues' threads on Linux, so with the async pool busy on cpu tasks a timer there
    /// fired seconds late. A queue of its own gets a thread of its own (overcommit).
    private let deadlines = DispatchQueue(label: "concd.thread-pool.deadlines")
    private let logger: Logger

    /// Creates a pool of `size` threads that grows to `maximum` (default: `size`, a fixed pool)
    /// while work waits, and a queue of `queueLimit` jobs. A thread above `size` exits after
    /// waiting `idleTimeout` for a job.
    package init(
        name: PoolName = .thread, size: Int, maximum: Int? = nil, idleTimeout: TimeAmount = .seconds(10),
        queueLimit: Int, logger: Logger = Logger(label: "concd.thread-pool")
    ) {
        self.name = name
        self.queue = JobQueue(limit: queueLimit)
        self.logger = logger
        self.state = Mutex(ThreadPoolSizing(minimum: size, maximum: maximum ?? size))
        self.idleNanoseconds = Atomic(idleTimeout.nanoseconds)
    }

    package func start() async throws {
        startThreads(state.withLock { $0.start() })
    }

    /// Sets the minimum to `size`, raising the maximum to it if lower.
    package func resize(size: Int, queueLimit: Int) async throws {
        queue.setLimit(queueLimit)
        let indexes = state.withLock { $0.setBounds(minimum: size, maximum: $0.maximum) }
        startThreads(indexes)
        // Parked threads look at the bounds again: above a lower maximum they exit now, above a
        // lower minimum they wait for work with a timeout from now on.
        queue.interrupt()
    }

    package func setGrowth(maximum: Int, idleTimeout: TimeAmount) {
        idleNanoseconds.store(idleTimeout.nanoseconds, ordering: .relaxed)
        let indexes = state.withLock { $0.setBounds(minimum: $0.minimum, maximum: maximum) }
        startThreads(indexes)
        queue.interrupt()
    }

    private func startThreads(_ indexes: [Int]) {
        guard !indexes.isEmpty else { return }
        stopped.add(indexes.count)
        for index in indexes {
            let thread = Thread { [self] in
                // Foundation's Thread.name does not reach the kernel on Linux; this is the name
                // top, ps -L and /proc/PID/task/*/comm show.
                _ = concd_set_thread_name("concd-thread-\(index)")
                self.work(name: "\(name)-\(index)")
            }
            thread.name = "concd-thread-\(index)"
            thread.stackSize = 1 << 20
            thread.start()
        }
    }

    package func submit(_ job: Job) throws(WireError) {
        let unserved = try queue.submit(job, to: name)
        guard unserved > 0, let start = state.withLock({ $0.workWaits(unserved: unserved) }) else { return }
        startThreads([start.index])
        if let milestone = start.milestone { log(milestone) }
    }

    package func snapshot() -> PoolSnapshot {
        let sizing = state.withLock { $0 }
        return PoolSnapshot(
            size: sizing.running,
            busy: busy.load(ordering: .relaxed),
            queued: queue.count,
            queueLimit: queue.limit,
            minimum: sizing.minimum,
            maximum: sizing.maximum
        )
    }

    /// Waits for every thread the pool still counts; abandoned threads are not waited for.
    package func shutdown() async {
        state.withLock { $0.close() }
        queue.close()
        await stopped.wait()
    }

    /// Threads abandoned so far because their job passed its deadline.
    package var abandonedThreads: Int { abandoned.load(ordering: .relaxed) }

    private func work(name: String) {
        // One lock per turn of the loop: the decision on the last event and whether the next wait
        // may time out are taken together.
        var mayRetire = state.withLock { sizing in
            sizing.threadReady()
            return sizing.idleThreadsMayRetire
        }
        loop: while true {
            let idleTimeout: TimeAmount? = mayRetire ? .nanoseconds(idleNanoseconds.load(ordering: .relaxed)) : nil
            let event: (inout ThreadPoolSizing) -> (retire: Bool, milestone: ThreadPoolSizing.Milestone?)
            let why: String
            switch queue.next(idleTimeout: idleTimeout) {
            case .closed:
                state.withLock { $0.threadClosed() }
                break loop
            case .timedOut:
                (event, why) = ({ $0.idleTimedOut() }, "idle")
            case .idle:
                (event, why) = ({ $0.threadFree() }, "above the maximum")
            case .job(let job):
                if !run(job, name: name) {
                    // Abandoned: the timer answered the client, counted this thread out and started
                    // a replacement if one was needed; all that is left is to exit.
                    return
                }
                (event, why) = ({ $0.threadFree() }, "above the maximum")
            }
            let decision = state.withLock { sizing in
                let decision = event(&sizing)
                return (retire: decision.retire, milestone: decision.milestone, mayRetire: sizing.idleThreadsMayRetire)
            }
            mayRetire = decision.mayRetire
            if retire(name: name, (decision.retire, decision.milestone), why: why) { break loop }
        }
        stopped.countDown()
    }

    /// Logs a thread's retirement the sizing decided on; returns whether the thread exits.
    private func retire(name: String, _ decision: (retire: Bool, milestone: ThreadPoolSizing.Milestone?), why: String) -> Bool {
        guard decision.retire else { return false }
        logger.debug("thread retired (\(why))", metadata: ["event": "thread_retired", "pool": "\(self.name)", "worker": "\(name)"])
        if let milestone = decision.milestone { log(milestone) }
        return true
    }

    private func log(_ milestone: ThreadPoolSizing.Milestone) {
        let sizing = state.withLock { $0 }
        var metadata: Logger.Metadata = [
            "pool": "\(name)", "threads": "\(sizing.running)", "min": "\(sizing.minimum)", "max": "\(sizing.maximum)",
        ]
        switch milestone {
        case .leftMinimum:
            metadata["event"] = "pool_grew"
            logger.info("work waits with every thread busy: the \(name) pool grows past its minimum of \(sizing.minimum)", metadata: metadata)
        case .reachedMaximum:
            metadata["event"] = "pool_at_maximum"
            logger.notice("the \(name) pool reached its maximum of \(sizing.maximum) threads; more work waits in its queue", metadata: metadata)
        case .backAtMinimum(let peak):
            metadata["event"] = "pool_shrank"
            metadata["peak"] = "\(peak)"
            logger.info("idle threads retired: the \(name) pool is back at its minimum of \(sizing.minimum) (\(peak) at most)", metadata: metadata)
        }
    }

    /// Runs one job on this thread; returns false when the job passed its deadline first and this
    /// thread was abandoned.
    private func run(_ job: Job, name: String) -> Bool {
        busy.add(1, ordering: .relaxed)
        if job.isExpired {
            busy.subtract(1, ordering: .relaxed)
            job.complete(TaskOutcome(result: .failure(.expiredInQueue(job.workload)), worker: name, workerPID: nil))
            return true
        }
        guard let remaining = job.remaining() else {
            let result = Self.perform(job, remaining: nil)
            busy.subtract(1, ordering: .relaxed)
            job.complete(TaskOutcome(result: result, worker: name, workerPID: nil))
            return true
        }
        // sleep and io cut their own waits at the deadline and answer `timeout` themselves; the timer
        // gives them a moment to, so that a thread is abandoned only for work that cannot stop (cpu).
        // A command is killed and reaped by its own thread at the deadline: it gets longer, so that
        // its thread is not abandoned while it reaps.
        let grace: TimeAmount = job.command != nil ? .seconds(1) : job.workload.boundsItsOwnWaits ? .milliseconds(50) : .zero
        let answered = CompletionGuard()
        let timer = DispatchWorkItem { [self] in
            guard answered.claim() else { return }
            abandon(name: name, job: job)
        }
        deadlines.asyncAfter(
            deadline: .now() + .nanoseconds(Int(max(0, (remaining + grace).nanoseconds))),
            execute: timer
        )
        let result = Self.perform(job, remaining: remaining)
        timer.cancel()
        guard answered.claim() else { return false }
        busy.subtract(1, ordering: .relaxed)
        job.complete(TaskOutcome(result: result, worker: name, workerPID: nil))
        return true
    }

    /// Runs a job's command, or its built-in workload.
    private static func perform(_ job: Job, remaining: TimeAmount?) -> Result<TaskValue, WireError> {
        if let command = job.command { return CommandRunner.run(command, remaining: remaining) }
        if case .exec = job.workload {
            return .failure(WireError(.internal, "an exec reached the thread pool without the exec policy's approval"))
        }
        return BlockingWorkload.run(job.workload, remaining: remaining)
    }

    /// Answers a job whose deadline passed while `name` ran it, and replaces that thread.
    private func abandon(name: String, job: Job) {
        busy.subtract(1, ordering: .relaxed)
        abandoned.add(1, ordering: .relaxed)
        let replacement = state.withLock { $0.abandoned() }
        // The abandoned thread no longer holds up shutdown: nobody waits for its result.
        stopped.countDown()
        if let replacement { startThreads([replacement]) }
        logger.notice(
            "task passed its deadline on a thread; answered timeout and replaced the thread",
            metadata: ["event": "thread_abandoned", "worker": "\(name)", "task": "\(job.workload)"]
        )
        job.complete(TaskOutcome(
            result: .failure(WireError(
                .timeout,
                "\(job.workload) did not finish within its deadline on \(name), which was abandoned and replaced"
            )),
            worker: name,
            workerPID: nil
        ))
    }
}

/// Lets exactly one of two racing parties (a job's thread and its deadline timer) deliver the outcome.
final class CompletionGuard: Sendable {
    private let done = Atomic(false)

    /// True for the first caller only.
    func claim() -> Bool {
        done.compareExchange(expected: false, desired: true, ordering: .acquiringAndReleasing).exchanged
    }
}
