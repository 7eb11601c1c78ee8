import ConcProtocol
import NIOCore

/// A workload accepted by a pool, with its deadline and what delivers its outcome.
///
/// A class, so that the pools' queues, slots and actions pass one reference around instead of
/// copying the workload, the command and the callback field by field at every step. Its outcome is
/// delivered by ``complete(_:)`` exactly once, on whichever thread finished the job; it must not
/// block. A job built with a callback calls it; the dispatcher's jobs override `complete(_:)` and
/// carry what answering needs in the same object.
///
/// Sendable unchecked only because it is not final: every stored property, here and in its
/// subclasses, is a `let` of a Sendable type.
package class Job: @unchecked Sendable {
    /// What to run.
    package let workload: Workload
    /// When the client stops waiting; `nil` means never.
    package let deadline: NIODeadline?
    /// For `exec`: the program the exec policy let through (its resolved path, its output bound).
    package let command: PreparedCommand?
    /// Tells a fleet job's run from every other job, so that ``Pool/stop(tag:)`` can stop it.
    package let tag: UInt64?
    private let callback: (@Sendable (TaskOutcome) -> Void)?

    /// Creates a job whose outcome goes to `complete`.
    package init(
        workload: Workload, deadline: NIODeadline?, command: PreparedCommand? = nil, tag: UInt64? = nil,
        complete: @escaping @Sendable (TaskOutcome) -> Void
    ) {
        self.workload = workload
        self.deadline = deadline
        self.command = command
        self.tag = tag
        self.callback = complete
    }

    /// Creates a job for a subclass that delivers the outcome in its own ``complete(_:)``.
    package init(workload: Workload, deadline: NIODeadline?, command: PreparedCommand?, tag: UInt64?) {
        self.workload = workload
        self.deadline = deadline
        self.command = command
        self.tag = tag
        self.callback = nil
    }

    /// Delivers the outcome; a pool calls it exactly once.
    package func complete(_ outcome: TaskOutcome) {
        callback?(outcome)
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
