import ConcProtocol
import Foundation
import Logging
import PostgresNIO
import ServiceLifecycle
import Synchronization

/// One host of the fleet: keeps the schema current, claims jobs for the local pools while they have
/// room, runs them through the ``FleetExecutor``, records their outcomes, renews their leases,
/// rescues jobs whose hosts went silent, prunes old results, and stores and waits for durable
/// submissions made on this host (FleetService+Submissions.swift).
///
/// The daemon starts even when the database is down: this service retries with backoff, reports the
/// problem in ``status()``, and local submissions that do not ask for durability never touch it.
package final class FleetService: Service, Sendable {
    package let settings: FleetSettings
    let client: PostgresClient
    let store: JobStore
    let logger: Logger
    private let executor: any FleetExecutor
    private let machine: Mutex<FleetHostMachine>
    /// A room check is on its way (``claimSoon()``).
    private let claimCheckPending = Atomic<Bool>(false)
    let health = Mutex(Health())
    let waiters = Mutex(Waiters())
    let inserts = Mutex(InsertBatch())
    private let clock = ContinuousClock()
    private let startInstant: ContinuousClock.Instant
    private let startDate = Date()

    /// What ``status()`` reports besides the machine's counters.
    struct Health: Sendable {
        var schemaReady = false
        var connected = false
        var problem: String? = "connecting to the database"
        var jobs: [String: Int] = [:]
        var hosts: [FleetHostStatus] = []
        var rescued = 0
        /// Claim round trips, for the claim latency the metrics report.
        var claimSeconds = 0.0
        var claims = 0
    }

    /// How long a graceful stop waits for the jobs running here to finish and be recorded.
    package static let drainSeconds = 30.0

    package init(settings: FleetSettings, executor: any FleetExecutor, logger: Logger) {
        self.settings = settings
        var configuration = settings.url.clientConfiguration
        // One connection listens; claims, completions, renewals, inserts and waits each have at most
        // one statement in flight, plus reads for `job`, `jobs` and status.
        configuration.options.maximumConnections = 8
        configuration.options.minimumConnections = 2
        self.client = PostgresClient(configuration: configuration, backgroundLogger: logger)
        self.store = JobStore(client: client, logger: logger)
        self.logger = logger
        self.executor = executor
        self.machine = Mutex(FleetHostMachine(claimBatch: settings.claimBatch, leaseSeconds: settings.leaseSeconds))
        self.startInstant = clock.now
    }

    /// Seconds since this service started, on the monotonic clock.
    var uptime: Double {
        let elapsed = clock.now - startInstant
        return Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
    }

    private var poolNames: [String] { settings.pools.map(\.rawValue) }

    // MARK: Running

    package func run() async throws {
        await withDiscardingTaskGroup { group in
            group.addTask { await self.client.run() }
            group.addTask { await self.work() }
            try? await gracefulShutdown()
            await self.drain()
            group.cancelAll()
        }
        waiters.withLock { $0.failAll() }
        inserts.withLock { $0.failAll(WireError(.shuttingDown, "concd is shutting down; the submission was not stored")) }
    }

    private func work() async {
        await migrate()
        guard !Task.isCancelled else { return }
        await withDiscardingTaskGroup { group in
            group.addTask { await self.listen() }
            group.addTask { await self.every(seconds: 0.25) { self.tick() } }
            group.addTask { await self.every(seconds: self.settings.leaseSeconds / 3) { await self.renewAndReport() } }
            group.addTask { await self.every(seconds: self.settings.pollSeconds) { self.poll() } }
            group.addTask { await self.every(seconds: min(1, self.settings.leaseSeconds / 4)) { await self.rescue() } }
            group.addTask { await self.every(seconds: 60) { await self.prune() } }
            group.addTask { await self.every(seconds: 1) { await self.recheckWaiters(olderThan: 1) } }
        }
    }

    private func every(seconds: Double, _ body: @Sendable () async -> Void) async {
        while !Task.isCancelled {
            try? await Task.sleep(for: .milliseconds(Int(seconds * 1000)))
            guard !Task.isCancelled else { return }
            await body()
        }
    }

    /// Creates or updates the schema, retrying with backoff until the database answers; a schema
    /// from a newer concd is reported and never touched.
    private func migrate() async {
        var delay = 0.5
        while !Task.isCancelled {
            do {
                // The pool would hold a query back for a minute while it cannot connect; one
                // connection of its own says at once why the database cannot be used.
                _ = try await settings.url.check(logger: logger)
                let found = try await FleetSchema.migrate(client, logger: logger)
                health.withLock {
                    $0.schemaReady = true
                    $0.connected = true
                    $0.problem = nil
                }
                logger.info(
                    "fleet queue ready",
                    metadata: [
                        "event": "queue_ready", "database": "\(settings.url)", "schema": "\(FleetSchema.latest)", "schema_found": "\(found)",
                        "host": "\(settings.hostName)", "pools": "\(poolNames.joined(separator: ","))",
                    ]
                )
                return
            } catch {
                let problem = FleetError.from(error, doing: "preparing the queue's schema")
                lost(problem, event: "queue_unavailable")
                try? await Task.sleep(for: .milliseconds(Int(delay * 1000)))
                delay = min(delay * 2, 5)
            }
        }
    }

    /// Records that the database cannot be used now; logged once per change of problem.
    func lost(_ problem: FleetError, event: String) {
        let changed = health.withLock { health -> Bool in
            let changed = health.problem != problem.description
            health.connected = false
            health.problem = problem.description
            return changed
        }
        if changed {
            logger.error("the fleet queue's database is unavailable", metadata: ["event": "\(event)", "reason": "\(problem)"])
        }
    }

    private func reachable() {
        let changed = health.withLock { health -> Bool in
            let changed = !health.connected && health.schemaReady
            if health.schemaReady {
                health.connected = true
                health.problem = nil
            }
            return changed
        }
        if changed { logger.notice("the fleet queue's database is reachable again", metadata: ["event": "queue_reconnected"]) }
    }

    /// Holds one connection that LISTENs on the queue's channels; when it breaks, waits and opens another.
    private func listen() async {
        var delay = 0.5
        while !Task.isCancelled {
            do {
                try await client.withConnection { connection in
                    try await withThrowingTaskGroup(of: Void.self) { group in
                        for channel in [JobStore.queuedChannel, JobStore.doneChannel, JobStore.cancelChannel] {
                            group.addTask {
                                try await connection.listen(on: channel) { notifications in
                                    // Listening now: whatever was sent before is looked for once.
                                    self.listening(channel)
                                    for try await notification in notifications {
                                        self.notified(channel, payload: notification.payload)
                                    }
                                }
                            }
                        }
                        try await group.next()
                        group.cancelAll()
                    }
                }
                delay = 0.5
            } catch {
                guard !Task.isCancelled else { return }
                lost(FleetError.from(error, doing: "listening for the queue's notifications"), event: "queue_unavailable")
            }
            try? await Task.sleep(for: .milliseconds(Int(delay * 1000)))
            delay = min(delay * 2, 5)
        }
    }

    private func listening(_ channel: String) {
        reachable()
        switch channel {
        case JobStore.queuedChannel: poll()
        case JobStore.doneChannel: Task { await recheckWaiters(olderThan: 0) }
        default: break
        }
    }

    private func notified(_ channel: String, payload: String) {
        switch channel {
        case JobStore.queuedChannel:
            let pools = payload.split(separator: ",")
            if pools.contains(where: { poolNames.contains(String($0)) }) { poll() }
        case JobStore.doneChannel:
            finishedElsewhere(payload.split(separator: ",").compactMap { Int64($0) })
        case JobStore.cancelChannel:
            let parts = payload.split(separator: " ", maxSplits: 1)
            guard parts.count == 2, String(parts[1]) == settings.hostName, let id = Int64(parts[0]) else { return }
            let action = machine.withLock { $0.cancelled(id) }
            if action != nil { logger.info("durable job cancelled while it ran here", metadata: ["event": "job_cancelled", "job": "\(id)"]) }
            perform(action)
        default:
            break
        }
    }

    // MARK: Claiming and running

    /// Jobs may be waiting: claim what the local pools have room for.
    private func poll() {
        guard health.withLock({ $0.schemaReady }) else { return }
        let load = executor.load(settings.pools)
        perform(machine.withLock { $0.jobsMayWait(free: free(load, running: $0.runningByPool, ahead: $0.ahead), now: uptime) })
    }

    /// Room may have opened: claim again if the queue may still hold work.
    private func claimIfRoom() {
        guard machine.withLock({ $0.mayClaim }) else { return }
        let load = executor.load(settings.pools)
        perform(machine.withLock { $0.claimIfRoom(free: free(load, running: $0.runningByPool, ahead: $0.ahead), now: uptime) })
    }

    /// Each pool's room: its capacity less what it holds, or less the jobs this host gave it (a pool
    /// may count a job handed to it only once a worker takes it), plus the prefetch and what the
    /// machine claims ahead of the pool's own room (``FleetHostMachine/ahead``).
    private func free(_ load: [String: (capacity: Int, used: Int)], running: [String: Int], ahead: [String: Int] = [:]) -> [String: Int] {
        load.reduce(into: [:]) { free, item in
            let used = max(item.value.used, running[item.key, default: 0])
            free[item.key] = max(0, item.value.capacity + settings.prefetch + ahead[item.key, default: 0] - used)
        }
    }

    private func perform(_ action: FleetHostMachine.Action?) {
        guard let action else { return }
        switch action {
        case .claim(let demand):
            Task {
                let started = uptime
                do {
                    let jobs = try await store.claim(
                        demand.map { ($0.pool, $0.count) }, host: settings.hostName,
                        leaseMilliseconds: Int(settings.leaseSeconds * 1000)
                    )
                    health.withLock {
                        $0.claims += 1
                        $0.claimSeconds += uptime - started
                    }
                    reachable()
                    let received = uptime
                    for next in machine.withLock({ $0.claimSucceeded(jobs, now: received) }) { perform(next) }
                    claimIfRoom()
                } catch {
                    machine.withLock { $0.claimFailed() }
                    lost(FleetError.from(error, doing: "claiming jobs"), event: "queue_unavailable")
                }
            }
        case .run(let jobs):
            for job in jobs {
                executor.run(job) { outcome in self.ran(job, outcome) }
            }
        case .complete(let batch):
            Task {
                do {
                    let recorded = try await store.complete(batch)
                    let refused = batch.filter { !recorded.contains($0.id) }
                    if !refused.isEmpty {
                        logger.warning(
                            "completions refused: those attempts are no longer this host's",
                            metadata: ["event": "completion_fenced", "jobs": "\(refused.map(\.id))"]
                        )
                    }
                    perform(machine.withLock { $0.completionSucceeded(recorded: recorded) })
                    claimIfRoom()
                } catch {
                    machine.withLock { $0.completionFailed() }
                    lost(FleetError.from(error, doing: "recording outcomes"), event: "queue_unavailable")
                }
            }
        case .renew(let leases):
            Task {
                do {
                    let held = try await store.renew(
                        leases.map { ($0.id, $0.attempt) }, leaseMilliseconds: Int(settings.leaseSeconds * 1000)
                    )
                    perform(machine.withLock { $0.renewSucceeded(held: held) })
                } catch {
                    machine.withLock { $0.renewFailed() }
                    lost(FleetError.from(error, doing: "renewing leases"), event: "queue_unavailable")
                }
            }
        case .abandon(let leases, let dropped):
            logger.warning(
                "dropping jobs whose attempts are no longer this host's (cancelled, or the lease lapsed): the running ones' outcomes and the finished ones' unsent outcomes",
                metadata: [
                    "event": "jobs_abandoned", "jobs": "\(leases.map { "\($0.id)#\($0.attempt)" })",
                    "dropped": "\(dropped.map { "\($0.id)#\($0.attempt)" })",
                ]
            )
            if !leases.isEmpty { executor.abandon(leases) }
        }
    }

    private func ran(_ job: JobStore.ClaimedJob, _ outcome: FleetRunOutcome) {
        let completion: JobStore.Completion
        switch outcome {
        case .succeeded(let reply):
            completion = .init(id: job.id, attempt: job.attempt, outcome: .succeeded, reply: reply, error: nil)
        case .failed(let reply, let error, let final):
            let attemptError = JobAttemptError(attempt: job.attempt, host: settings.hostName, error: error)
            let json = (try? JSONEncoder().encode(attemptError)).flatMap { String(bytes: $0, encoding: .utf8) }
            let delay = settings.backoff(afterAttempt: job.attempt)
            completion = .init(
                id: job.id, attempt: job.attempt, outcome: final ? .failed : .retry, reply: reply, error: json,
                delayMilliseconds: Int(delay * 1000)
            )
        case .refused:
            completion = .init(id: job.id, attempt: job.attempt, outcome: .release, reply: nil, error: nil)
        }
        perform(machine.withLock { $0.finished(completion) })
        claimSoon()
    }

    /// Room opened in a pool: one check of the room goes out for however many tasks finish before
    /// it runs. Tasks finish on the pools' threads, hundreds at once with the thread pool grown;
    /// each measuring the pools and taking the machine's lock cost more CPU than the job itself.
    private func claimSoon() {
        guard claimCheckPending.compareExchange(expected: false, desired: true, ordering: .acquiringAndReleasing).exchanged else {
            return
        }
        Task {
            claimCheckPending.store(false, ordering: .releasing)
            claimIfRoom()
        }
    }

    // MARK: Housekeeping

    private func tick() {
        let time = uptime
        var actions: [FleetHostMachine.Action] = []
        machine.withLock { machine in
            if let abandon = machine.tick(now: time) { actions.append(abandon) }
            if let retry = machine.retryCompletions() { actions.append(retry) }
        }
        for action in actions { perform(action) }
    }

    private func renewAndReport() async {
        guard health.withLock({ $0.schemaReady }) else { return }
        perform(machine.withLock { $0.renewDue(now: uptime) })
        let (running, byPool) = machine.withLock { ($0.running, $0.runningByPool) }
        let free = free(executor.load(settings.pools), running: byPool).values.reduce(0, +)
        do {
            try await store.heartbeat(host: settings.hostName, started: startDate, pools: poolNames, free: free, running: running)
            let (jobs, hosts) = try await store.overview()
            health.withLock {
                $0.jobs = jobs
                $0.hosts = hosts
            }
            reachable()
        } catch {
            lost(FleetError.from(error, doing: "sending the heartbeat"), event: "queue_unavailable")
        }
    }

    private func rescue() async {
        guard health.withLock({ $0.schemaReady && $0.connected }) else { return }
        do {
            let rescue = try await store.rescueExpired()
            guard rescue.requeued + rescue.failed > 0 else { return }
            health.withLock { $0.rescued += rescue.requeued + rescue.failed }
            logger.warning(
                "took back jobs whose hosts stopped renewing their leases",
                metadata: ["event": "jobs_rescued", "requeued": "\(rescue.requeued)", "failed": "\(rescue.failed)"]
            )
            if rescue.requeued > 0 { poll() }
        } catch {
            lost(FleetError.from(error, doing: "rescuing expired leases"), event: "queue_unavailable")
        }
    }

    private func prune() async {
        guard health.withLock({ $0.schemaReady && $0.connected }) else { return }
        do {
            let pruned = try await store.prune(retentionSeconds: settings.retentionSeconds)
            if pruned > 0 {
                logger.info("pruned finished jobs past their retention", metadata: ["event": "jobs_pruned", "jobs": "\(pruned)"])
            }
        } catch {
            lost(FleetError.from(error, doing: "pruning finished jobs"), event: "queue_unavailable")
        }
    }

    /// Stops claiming and waits, up to ``drainSeconds``, for the jobs running here to be recorded.
    private func drain() async {
        machine.withLock { $0.stop() }
        let deadline = uptime + Self.drainSeconds
        while uptime < deadline {
            let idle = machine.withLock { $0.isIdle }
            if idle { return }
            tick()
            try? await Task.sleep(for: .milliseconds(50))
        }
        let held = machine.withLock { $0.held }
        logger.warning(
            "stopped with durable jobs unrecorded; their leases lapse and another host runs them again",
            metadata: ["event": "queue_drain_timeout", "jobs": "\(held)"]
        )
    }

    // MARK: Status

    /// The queue as this host sees it.
    package func status() -> QueueStatus {
        let (health, counters) = (self.health.withLock { $0 }, machine.withLock { ($0.held, $0.claimed, $0.completed, $0.fenced) })
        return QueueStatus(
            connected: health.connected, problem: health.problem, host: settings.hostName, pools: poolNames,
            jobs: health.jobs, hosts: health.hosts, running: counters.0, claimed: counters.1, completed: counters.2,
            fenced: counters.3, rescued: health.rescued, claims: health.claims, claimSeconds: health.claimSeconds
        )
    }
}
