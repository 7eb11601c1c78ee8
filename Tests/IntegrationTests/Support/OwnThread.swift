import Foundation

/// Runs the jobs of a task each on a new thread of its own, never on Swift's cooperative pool.
///
/// The integration tests block: they wait on child processes and sockets. Swift's cooperative pool
/// has one thread per core, so a blocking test run there holds one of them (of two, on this kind of
/// machine) for its whole length, and every other async test stalls behind it. A task that prefers
/// this executor blocks a thread nobody else needs.
final class OwnThreadExecutor: TaskExecutor {
    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        let executor = asUnownedTaskExecutor()
        let thread = Thread { job.runSynchronously(on: executor) }
        thread.stackSize = 8 << 20
        thread.start()
    }
}

/// Runs `body`, which blocks, off Swift's cooperative pool (see `OwnThreadExecutor`), in a task
/// that inherits this one's task-local values, the current test among them.
func blocking<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await Task(executorPreference: OwnThreadExecutor()) {
        try body()
    }.value
}
