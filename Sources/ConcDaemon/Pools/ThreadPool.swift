import CConcShims
import ConcProtocol
import Dispatch
import Foundation
import Logging
import NIOCore
import Synchronization

/// M OS threads started once and parked on a ``JobQueue``; each runs one blocking job at a time.
/// Resizing starts new threads or asks surplus ones to exit after their current job, so no
/// accepted job is dropped.
///
/// A thread cannot be killed, so a job that runs past its deadline is answered `timeout` at the
/// deadline by a timer, and its thread is abandoned: a new thread takes its place at once, so the
/// pool keeps its size, and the old one exits when its job ends, its result thrown away.
package final class ThreadPool: Pool {
    package let name: PoolName
    package var model: PoolModel { .thread }
    private let queue: JobQueue
    private let busy = Atomic<Int>(0)
    private let stopped = Countdown(0)
    private let state = Mutex(State())
    private let abandoned = Atomic<Int>(0)
    /// Deadline timers run here, not on a global queue: Swift concurrency's executor shares the
    /// global queues' threads on Linux, so with the async pool busy on cpu tasks a timer there
    /// fired seconds late. A queue of its own gets a thread of its own (overcommit).
    private let deadlines = DispatchQueue(label: "concd.thread-pool.deadlines")
    private let logger: Logger

    private struct State {
        /// Threads that should exist.
        var target = 0
        /// Threads that exist (some may be about to exit after a shrink).
        var running = 0
        /// Names given so far, so a new thread never reuses the name of one still running.
        var nextIndex = 0
        /// Set at shutdown: an abandoned thread is then not replaced.
        var closed = false
    }

    /// Creates a pool of `size` threads and a queue of `queueLimit` jobs.
    package init(name: PoolName = .thread, size: Int, queueLimit: Int, logger: Logger = Logger(label: "concd.thread-pool")) {
        self.name = name
        precondition(size > 0, "a thread pool needs at least one thread")
        self.queue = JobQueue(limit: queueLimit)
        self.logger = logger
        state.withLock { $0.target = size }
    }

    package func start() async throws {
        let size = state.withLock { $0.target }
        spawnThreads(size)
    }

    package func resize(size: Int, queueLimit: Int) async throws {
        precondition(size > 0, "a thread pool needs at least one thread")
        queue.setLimit(queueLimit)
        let grow = state.withLock { state -> Int in
            state.target = size
            return max(0, size - state.running)
        }
        if grow > 0 { spawnThreads(grow) } else { queue.interrupt() }
    }

    private func spawnThreads(_ count: Int) {
        let indexes = state.withLock { state -> Range<Int> in
            state.running += count
            defer { state.nextIndex += count }
            return state.nextIndex..<(state.nextIndex + count)
        }
        stopped.add(count)
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
        try queue.submit(job, to: name)
    }

    package func snapshot() -> PoolSnapshot {
        PoolSnapshot(
            size: state.withLock { $0.target },
            busy: busy.load(ordering: .relaxed),
            queued: queue.count,
            queueLimit: queue.limit
        )
    }

    /// Waits for every thread the pool still counts; abandoned threads are not waited for.
    package func shutdown() async {
        state.withLock { $0.closed = true }
        queue.close()
        await stopped.wait()
    }

    /// Threads abandoned so far because their job passed its deadline.
    package var abandonedThreads: Int { abandoned.load(ordering: .relaxed) }

    /// Whether this thread is surplus after a shrink; if so it is counted out and must exit.
    private func shouldRetire() -> Bool {
        state.withLock { state in
            guard state.running > state.target else { return false }
            state.running -= 1
            return true
        }
    }

    private func work(name: String) {
        loop: while true {
            switch queue.next() {
            case .closed:
                state.withLock { $0.running -= 1 }
                break loop
            case .idle:
                if shouldRetire() { break loop }
            case .job(let job):
                if !run(job, name: name) {
                    // Abandoned: the timer answered the client, counted this thread out and started
                    // its replacement; all that is left is to exit.
                    return
                }
                if shouldRetire() { break loop }
            }
        }
        stopped.countDown()
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
        let replace = state.withLock { state -> Bool in
            state.running -= 1
            return !state.closed && state.running < state.target
        }
        // The abandoned thread no longer holds up shutdown: nobody waits for its result.
        stopped.countDown()
        if replace { spawnThreads(1) }
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
