import ConcProtocol
import Glibc
import NIOCore
import Synchronization

/// Routes each request to the pool its workload names, turns outcomes into replies, and keeps the
/// counters every report reads (status, STATUS=, the journal), recorded here and nowhere else.
package final class Dispatcher: Sendable {
    private let pools: [PoolKind: any Pool]
    /// Each pool's counters, read by every report.
    package let counters: [PoolKind: PoolCounters]
    private let accepting = Atomic(true)
    private let started = NIODeadline.now()
    private let socketPath: String
    /// The Prometheus metrics of this daemon (Dispatcher+Visibility.swift).
    package let prometheus: PrometheusExporter

    package init(pools: [any Pool], socketPath: String) {
        self.pools = Dictionary(uniqueKeysWithValues: pools.map { ($0.kind, $0) })
        let prometheus = PrometheusExporter(pools: pools.map(\.kind))
        self.prometheus = prometheus
        self.counters = Dictionary(uniqueKeysWithValues: pools.map { pool in
            let kind = pool.kind
            return (kind, PoolCounters { prometheus.recordTask(pool: kind, wallMicroseconds: $0) })
        })
        self.socketPath = socketPath
    }

    /// Answers `request` through `reply`, exactly once, possibly on another thread.
    package func handle(_ request: Request, reply: @escaping @Sendable (Reply) -> Void) {
        switch request.operation {
        case .ping:
            reply(Reply(id: request.id, ok: true, version: ProtocolLimits.version))
        case .status:
            reply(Reply(id: request.id, ok: true, status: status()))
        case .submit(let submission):
            submit(submission, id: request.id, reply: reply)
        case .metrics:
            reply(Reply(id: request.id, ok: true, metrics: metricsExposition()))
        }
    }

    /// Refuses every submission from now on with `shutting_down` (open connections included).
    package func stopAccepting() {
        accepting.store(false, ordering: .relaxed)
    }

    /// The pool of a kind, for reload and the watchdog.
    package func pool(_ kind: PoolKind) -> (any Pool)? {
        pools[kind]
    }

    private func submit(_ submission: Submission, id: UInt64?, reply: @escaping @Sendable (Reply) -> Void) {
        let kind = submission.resolvedPool
        guard accepting.load(ordering: .relaxed) else {
            counters[kind]?.rejected.add(1, ordering: .relaxed)
            reply(.failure(id: id, WireError(.shuttingDown, "concd is shutting down and takes no new tasks")))
            return
        }
        guard let pool = pools[kind], let counters = counters[kind] else {
            reply(.failure(id: id, WireError(.unsupportedPool, "this daemon runs no \(kind) pool")))
            return
        }
        let received = NIODeadline.now()
        let workload = submission.workload
        let timeout = submission.timeoutMilliseconds
        let job = Job(
            workload: workload,
            deadline: timeout.map { received + .milliseconds($0) },
            complete: { outcome in
                let wall = UInt64((NIODeadline.now() - received).nanoseconds / 1000)
                counters.record(outcome.result, wallMicroseconds: wall)
                switch outcome.result {
                case .success(let value):
                    reply(Reply(
                        id: id, ok: true, value: value == .empty ? nil : value, kind: workload.kind, pool: kind, worker: outcome.worker,
                        workerPID: outcome.workerPID, wallMicroseconds: wall
                    ))
                case .failure(var error):
                    if error.code == .timeout, let timeout {
                        error.message += " (timeout \(timeout) ms)"
                    }
                    reply(Reply(
                        id: id, ok: false, kind: workload.kind, pool: kind, worker: outcome.worker,
                        workerPID: outcome.workerPID, wallMicroseconds: wall, error: error
                    ))
                }
            }
        )
        do {
            try pool.submit(job)
        } catch {
            counters.rejected.add(1, ordering: .relaxed)
            reply(Reply(id: id, ok: false, kind: workload.kind, pool: kind, error: error))
        }
    }

    /// The daemon's state now.
    package func status() -> DaemonStatus {
        let order: [PoolKind] = [.process, .thread, .async]
        let poolStatuses = order.compactMap { kind -> PoolStatus? in
            guard let pool = pools[kind], let counters = counters[kind] else { return nil }
            let snapshot = pool.snapshot()
            return PoolStatus(
                kind: kind,
                size: snapshot.size,
                busy: snapshot.busy,
                idle: max(0, snapshot.size - snapshot.busy),
                queued: snapshot.queued,
                queueLimit: snapshot.queueLimit,
                completed: counters.completed.load(ordering: .relaxed),
                failed: counters.failed.load(ordering: .relaxed),
                workers: snapshot.workers
            )
        }
        return withVisibility(DaemonStatus(
            pid: getpid(),
            version: Daemon.version,
            uptimeSeconds: Double((NIODeadline.now() - started).nanoseconds) / 1e9,
            socket: socketPath,
            pools: poolStatuses
        ))
    }
}
