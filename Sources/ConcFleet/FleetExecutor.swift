import ConcProtocol

/// What the fleet needs from the daemon around it: room in the local pools, a way to run a claimed
/// job there, and a way to stop one. ConcFleet knows no pool; ConcDaemon implements this.
package protocol FleetExecutor: Sendable {
    /// How many jobs each of `pools` can run at once, and how many it holds now (running and
    /// queued, local submissions included), by the queue's names for them.
    func load(_ pools: [PoolName]) -> [String: (capacity: Int, used: Int)]
    /// Runs a claimed job's stored submission in the local pool; calls `done` exactly once.
    func run(_ job: JobStore.ClaimedJob, done: @escaping @Sendable (FleetRunOutcome) -> Void)
    /// Stops these jobs' local tasks if they still run (cancelled, or their lease was lost); their
    /// outcomes, when they come, are dropped.
    func abandon(_ jobs: [FleetHostMachine.Lease])
}

/// How a local run of a claimed job ended.
package enum FleetRunOutcome: Sendable, Equatable {
    /// It succeeded; `reply` is the task's reply as the control protocol writes it.
    case succeeded(reply: String)
    /// It failed; `final` when running it again cannot help (a bad request, a poison task).
    case failed(reply: String, error: WireError, final: Bool)
    /// The local pool did not take it (full, shutting down): it goes back to the queue unchanged.
    case refused(WireError)

    /// Whether an error is worth another attempt on a durable job.
    package static func isFinal(_ code: ErrorCode) -> Bool {
        code.isRequestError || code == .poisoned || code == .overflow || code == .cancelled
    }
}
