import ConcProtocol
import NIOCore

/// A workload accepted by a pool, with its deadline and the callback that delivers its outcome.
///
/// The callback is called exactly once, on whichever thread finished the job; it must not block.
package struct Job: Sendable {
    /// What to run.
    package var workload: Workload
    /// When the client stops waiting; `nil` means never.
    package var deadline: NIODeadline?
    /// Delivers the outcome.
    package var complete: @Sendable (TaskOutcome) -> Void
    /// For `exec`: the program the exec policy let through (its resolved path, its output bound).
    package var command: PreparedCommand?
    /// Tells a fleet job's run from every other job, so that ``Pool/stop(tag:)`` can stop it.
    package var tag: UInt64?

    /// Creates a job.
    package init(
        workload: Workload, deadline: NIODeadline?, command: PreparedCommand? = nil, tag: UInt64? = nil,
        complete: @escaping @Sendable (TaskOutcome) -> Void
    ) {
        self.tag = tag
        self.workload = workload
        self.deadline = deadline
        self.command = command
        self.complete = complete
    }

    /// The time left before the deadline, or `nil` without a deadline.
    package func remaining(now: NIODeadline = .now()) -> TimeAmount? {
        deadline.map { $0 - now }
    }

    /// Whether the deadline has passed.
    package var isExpired: Bool {
        guard let deadline else { return false }
        return deadline <= .now()
    }
}

/// What running a job produced, and where it ran.
package struct TaskOutcome: Sendable {
    /// The value, or the typed error.
    package var result: Result<TaskValue, WireError>
    /// The worker's name (`process-1`, `thread-3`, `async`).
    package var worker: String
    /// The worker process's pid, for the process pool.
    package var workerPID: Int32?
}

extension WireError {
    /// The error a job gets when its deadline passed before any worker took it.
    package static func expiredInQueue(_ workload: Workload) -> WireError {
        WireError(.timeout, "\(workload) waited in the queue past its deadline")
    }
}
