import ConcFleet
import ConcProtocol
import Synchronization

/// Runs the fleet's claimed jobs in this daemon's pools, through the Dispatcher like any other
/// submission, so that they are counted, limited and reported with the rest.
final class DaemonFleetExecutor: FleetExecutor {
    private let dispatcher: Dispatcher
    /// The jobs running here: each one's tag (to stop it) and pool.
    private let running = Mutex<(next: UInt64, byLease: [FleetHostMachine.Lease: (tag: UInt64, pool: PoolName)])>((1, [:]))

    init(dispatcher: Dispatcher) {
        self.dispatcher = dispatcher
    }

    func load(_ pools: [PoolName]) -> [String: (capacity: Int, used: Int)] {
        var load: [String: (capacity: Int, used: Int)] = [:]
        for name in pools {
            guard let entry = dispatcher.registry.entry(name) else { continue }
            let snapshot = entry.pool.snapshot()
            load[name.rawValue] = (max(snapshot.size, snapshot.maximum ?? 0), snapshot.busy + snapshot.queued)
        }
        return load
    }

    func run(_ job: JobStore.ClaimedJob, done: @escaping @Sendable (FleetRunOutcome) -> Void) {
        let request: Request
        do {
            request = try RequestCodec.decode(Array(job.request.utf8))
        } catch {
            return done(Self.failed(WireError(.badRequest, "job \(job.id)'s stored submission is not valid: \(error.error.message)"), final: true))
        }
        guard case .submit(var submission) = request.operation else {
            return done(Self.failed(WireError(.badRequest, "job \(job.id)'s stored request is \(request.operation.name), not a submission"), final: true))
        }
        submission.durability = nil
        let lease = FleetHostMachine.Lease(id: job.id, attempt: job.attempt)
        let tag = running.withLock { running in
            defer { running.next += 1 }
            running.byLease[lease] = (running.next, submission.resolvedPool)
            return running.next
        }
        dispatcher.run(submission, tag: tag) { reply in
            self.running.withLock { _ = $0.byLease.removeValue(forKey: lease) }
            let text = String(decoding: ReplyCodec.encode(reply), as: UTF8.self)
            guard let error = reply.error, !reply.ok else { return done(.succeeded(reply: text)) }
            switch error.code {
            case .busy, .shuttingDown: done(.refused(error))
            default: done(.failed(reply: text, error: error, final: FleetRunOutcome.isFinal(error.code)))
            }
        }
    }

    func abandon(_ jobs: [FleetHostMachine.Lease]) {
        // The fleet drops their outcomes itself (FleetHostMachine.finished); this stops the tasks
        // where the pool can: a process pool's worker, an async task. A thread runs to its end.
        for lease in jobs {
            guard let (tag, pool) = running.withLock({ $0.byLease[lease] }) else { continue }
            _ = dispatcher.registry.entry(pool)?.pool.stop(tag: tag)
        }
    }

    private static func failed(_ error: WireError, final: Bool) -> FleetRunOutcome {
        .failed(reply: String(decoding: ReplyCodec.encode(.failure(id: nil, error)), as: UTF8.self), error: error, final: final)
    }
}
