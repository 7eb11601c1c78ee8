import ConcFleet
import ConcProtocol
import Glibc
import Logging
import NIOCore
import Synchronization

/// Routes each request to the pool it names (or its workload's natural pool), turns outcomes into
/// replies, and records each finished task in its pool's telemetry (``PoolRegistry``), here and
/// nowhere else; every report (status, STATUS=, the journal, Prometheus) reads it.
package final class Dispatcher: Sendable {
    /// The pools, in report order, with their telemetry.
    package let registry: PoolRegistry
    private let accepting = Atomic(true)
    private let started = NIODeadline.now()
    private let socketPath: String
    let logger: Logger
    let daemonControl = Mutex<DaemonControl?>(nil)
    /// The fleet's queue, when the configuration has one (Dispatcher+Queue.swift).
    let fleet = Mutex<FleetService?>(nil)
    /// Who may run which commands (`exec:`); a reload replaces it.
    private let execPolicy: Mutex<ExecPolicy>
    /// The Prometheus metrics of this daemon (Dispatcher+Visibility.swift).
    package var prometheus: PrometheusExporter { registry.prometheus }

    /// How many workers one task may kill before it is reported as poisonous and not run again.
    package static let poisonDeaths = 3

    /// What admin operations need from the daemon around the Dispatcher.
    package struct DaemonControl: Sendable {
        /// Re-reads the configuration (SIGHUP's work).
        package var reload: @Sendable () async -> Void
        /// Starts a graceful shutdown (SIGTERM's work).
        package var shutdown: @Sendable () async -> Void

        package init(reload: @escaping @Sendable () async -> Void, shutdown: @escaping @Sendable () async -> Void) {
            self.reload = reload
            self.shutdown = shutdown
        }
    }

    /// A Dispatcher over `pools`, which every report lists in this order; their names must be unique.
    package init(pools: [any Pool], socketPath: String, execPolicy: ExecPolicy = ExecPolicy(), logger: Logger = Logger(label: "concd")) {
        self.registry = PoolRegistry(pools: pools)
        self.execPolicy = Mutex(execPolicy)
        self.socketPath = socketPath
        self.logger = logger
    }

    /// Takes the exec policy a reload read; submissions from now on are checked against it.
    package func setExecPolicy(_ policy: ExecPolicy) {
        execPolicy.withLock { $0 = policy }
    }

    /// Lets `reload` and `shutdown` requests reach the daemon.
    package func connect(_ control: DaemonControl) {
        daemonControl.withLock { $0 = control }
    }

    /// Answers `request` from `peer` through `reply`, exactly once, possibly on another thread.
    package func handle(_ request: Request, peer: PeerCredentials? = nil, reply: @escaping @Sendable (Reply) -> Void) {
        if request.operation.isAdmin {
            admin(request, peer: peer, reply: reply)
            return
        }
        switch request.operation {
        case .ping:
            reply(Reply(id: request.id, ok: true, version: ProtocolLimits.version))
        case .status:
            reply(Reply(id: request.id, ok: true, status: status()))
        case .submit(let submission) where submission.durability != nil:
            queueOperation(request, reply: reply)
        case .submit(let submission):
            submit(submission, id: request.id, peer: peer, reply: reply)
        case .job, .waitJob, .cancelJob, .jobs:
            queueOperation(request, reply: reply)
        case .metrics:
            reply(Reply(id: request.id, ok: true, metrics: metricsExposition()))
        case .resize, .reload, .shutdown, .killWorker:
            preconditionFailure("admin operations are handled above")
        }
    }

    /// Refuses every submission from now on with `shutting_down` (open connections included).
    package func stopAccepting() {
        accepting.store(false, ordering: .relaxed)
    }

    /// The pool named `name`, for reload and admin operations.
    package func pool(_ name: PoolName) -> (any Pool)? {
        registry.entry(name)?.pool
    }

    /// The sentence for a pool name this daemon does not run.
    func noSuchPool(_ name: PoolName) -> WireError {
        let names = registry.names.map(\.rawValue).joined(separator: ", ")
        return WireError(.unsupportedPool, "this daemon runs no pool named '\(name)'; its pools: \(names)")
    }

    /// Runs a fleet job's submission like any other, its job tagged so that ``Pool/stop(tag:)`` can
    /// stop it; answers through `reply` exactly once.
    package func run(_ submission: Submission, tag: UInt64, reply: @escaping @Sendable (Reply) -> Void) {
        submit(submission, id: nil, peer: nil, tag: tag, reply: reply)
    }

    private func submit(
        _ submission: Submission, id: UInt64?, peer: PeerCredentials?, tag: UInt64? = nil, reply: @escaping @Sendable (Reply) -> Void
    ) {
        let kind = submission.resolvedPool
        guard let entry = registry.entry(kind) else {
            reply(.failure(id: id, noSuchPool(kind)))
            return
        }
        let pool = entry.pool
        let counters = entry.counters
        guard accepting.load(ordering: .relaxed) else {
            counters.rejected.add(1, ordering: .relaxed)
            reply(.failure(id: id, WireError(.shuttingDown, "concd is shutting down and takes no new tasks")))
            return
        }
        if let refusal = refusal(of: submission, on: entry, id: id) {
            reply(refusal)
            return
        }
        if submission.retries > 0 && entry.model != .process {
            reply(.failure(id: id, WireError(
                .invalidArgument,
                "retries apply only to the process pool and other process-model pools, where a worker can die; \(kind) tasks are never retried"
            )))
            return
        }
        var command: PreparedCommand?
        if case .exec(let argv) = submission.workload {
            switch authorize(argv, peer: peer) {
            case .success(let prepared): command = prepared
            case .failure(let error):
                counters.rejected.add(1, ordering: .relaxed)
                reply(Reply(id: id, ok: false, kind: .exec, pool: kind, error: error))
                return
            }
        }
        let attempt = Attempt(
            id: id, submission: submission, pool: pool, counters: counters, received: .now(), command: command, tag: tag,
            reply: reply
        )
        do {
            try pool.submit(job(for: attempt, number: 1, deaths: []))
        } catch {
            counters.rejected.add(1, ordering: .relaxed)
            reply(Reply(id: id, ok: false, kind: submission.workload.kind, pool: kind, error: error))
        }
    }

    /// Why `entry`'s pool cannot run `submission` (its model, a call to a pool that runs no program
    /// or the reverse, a function the program does not have), as the reply to request `id`; nil when
    /// it can. Local and durable submissions are checked alike.
    func refusal(of submission: Submission, on entry: PoolRegistry.Entry, id: UInt64?) -> Reply? {
        let kind = entry.name
        if let refusal = submission.workload.kind.refusal(onPool: kind, model: entry.model) {
            return .failure(id: id, refusal)
        }
        if entry.pool.runsProgram != (submission.workload.kind == .call) {
            return .failure(id: id, WireError(
                .unsupportedPool,
                entry.pool.runsProgram
                    ? "the \(kind) pool runs a program (pools.\(kind).command) and takes calls ('fn' and 'args'), not \(submission.workload.kind)"
                    : "the \(kind) pool runs concd's own workloads, not calls; a call goes to a pool that runs a program (pools.NAME.command)"
            ))
        }
        if case .call(let function, _) = submission.workload, let refusal = entry.pool.refusal(forFunction: function) {
            return Reply(id: id, ok: false, kind: .call, pool: kind, error: refusal)
        }
        return nil
    }

    /// What every attempt at one submitted task shares.
    private struct Attempt: Sendable {
        var id: UInt64?
        var submission: Submission
        var pool: any Pool
        var counters: PoolCounters
        var received: NIODeadline
        var command: PreparedCommand?
        var tag: UInt64?
        var reply: @Sendable (Reply) -> Void
    }

    /// The exec policy's decision on `argv` for `peer`, logged with the caller's uid and pid either
    /// way: a command runs as the daemon's user, so each one is on record.
    private func authorize(_ argv: [String], peer: PeerCredentials?) -> Result<PreparedCommand, WireError> {
        let decision = execPolicy.withLock { $0 }.authorize(argv, caller: peer)
        var audit: Logger.Metadata = [
            "event": "exec", "argv": "\(argv.joined(separator: " "))",
            "caller_uid": "\(peer.map { "\($0.uid)" } ?? "unknown")",
            "caller_pid": "\(peer.map { "\($0.pid)" } ?? "unknown")",
        ]
        switch decision {
        case .success(let command):
            audit["program"] = "\(command.executable)"
            logger.info("running a command", metadata: audit)
        case .failure(let error):
            audit["outcome"] = "refused"
            audit["reason"] = "\(error.message)"
            logger.warning("refused a command", metadata: audit)
        }
        return decision
    }

    /// The job for attempt `number`; `deaths` describes the workers earlier attempts died on.
    private func job(for attempt: consuming Attempt, number: Int, deaths: [String]) -> Job {
        DispatchedJob(dispatcher: self, attempt: attempt, number: number, deaths: deaths)
    }

    /// A submitted task's job: what answering it needs is kept in the job itself, one object,
    /// instead of in a callback's captures beside it.
    private final class DispatchedJob: Job, @unchecked Sendable {
        let dispatcher: Dispatcher
        let attempt: Attempt
        let number: Int
        let deaths: [String]

        init(dispatcher: Dispatcher, attempt: Attempt, number: Int, deaths: [String]) {
            let workload = attempt.submission.workload
            let deadline = attempt.submission.timeoutMilliseconds.map { attempt.received + .milliseconds($0) }
            let (command, tag) = (attempt.command, attempt.tag)
            self.dispatcher = dispatcher
            // Its last use: moved in, not copied (about 200 instructions a task).
            self.attempt = attempt
            self.number = number
            self.deaths = deaths
            super.init(workload: workload, deadline: deadline, command: command, tag: tag)
        }

        override func complete(_ outcome: TaskOutcome) {
            dispatcher.answer(attempt, number: number, deaths: deaths, outcome: outcome)
        }
    }

    /// Answers attempt `number` of a task with its outcome, or runs the task again after its worker died.
    private func answer(_ attempt: Attempt, number: Int, deaths: [String], outcome: TaskOutcome) {
        let workload = attempt.submission.workload
        if case .failure(let error) = outcome.result, error.code == .workerDied,
            retry(attempt, after: number, deaths: deaths + [error.message])
        {
            return
        }
        let wall = UInt64((NIODeadline.now() - attempt.received).nanoseconds / 1000)
        let attempts = number > 1 ? number : nil
        switch outcome.result {
        case .success(let value):
            attempt.counters.record(.success(value), wallMicroseconds: wall)
            attempt.reply(Reply(
                task: attempt.id, ok: true, value: value == .empty ? nil : value, kind: workload.kind, pool: attempt.pool.name,
                worker: outcome.worker, workerPID: outcome.workerPID, wallMicroseconds: wall, error: nil, attempts: attempts
            ))
        case .failure(var error):
            if error.code == .timeout, let timeout = attempt.submission.timeoutMilliseconds {
                error.message += " (timeout \(timeout) ms)"
            }
            if error.code == .workerDied, deaths.count + 1 >= Self.poisonDeaths {
                error = Self.poisoned(workload, deaths: deaths + [error.message])
            } else if error.code == .workerDied, number > 1 {
                error.message += " (attempt \(number) of \(attempt.submission.retries + 1))"
            }
            attempt.counters.record(.failure(error), wallMicroseconds: wall)
            attempt.reply(Reply(
                task: attempt.id, ok: false, value: nil, kind: workload.kind, pool: attempt.pool.name, worker: outcome.worker,
                workerPID: outcome.workerPID, wallMicroseconds: wall, error: error, attempts: attempts
            ))
        }
    }

    /// Runs a task again after its worker died, when it asked for retries and has not killed too
    /// many workers yet. Returns false when the failure should be answered instead.
    private func retry(_ attempt: Attempt, after number: Int, deaths: [String]) -> Bool {
        guard number <= attempt.submission.retries, deaths.count < Self.poisonDeaths,
            accepting.load(ordering: .relaxed)
        else { return false }
        attempt.counters.retried.add(1, ordering: .relaxed)
        logger.notice(
            "worker died under a task; running it again",
            metadata: [
                "event": "task_retried", "task": "\(attempt.submission.workload)", "attempt": "\(number + 1)",
                "reason": "\(deaths.last ?? "")",
            ]
        )
        do {
            try attempt.pool.submit(job(for: attempt, number: number + 1, deaths: deaths))
            return true
        } catch {
            return false
        }
    }

    private static func poisoned(_ workload: Workload, deaths: [String]) -> WireError {
        WireError(
            .poisoned,
            "\(workload) killed \(deaths.count) workers in a row and is not run again; the last: \(deaths.last ?? "?")"
        )
    }

    /// The daemon's state now, its pools in registry order.
    package func status() -> DaemonStatus {
        let poolStatuses = registry.entries.map { entry -> PoolStatus in
            let counters = entry.counters
            let snapshot = entry.pool.snapshot()
            var status = PoolStatus(
                kind: entry.name,
                model: entry.model,
                size: snapshot.size,
                busy: snapshot.busy,
                idle: max(0, snapshot.size - snapshot.busy),
                queued: snapshot.queued,
                queueLimit: snapshot.queueLimit,
                completed: counters.completed.load(ordering: .relaxed),
                failed: counters.failed.load(ordering: .relaxed),
                workers: snapshot.workers
            )
            status.minimum = snapshot.minimum
            status.maximum = snapshot.maximum
            return status
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
