import ConcProtocol
import Foundation
import Synchronization

/// M OS threads started once and parked on a ``JobQueue``; each runs one blocking job at a time.
package final class ThreadPool: Pool {
    package let kind = PoolKind.thread
    private let size: Int
    private let queue: JobQueue
    private let busy = Atomic<Int>(0)
    private let stopped: Countdown

    /// Creates a pool of `size` threads and a queue of `queueLimit` jobs.
    package init(size: Int, queueLimit: Int) {
        precondition(size > 0, "a thread pool needs at least one thread")
        self.size = size
        self.queue = JobQueue(limit: queueLimit)
        self.stopped = Countdown(size)
    }

    package func start() async throws {
        for index in 0..<size {
            let thread = Thread { [self] in self.work(name: "thread-\(index)") }
            thread.name = "concd-thread-\(index)"
            thread.stackSize = 1 << 20
            thread.start()
        }
    }

    package func submit(_ job: Job) throws(WireError) {
        do {
            try queue.enqueue(job)
        } catch {
            throw error.wireError(pool: kind, limit: queue.limit)
        }
    }

    package func snapshot() -> PoolSnapshot {
        PoolSnapshot(size: size, busy: busy.load(ordering: .relaxed), queued: queue.count, queueLimit: queue.limit)
    }

    package func shutdown() async {
        queue.close()
        await stopped.wait()
    }

    private func work(name: String) {
        while case .job(let job) = queue.next() {
            busy.add(1, ordering: .relaxed)
            let outcome: Result<TaskValue, WireError>
            if job.isExpired {
                outcome = .failure(WireError(.timeout, "\(job.workload) waited in the queue past its deadline"))
            } else {
                outcome = BlockingWorkload.run(job.workload, remaining: job.remaining())
            }
            busy.subtract(1, ordering: .relaxed)
            job.complete(TaskOutcome(result: outcome, worker: name, workerPID: nil))
        }
        stopped.countDown()
    }
}
