import ConcProtocol
import Foundation
import Synchronization

/// M OS threads started once and parked on a ``JobQueue``; each runs one blocking job at a time.
/// Resizing starts new threads or asks surplus ones to exit after their current job, so no
/// accepted job is dropped.
package final class ThreadPool: Pool {
    package let kind = PoolKind.thread
    private let queue: JobQueue
    private let busy = Atomic<Int>(0)
    private let stopped = Countdown(0)
    private let state = Mutex(State())

    private struct State {
        /// Threads that should exist.
        var target = 0
        /// Threads that exist (some may be about to exit after a shrink).
        var running = 0
        /// Names given so far, so a new thread never reuses the name of one still running.
        var nextIndex = 0
    }

    /// Creates a pool of `size` threads and a queue of `queueLimit` jobs.
    package init(size: Int, queueLimit: Int) {
        precondition(size > 0, "a thread pool needs at least one thread")
        self.queue = JobQueue(limit: queueLimit)
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
            let thread = Thread { [self] in self.work(name: "thread-\(index)") }
            thread.name = "concd-thread-\(index)"
            thread.stackSize = 1 << 20
            thread.start()
        }
    }

    package func submit(_ job: Job) throws(WireError) {
        try queue.submit(job, to: kind)
    }

    package func snapshot() -> PoolSnapshot {
        PoolSnapshot(
            size: state.withLock { $0.target },
            busy: busy.load(ordering: .relaxed),
            queued: queue.count,
            queueLimit: queue.limit
        )
    }

    package func shutdown() async {
        queue.close()
        await stopped.wait()
    }

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
                busy.add(1, ordering: .relaxed)
                let outcome: Result<TaskValue, WireError>
                if job.isExpired {
                    outcome = .failure(.expiredInQueue(job.workload))
                } else {
                    outcome = BlockingWorkload.run(job.workload, remaining: job.remaining())
                }
                busy.subtract(1, ordering: .relaxed)
                job.complete(TaskOutcome(result: outcome, worker: name, workerPID: nil))
                if shouldRetire() { break loop }
            }
        }
        stopped.countDown()
    }
}
