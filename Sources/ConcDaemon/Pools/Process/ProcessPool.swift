import ConcProtocol
import ConcWorkerCore
import Glibc
import Logging
import NIOCore
import NIOPosix
import Synchronization

/// N pre-spawned worker processes, driven from the event loops.
///
/// Every decision is `ProcessPoolStateMachine`'s; this class holds it behind one lock and carries
/// out what it decides once the lock is released. The lock is held only inside `decide`, which
/// never calls out: sends, completions (which reply to clients and may submit a retry), spawns,
/// stops and timers all run after it, in `perform`, so nothing re-enters the lock while it is held.
///
/// Each worker's socket is read by a NIO channel on one of the event loops (`WorkerConnection`),
/// and a task reaches it with one `send` from whichever thread accepted it, which is usually that
/// same event loop: a submission prefers an idle worker whose channel lives on the submitting
/// thread's loop. A no-op's path is then client → event loop → worker → event loop → client, four
/// wake-ups, the fewest a separate process allows. Workers are spawned by `WorkerLauncher` on a
/// thread of its own and stopped by `WorkerReaper`.
package final class ProcessPool: Pool {
    package let name: PoolName
    package var model: PoolModel { .process }
    private typealias Machine = ProcessPoolStateMachine<WorkerConnection>

    private let logger: Logger
    private let loops: [any EventLoop]
    private let state: Mutex<Machine>
    private let launcher: WorkerLauncher
    /// Counts slots that have not stopped for good; shutdown waits for it.
    private let stopped = Countdown(0)
    private let initialSize: Int
    /// What the workers run, which decides how tasks and replies are written on their channels.
    private let program: WorkerProgram
    /// How long a new worker has to say it is ready.
    private let greetingTimeout: TimeAmount
    /// The functions the program's workers said they have in their ready message; nil while none said.
    private let functions = Mutex<Set<String>?>(nil)
    /// Puts workers under their memory limit and says whether one was stopped for passing it.
    private let limiter: MemoryLimiter?
    /// The bounds an elastic pool moves between, asked every `ProcessPoolGrowth.tick`.
    private let growth: Mutex<ProcessPoolGrowth>
    /// The tick, while the pool is elastic and running; set at shutdown to stop for good.
    private let ticker = Mutex<(task: RepeatedTask?, closed: Bool)>((nil, false))
    /// Set while a growth or retirement is under way, so that ticks do not pile resizes up.
    private let resizing = Atomic<Bool>(false)

    /// How long a busy worker's exit goes unchecked: a dead worker normally closes its socket, but
    /// a process it left behind holding the socket (a crash handler it started, say) would keep
    /// its task waiting forever.
    private static let exitCheck: TimeAmount = .seconds(1)
    /// How long after a failed spawn the slot tries again.
    private static let respawnDelay: TimeAmount = .seconds(1)
    /// Creates a pool called `name` of `size` workers (`<name>-0`, …) running `program`, each given
    /// `startTimeout` to say it is ready; their channels are spread over the loops of
    /// `eventLoopGroup`. A queued task may be sent to a busy worker behind a task expected to take
    /// at most `prefetchBehind` (see `ProcessPoolStateMachine.prefetch`).
    package init(
        name: PoolName = .process, size: Int, maximum: Int? = nil, idleTimeout: TimeAmount = .seconds(10), queueLimit: Int,
        program: WorkerProgram, startTimeout: TimeAmount = .seconds(10),
        recycling: RecyclePolicy = RecyclePolicy(), memoryLimit: MemoryLimit? = nil, prefetchBehind: Duration = .milliseconds(1),
        eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton, logger: Logger
    ) {
        precondition(size > 0, "a process pool needs at least one worker")
        self.name = name
        self.limiter = memoryLimit.map { MemoryLimiter(limit: $0, pool: name.rawValue, logger: logger) }
        self.growth = Mutex(ProcessPoolGrowth(minimum: size, maximum: maximum ?? size, idleTimeout: idleTimeout))
        self.logger = logger
        self.initialSize = size
        self.program = program
        self.greetingTimeout = startTimeout
        self.loops = Array(eventLoopGroup.makeIterator())
        self.launcher = WorkerLauncher(program: program, pool: name.rawValue, limiter: limiter, logger: logger)
        self.state = Mutex(Machine(Machine.Configuration(
            name: name.rawValue, executable: program.description, queueLimit: queueLimit, recycling: recycling, prefetchBehind: prefetchBehind,
            residentBytes: { ProcFS.residentBytes(pid: $0) }
        )))
    }

    /// A pool of concd's own workers, `executable` in worker mode.
    package convenience init(
        name: PoolName = .process, size: Int, queueLimit: Int, executable: String,
        recycling: RecyclePolicy = RecyclePolicy(), prefetchBehind: Duration = .milliseconds(1),
        eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton, logger: Logger
    ) {
        self.init(
            name: name, size: size, queueLimit: queueLimit, program: .builtIn(executable: executable), recycling: recycling,
            prefetchBehind: prefetchBehind, eventLoopGroup: eventLoopGroup, logger: logger
        )
    }

    // MARK: Pool

    package var runsProgram: Bool { program.isCommand }

    package func refusal(forFunction function: String) -> WireError? {
        guard let known = functions.withLock({ $0 }), !known.contains(function) else { return nil }
        let names = known.sorted().joined(separator: ", ")
        return WireError(.unknownFunction, "the \(name) pool's program has no function '\(function)'; it has: \(names.isEmpty ? "none" : names)")
    }

    package func start() async throws {
        try await grow(by: initialSize)
        updateTicker()
    }

    package func submit(_ job: Job) throws(WireError) {
        let (refusal, actions) = decide { machine, actions in
            machine.submit(job, now: .now(), preferring: { $0.eventLoop.inEventLoop }, actions: &actions)
        }
        perform(actions)
        if let refusal {
            throw refusal.wireError(pool: name, limit: state.withLock { $0.configuration.queueLimit })
        }
    }

    package func snapshot() -> PoolSnapshot {
        var snapshot = state.withLock { $0.snapshot() }
        let bounds = growth.withLock { ($0.minimum, $0.maximum) }
        (snapshot.minimum, snapshot.maximum) = bounds
        return snapshot
    }

    /// Sets the size now and the minimum, raising the maximum to it if lower.
    package func resize(size: Int, queueLimit: Int) async throws {
        growth.withLock { $0.setBounds(minimum: size, maximum: $0.maximum, idleTimeout: $0.idleTimeout) }
        try await apply(size: size, queueLimit: queueLimit)
        updateTicker()
    }

    package func setGrowth(maximum: Int, idleTimeout: TimeAmount) {
        growth.withLock { $0.setBounds(minimum: $0.minimum, maximum: maximum, idleTimeout: idleTimeout) }
        updateTicker()
    }

    /// Starts the tick when the pool became elastic, stops it when it no longer is.
    private func updateTicker() {
        let elastic = growth.withLock { $0.isElastic }
        let stale = ticker.withLock { ticker -> RepeatedTask? in
            guard !ticker.closed else { return nil }
            if elastic {
                guard ticker.task == nil else { return nil }
                ticker.task = loops[0].scheduleRepeatedTask(initialDelay: ProcessPoolGrowth.tick, delay: ProcessPoolGrowth.tick) {
                    [weak self] _ in self?.tick()
                }
                return nil
            }
            defer { ticker.task = nil }
            return ticker.task
        }
        stale?.cancel()
    }

    /// Grows the pool while work waits, retires workers idle for a whole idle window.
    private func tick() {
        guard !resizing.load(ordering: .relaxed) else { return }
        let snapshot = state.withLock { $0.snapshot() }
        let starting = snapshot.workers?.filter { $0.pid == nil }.count ?? 0
        guard let wanted = growth.withLock({
            $0.tick(now: .now(), size: snapshot.size, starting: starting, busy: snapshot.busy, queued: snapshot.queued)
        }) else { return }
        guard resizing.compareExchange(expected: false, desired: true, ordering: .acquiring).exchanged else { return }
        let bounds = growth.withLock { ($0.minimum, $0.maximum) }
        let metadata: Logger.Metadata = [
            "pool": "\(name)", "from": "\(snapshot.size)", "to": "\(wanted)", "min": "\(bounds.0)", "max": "\(bounds.1)",
        ]
        if wanted > snapshot.size {
            logger.info("\(snapshot.queued) tasks wait: the \(name) pool grows from \(snapshot.size) to \(wanted) workers", metadata: metadata.merging(["event": "pool_grew"]) { $1 })
        } else {
            logger.info("workers idle for the idle time retire: the \(name) pool shrinks from \(snapshot.size) to \(wanted)", metadata: metadata.merging(["event": "pool_shrank"]) { $1 })
        }
        Task {
            defer { resizing.store(false, ordering: .releasing) }
            do {
                try await apply(size: wanted, queueLimit: nil)
            } catch {
                logger.warning("the \(name) pool could not grow: \(error)", metadata: ["event": "pool_grow_failed", "pool": "\(name)"])
            }
        }
    }

    /// Resizes the state machine to `size` workers, spawning what growth needs.
    private func apply(size: Int, queueLimit: Int?) async throws {
        precondition(size > 0, "a process pool needs at least one worker")
        let (change, actions) = decide { machine, actions -> (from: Int, add: Int) in
            let from = machine.snapshot().size
            let queueLimit = queueLimit ?? machine.configuration.queueLimit
            return (from, machine.resize(size: size, queueLimit: queueLimit, now: .now(), actions: &actions))
        }
        perform(actions)
        if change.add > 0 {
            try await grow(by: change.add)
        } else if size < change.from {
            logger.info(
                "pool shrinking",
                metadata: ["event": "pool_resized", "resized": "\(name)", "from": "\(change.from)", "to": "\(size)"]
            )
        }
    }

    package func shutdown() async {
        let tick = ticker.withLock { ticker -> RepeatedTask? in
            ticker.closed = true
            defer { ticker.task = nil }
            return ticker.task
        }
        tick?.cancel()
        let ((), actions) = decide { machine, actions in machine.close(now: .now(), actions: &actions) }
        perform(actions)
        await stopped.wait()
        await launcher.shutdown()
        limiter?.close()
    }

    /// Tasks sent so far to a worker behind the task it was running.
    package var prefetchedTasks: UInt64 { state.withLock { $0.prefetchedTasks } }

    /// Changes when workers are recycled; each worker picks up the policy when it is next spawned.
    package func setRecycling(_ policy: RecyclePolicy) {
        state.withLock { $0.setRecycling(policy) }
    }

    package func stop(tag: UInt64) -> Bool {
        let (found, actions) = decide { machine, actions in machine.stop(tag: tag, now: .now(), actions: &actions) }
        perform(actions)
        return found
    }

    /// SIGKILLs the worker with this pid (`concctl kill-worker`); the pool replaces it, and the
    /// task it ran fails as `worker_died` (or runs again, if it asked for retries).
    package func kill(workerPID pid: Int32) -> Result<String, WireError> {
        state.withLock { machine in
            // Under the lock: a pid is collected only under it, so it is still this worker's.
            if let name = machine.workerName(pid: pid), Glibc.kill(pid, SIGKILL) == 0 {
                return .success("sent SIGKILL to \(name) (pid \(pid)); the pool replaces it")
            }
            let known = machine.workerList()
            return .failure(WireError(
                .notFound,
                "pid \(pid) is not one of concd's process workers (\(known.isEmpty ? "none running" : known.joined(separator: ", ")))"
            ))
        }
    }

    // MARK: Events

    /// A message from worker `worker` of slot `slot`, on its channel's event loop.
    func received(slot: Int, worker: UInt64, message: ByteBuffer) {
        let reply = message.withUnsafeReadableBytes { WorkerMessage.decodeReply($0) }
        let ((), actions) = decide { machine, actions in
            switch reply {
            case .hello?:
                machine.greeted(slot: slot, worker: worker, now: .now(), actions: &actions)
            case .result(let result)?:
                machine.answered(slot: slot, worker: worker, result: result, now: .now(), actions: &actions)
            case nil:
                let error = WireError(.internal, "worker \(name)-\(slot) sent a reply the daemon could not read")
                machine.answered(slot: slot, worker: worker, result: .failure(error), now: .now(), actions: &actions)
            }
        }
        perform(actions)
    }

    /// A line from worker `worker` of slot `slot` running the user's program, on its channel's event loop.
    func received(slot: Int, worker: UInt64, line: ByteBuffer) {
        let message = UserWorkerProtocol.decode(line.readableBytesView)
        let ((), actions) = decide { machine, actions in
            switch message {
            case .success(.ready(let version, let names)) where version == UserWorkerProtocol.version:
                // The newest worker's list wins: a program updated on disk is picked up as workers are replaced.
                if let names { functions.withLock { $0 = Set(names) } }
                machine.greeted(slot: slot, worker: worker, now: .now(), actions: &actions)
            case .success(.ready(let version, _)):
                let reason = "it speaks worker protocol \(version); this concd speaks \(UserWorkerProtocol.version)"
                machine.misbehaved(slot: slot, worker: worker, reason: reason, now: .now(), actions: &actions)
            case .success(.result(let id, let result)):
                guard let running = machine.runningSequence(slot: slot, worker: worker), running == id else {
                    let reason = "it answered task \(id), which it was not running"
                    machine.misbehaved(slot: slot, worker: worker, reason: reason, now: .now(), actions: &actions)
                    return
                }
                var result = result.map(TaskValue.json)
                var recycle: String?
                // Under RLIMIT_DATA a program sees the limit as its own allocation failure.
                if let limiter, case .failure(let error) = result, error.code == .taskFailed, error.type == "MemoryError" {
                    recycle = "a task passed the memory limit of \(limiter.limit.megabytes) MiB"
                    result = .failure(WireError(
                        .outOfMemory,
                        "\(error.message): the task passed the \(name) pool's memory limit of \(limiter.limit.megabytes) MiB (RLIMIT_DATA); its worker is replaced"
                    ))
                }
                machine.answered(slot: slot, worker: worker, result: result, recycle: recycle, now: .now(), actions: &actions)
            case .failure(let failure):
                machine.misbehaved(slot: slot, worker: worker, reason: "it sent \(failure.reason)", now: .now(), actions: &actions)
            }
        }
        perform(actions)
    }

    /// Worker `worker` broke the worker protocol in a way its channel found (a line over the bound).
    func misbehaved(slot: Int, worker: UInt64, reason: String) {
        let ((), actions) = decide { machine, actions in
            machine.misbehaved(slot: slot, worker: worker, reason: reason, now: .now(), actions: &actions)
        }
        perform(actions)
    }

    /// Worker `worker`'s channel closed without the daemon closing it: the worker died.
    func lost(slot: Int, worker: UInt64) {
        let ((), actions) = decide { machine, actions in machine.lost(slot: slot, worker: worker, now: .now(), actions: &actions) }
        perform(actions)
    }

    // MARK: Carrying out

    /// Runs `body` on the machine under the lock. Sends decided there hold their descriptor from
    /// here on, so a stop carried out first by another thread cannot close it under them.
    private func decide<Result>(
        _ body: (inout Machine, inout Machine.Actions) -> Result
    ) -> (Result, Machine.Actions) {
        state.withLock { machine in
            var actions = Machine.Actions()
            let result = body(&machine, &actions)
            actions.sends.forEach { $0.connection.socket.retain() }
            return (result, actions)
        }
    }

    private func perform(_ actions: Machine.Actions) {
        actions.sends.forEach(send)
        actions.completions.forEach { job, outcome in job.complete(outcome) }
        actions.spawns.forEach { spawn(slot: $0.slot, worker: $0.worker) }
        actions.stops.forEach(stop)
        actions.timers.forEach(start)
        actions.warmed.forEach { warm, failure in warm.report(failure: failure) }
        actions.notices.forEach(log)
        for _ in 0..<actions.slotsLeft { stopped.countDown() }
    }

    private func send(_ send: Machine.Send) {
        let socket = send.connection.socket
        socket.inTurn(send.ticket, now: { deliver(send) }, later: { [self] in { self.deliver(send) } })
    }

    /// Sends a task to its worker; when the worker is already gone the machine hears of it (the
    /// task never started and goes back to the queue).
    private func deliver(_ send: Machine.Send) {
        let socket = send.connection.socket
        defer { socket.release() }
        let sent: Bool
        if program.isCommand, case .call(let function, let arguments) = send.workload {
            sent = UserWorkerProtocol.withEncodedTask(
                id: send.sequence, function: function, arguments: arguments,
                timeoutMilliseconds: send.remainingMilliseconds > 0 ? send.remainingMilliseconds : nil, socket.send
            )
        } else {
            let task = WorkerMessage.Task(workload: send.workload, remainingMilliseconds: send.remainingMilliseconds)
            sent = WorkerMessage.withEncoded(task, socket.send)
        }
        guard !sent else { return }
        let ((), actions) = decide { machine, actions in
            machine.sendFailed(slot: send.slot, worker: send.worker, sequence: send.sequence, now: .now(), actions: &actions)
        }
        perform(actions)
    }

    private func spawn(slot: Int, worker: UInt64) {
        let loop = loops[slot % loops.count]
        launcher.launch(
            worker: "\(name)-\(slot)",
            on: loop,
            adopt: { [self] pid, connection in
                let ((), actions) = decide { machine, actions in
                    machine.spawned(slot: slot, worker: worker, pid: pid, connection: connection, actions: &actions)
                }
                perform(actions)
                return WorkerChannelHandler(
                    pool: self, slot: slot, worker: worker, lines: program.isCommand, loopBurst: LoopReadBurst.of(loop)
                )
            },
            failed: { [self] error in
                let ((), actions) = decide { machine, actions in machine.spawnFailed(slot: slot, error: error, actions: &actions) }
                perform(actions)
            }
        )
    }

    private func stop(_ stop: Machine.Stop) {
        WorkerReaper.stop(pid: stop.pid, connection: stop.connection, terminate: stop.terminate) { [self] in
            // Read before the lock: a kill for memory is counted by the time the worker is dead.
            let outOfMemory = limiter?.killedForMemory(pid: stop.pid) ?? false
            let (exited, actions) = decide { machine, actions -> Bool in
                // Collected under the lock, so `kill(workerPID:)` never signals a reused pid.
                guard var exit = WorkerReaper.collect(stop.pid) else { return false }
                if let said = stop.connection.output?.tail { exit += " (its last output: \(said))" }
                machine.reaped(slot: stop.slot, worker: stop.worker, exit: exit, outOfMemory: outOfMemory, now: .now(), actions: &actions)
                return true
            }
            perform(actions)
            if exited { limiter?.release(pid: stop.pid) }
            return exited
        }
    }

    private func start(_ timer: Machine.Timer) {
        switch timer {
        case .deadline(let slot, let sequence, let connection, let at):
            connection.armDeadline(sequence: sequence, at: at) { [self] in
                let ((), actions) = decide { machine, actions in
                    machine.deadlinePassed(slot: slot, sequence: sequence, now: .now(), actions: &actions)
                }
                perform(actions)
            }
        case .cancelDeadline(let sequence, let connection):
            connection.cancelDeadline(sequence: sequence)
        case .exitCheck(let slot, let worker, let pid, let connection):
            connection.eventLoop.scheduleTask(in: Self.exitCheck) { [self] in
                guard state.withLock({ $0.exitCheckDue(slot: slot, worker: worker) }) else { return }
                if ProcFS.hasExited(pid) {
                    // Closing the channel reports the worker lost, as if its socket had closed.
                    connection.channel.close(promise: nil)
                } else {
                    start(.exitCheck(slot: slot, worker: worker, pid: pid, connection: connection))
                }
            }
        case .greeting(let slot, let worker, let connection):
            connection.eventLoop.scheduleTask(in: greetingTimeout) { [self] in
                let ((), actions) = decide { machine, actions in
                    machine.greetingTimedOut(slot: slot, worker: worker, actions: &actions)
                }
                perform(actions)
            }
        case .respawn(let slot):
            loops[slot % loops.count].scheduleTask(in: Self.respawnDelay) { [self] in
                let ((), actions) = decide { machine, actions in machine.respawnDue(slot: slot, actions: &actions) }
                perform(actions)
            }
        }
    }

    private func log(_ notice: Machine.Notice) {
        switch notice {
        case .spawned(let worker, let pid):
            logger.info("worker spawned", metadata: ["event": "worker_spawned", "worker": "\(worker)", "pid": "\(pid)"])
        case .spawnFailed(let worker, let error):
            logger.error(
                "could not start a worker", metadata: ["event": "worker_spawn_failed", "worker": "\(worker)", "error": "\(error)"]
            )
        case .diedMidTask(let worker, let pid, let exit, let task):
            logger.warning(
                "worker died mid-task; replacing it",
                metadata: ["event": "worker_died", "worker": "\(worker)", "pid": "\(pid)", "exit": "\(exit)", "task": "\(task)"]
            )
        case .diedIdle(let worker, let pid, let exit):
            logger.warning(
                "worker died while idle; replacing it",
                metadata: ["event": "worker_died", "worker": "\(worker)", "pid": "\(pid)", "exit": "\(exit)"]
            )
        case .recycled(let worker, let pid, let exit, let reason):
            logger.info(
                "recycled worker",
                metadata: ["event": "worker_recycled", "worker": "\(worker)", "pid": "\(pid)", "exit": "\(exit)", "reason": "\(reason)"]
            )
        case .stoppedAfterDeadline(let worker, let pid, let exit):
            logger.info(
                "worker stopped after a task passed its deadline",
                metadata: ["event": "worker_stopped", "worker": "\(worker)", "pid": "\(pid)", "exit": "\(exit)"]
            )
        case .stopped(let worker, let pid, let exit):
            logger.info("worker stopped", metadata: ["event": "worker_stopped", "worker": "\(worker)", "pid": "\(pid)", "exit": "\(exit)"])
        case .passedDeadline(let worker, let pid, let task):
            logger.notice(
                "task passed its deadline; stopping its worker",
                metadata: ["event": "worker_timeout", "worker": "\(worker)", "pid": "\(pid)", "task": "\(task)"]
            )
        }
    }

    // MARK: Growing

    /// Adds `count` slots and returns once each has a warm worker (or failed to get one).
    private func grow(by count: Int) async throws {
        let warm = WarmUp(count: count)
        stopped.add(count)
        let ((), actions) = decide { machine, actions in machine.grow(by: count, warm: warm, actions: &actions) }
        perform(actions)
        let failures = await warm.wait()
        if let first = failures.first {
            throw WorkerSpawner.Failure(description: "\(failures.count) of \(count) process workers did not start: \(first)")
        }
    }
}
