import CConcShims
import ConcProtocol
import ConcWorkerCore
import Foundation
import Logging
import NIOCore
import NIOPosix
import Synchronization

/// N pre-spawned worker processes, driven from the event loops.
///
/// Each worker's end of its socketpair is read by a NIO channel on one of the event loops, and a
/// task reaches it with one `send` from whichever thread accepted it, which is usually that same
/// event loop: a submission prefers an idle worker whose channel lives on the submitting thread's
/// loop. A no-op's path is then client → event loop → worker → event loop → client, four wake-ups,
/// the fewest a separate process allows; the worker's reply is read and answered on one loop turn.
///
/// The pool's whole state sits behind one lock, held only to decide; sends, replies to clients and
/// stops happen after it is released, so the event loops submitting and answering rarely wait on
/// each other. A worker's sending descriptor is reference-counted, closed once neither its slot
/// nor a send in progress holds it. `posix_spawn` runs on one long-lived thread of the pool's own,
/// never on an event loop, and the worker's greeting arrives on its channel; exits are reaped with
/// `WNOHANG` from event-loop timers. With every worker busy, a queued task may be sent behind a
/// short running one (`prefetch`).
package final class ProcessPool: Pool {
    package let name: PoolName
    package var model: PoolModel { .process }
    private let executable: String
    private let logger: Logger
    private let loops: [any EventLoop]
    private let state: Mutex<State>
    /// Counts slots that have not stopped for good; shutdown waits for it.
    private let stopped = Countdown(0)
    private let initialSize: Int
    /// How long a running task may be expected to take for a queued one to be sent behind it.
    private let prefetchBehind: Duration
    private let prefetched = Atomic<UInt64>(0)

    /// How long a busy worker's exit goes unchecked: a dead worker normally closes its socket, but
    /// a process it left behind holding the socket (a crash handler it started, say) would keep
    /// its task waiting forever.
    private static let exitCheck: TimeAmount = .seconds(1)
    /// How long a worker asked to stop (SIGTERM, or its channel closed) has before SIGKILL.
    private static let stopGrace: TimeAmount = .seconds(1)
    /// How long a worker's reply may trail its deadline: the worker bounds its own waits by it.
    private static let deadlineSlack: TimeAmount = .milliseconds(250)
    /// How long after a failed spawn the slot tries again.
    private static let respawnDelay: TimeAmount = .seconds(1)
    /// How long a new worker has to greet the daemon.
    private static let greetingTimeout: TimeAmount = .seconds(10)
    /// Spawns workers. A worker asks for SIGKILL when the thread that spawned it exits
    /// (PR_SET_PDEATHSIG follows the thread, not the process), so this thread lives as long as the pool.
    private let spawner = NIOThreadPool(numberOfThreads: 1)

    /// Creates a pool of `size` workers running `executable` in worker mode; their channels are
    /// spread over the loops of `eventLoopGroup`. A queued task may be sent to a busy worker behind
    /// a task expected to take at most `prefetchBehind` (see `prefetch`).
    package init(
        name: PoolName = .process, size: Int, queueLimit: Int, executable: String, recycling: RecyclePolicy = RecyclePolicy(),
        prefetchBehind: Duration = .milliseconds(1),
        eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton, logger: Logger
    ) {
        precondition(size > 0, "a process pool needs at least one worker")
        self.name = name
        self.executable = executable
        self.logger = logger
        self.initialSize = size
        self.prefetchBehind = prefetchBehind
        self.loops = Array(eventLoopGroup.makeIterator())
        self.state = Mutex(State(queueLimit: queueLimit, recycling: recycling))
        spawner.start()
    }

    // MARK: State

    private struct State {
        /// Every slot that has not stopped for good, retiring ones included.
        var slots: [Int: Slot] = [:]
        var queue = CircularBuffer<Job>()
        var queueLimit: Int
        var closed = false
        var nextIndex = 0
        var nextSequence: UInt64 = 0
        var recycling: RecyclePolicy

        /// Slots that count towards the pool's size, in name order.
        var members: [Slot] {
            slots.values.filter { !$0.retiring }.sorted { $0.index < $1.index }
        }
    }

    private struct Slot {
        let index: Int
        /// `process-<index>`: the name stays when its worker is replaced.
        let name: String
        /// The worker process, from its greeting until it has been reaped.
        var worker: Worker?
        var phase: Phase = .spawning
        /// A task sent behind the running one, waiting in the worker's socket (see `prefetch`).
        var next: Running?
        /// Recycle once the prefetched task is answered: the worker was due while it held one.
        var recycleAfterNext: String?
        var tasks: UInt64 = 0
        var taskLimit: UInt64?
        /// Stop for good once idle (the pool shrank).
        var retiring = false
        /// An exit check is scheduled for the current worker.
        var exitCheckArmed = false
        /// Why the last spawn failed, if it did.
        var spawnFailure: String?
        /// Counted down when the first spawn succeeds or fails (`start` and `resize` wait on it).
        var warm: Countdown?

        init(index: Int) {
            self.index = index
            self.name = "process-\(index)"
        }

        var isIdle: Bool {
            if case .idle = phase { return true }
            return false
        }

        var running: Running? {
            if case .busy(let running) = phase { return running }
            return nil
        }
    }

    private enum Phase {
        /// A worker is being started and has not greeted the daemon yet (`worker` is set once it
        /// runs), or the slot waits to try again after a failed spawn.
        case spawning
        case idle
        case busy(Running)
        /// Its worker is being stopped and reaped; then it spawns another or stops for good.
        case stopping
    }

    private struct Worker: Sendable {
        var pid: Int32
        /// The daemon's end of the socketpair, which tasks are sent on; the channel reads a dup of it.
        var socket: WorkerSocket
        var channel: any Channel
        /// Tells this worker's events from those of the slot's earlier workers.
        var serial: UInt64
        /// Tickets handed out for sends to this worker: sends reach it in the order decided.
        var tickets: UInt64 = 0
    }

    private struct Running {
        var job: Job
        var sequence: UInt64
        var deadlineTimer: Scheduled<Void>?
    }

    /// Why a worker is being stopped, which decides what is logged and answered once it is reaped.
    private enum StopReason {
        case diedIdle
        case died(Job)
        case timedOut
        case recycled(String)
        case retired
        case shutdown
        case sendFailed
        case neverGreeted
    }

    /// What a locked section decided, done once the lock is released.
    private struct Effects {
        var sends: [(index: Int, sequence: UInt64, ticket: UInt64, socket: WorkerSocket, job: Job, remaining: Int64)] = []
        var completions: [(Job, TaskOutcome)] = []
        var spawns: [Int] = []
        var stops: [(index: Int, worker: Worker, reason: StopReason, terminate: Bool)] = []
        var stoppedForGood = 0
    }

    // MARK: Pool

    package func start() async throws {
        try await grow(by: initialSize)
    }

    package func submit(_ job: Job) throws(WireError) {
        var effects = Effects()
        let refusal = state.withLock { state -> WireError? in
            if state.closed { return JobQueue.Refusal.closed.wireError(pool: name, limit: state.queueLimit) }
            if state.queue.isEmpty, let index = idleSlot(in: state) {
                start(job, on: index, in: &state, effects: &effects)
                return nil
            }
            if state.queue.count >= state.queueLimit {
                return JobQueue.Refusal.full.wireError(pool: name, limit: state.queueLimit)
            }
            state.queue.append(job)
            if state.queue.count == 1 {
                for index in busySlotsWithoutNext(in: state) where prefetch(index, in: &state, effects: &effects) { break }
            }
            return nil
        }
        perform(effects)
        if let refusal { throw refusal }
    }

    package func snapshot() -> PoolSnapshot {
        state.withLock { state in
            let members = state.members
            let workers = members.map { slot in
                let alive = slot.isIdle || slot.running != nil
                return WorkerStatus(name: slot.name, pid: alive ? slot.worker?.pid : nil, busy: slot.running != nil, tasks: slot.tasks)
            }
            return PoolSnapshot(
                size: members.count,
                busy: workers.filter(\.busy).count,
                queued: state.queue.count + members.count { $0.next != nil },
                queueLimit: state.queueLimit,
                workers: workers
            )
        }
    }

    package func resize(size: Int, queueLimit: Int) async throws {
        precondition(size > 0, "a process pool needs at least one worker")
        var effects = Effects()
        let current = state.withLock { state -> Int in
            state.queueLimit = queueLimit
            let members = state.members
            if size < members.count {
                for slot in members.suffix(members.count - size) {
                    state.slots[slot.index]?.retiring = true
                    settle(slot.index, in: &state, effects: &effects)
                }
            }
            return members.count
        }
        perform(effects)
        if size > current {
            try await grow(by: size - current)
        } else if size < current {
            logger.info(
                "process pool shrinking",
                metadata: ["event": "pool_resized", "resized": "process", "from": "\(current)", "to": "\(size)"]
            )
        }
    }

    package func shutdown() async {
        var effects = Effects()
        state.withLock { state in
            state.closed = true
            for index in state.slots.keys { settle(index, in: &state, effects: &effects) }
        }
        perform(effects)
        await stopped.wait()
        try? await spawner.shutdownGracefully()
    }

    /// Tasks sent so far to a worker behind the task it was running.
    package var prefetchedTasks: UInt64 { prefetched.load(ordering: .relaxed) }

    /// Changes when workers are recycled; each worker picks up the policy when it is next spawned.
    package func setRecycling(_ policy: RecyclePolicy) {
        state.withLock { $0.recycling = policy }
    }

    /// SIGKILLs the worker with this pid (`concctl kill-worker`); the pool replaces it, and the
    /// task it ran fails as `worker_died` (or runs again, if it asked for retries).
    package func kill(workerPID pid: Int32) -> Result<String, WireError> {
        state.withLock { state in
            // Under the lock: a pid leaves its slot only when it is reaped, so it is still this worker's.
            if let slot = state.slots.values.first(where: { $0.worker?.pid == pid }), Glibc.kill(pid, SIGKILL) == 0 {
                return .success("sent SIGKILL to \(slot.name) (pid \(pid)); the pool replaces it")
            }
            let known = state.members.compactMap { slot in slot.worker.map { "\(slot.name) pid \($0.pid)" } }
            return .failure(WireError(
                .notFound,
                "pid \(pid) is not one of concd's process workers (\(known.isEmpty ? "none running" : known.joined(separator: ", ")))"
            ))
        }
    }

    // MARK: Running tasks

    /// An idle slot, preferring one whose channel is on the calling thread's event loop, so that its
    /// reply is answered on this loop without a hop.
    private func idleSlot(in state: State) -> Int? {
        var fallback: Int?
        for slot in state.slots.values where slot.isIdle && !slot.retiring {
            if slot.worker?.channel.eventLoop.inEventLoop == true { return slot.index }
            if fallback == nil { fallback = slot.index }
        }
        return fallback
    }

    /// Busy slots with room for a prefetched task, those on the calling thread's loop first.
    private func busySlotsWithoutNext(in state: State) -> [Int] {
        state.slots.values
            .filter { $0.running != nil && $0.next == nil && !$0.retiring }
            .sorted { ($0.worker?.channel.eventLoop.inEventLoop == true) && !($1.worker?.channel.eventLoop.inEventLoop == true) }
            .map(\.index)
    }

    /// Marks the idle slot `index` busy with `job`; the send itself happens once the lock is released.
    private func start(_ job: Job, on index: Int, in state: inout State, effects: inout Effects) {
        guard var slot = state.slots[index], slot.isIdle, let worker = slot.worker else {
            preconditionFailure("a job was given to a slot that is not idle")
        }
        if job.isExpired {
            effects.completions.append((job, outcome(.failure(.expiredInQueue(job.workload)), slot: slot)))
            return
        }
        state.nextSequence &+= 1
        let sequence = state.nextSequence
        let remaining = job.remaining().map { max(1, $0.nanoseconds / 1_000_000) }
        let timer = remaining.map { milliseconds in
            worker.channel.eventLoop.scheduleTask(in: .milliseconds(milliseconds) + Self.deadlineSlack) { [self] in
                passedDeadline(index, sequence: sequence)
            }
        }
        slot.phase = .busy(Running(job: job, sequence: sequence, deadlineTimer: timer))
        if !slot.exitCheckArmed {
            slot.exitCheckArmed = true
            armExitCheck(index, worker: worker)
        }
        let ticket = worker.tickets + 1
        slot.worker?.tickets = ticket
        state.slots[index] = slot
        // Held until the send is done, so a stop meanwhile cannot close the descriptor under it.
        worker.socket.retain()
        effects.sends.append((index, sequence, ticket, worker.socket, job, remaining ?? 0))
    }

    /// Sends the head of the queue to the busy slot `index` behind its running task, so that the
    /// worker starts it the moment it answers instead of sleeping until the daemon's next send.
    ///
    /// Only where waiting behind the running task cannot hurt: that task is expected to take at
    /// most `prefetchBehind` (a millisecond by default), the queued job has no deadline (so no
    /// timer has to tell a waiting task from a running one), and the worker is not due to be
    /// recycled or retired.
    /// The worker runs its tasks in order, so when it dies the running task is the one it died
    /// under and the prefetched one goes back to the head of the queue, never having started.
    @discardableResult
    private func prefetch(_ index: Int, in state: inout State, effects: inout Effects) -> Bool {
        guard var slot = state.slots[index], let worker = slot.worker, let running = slot.running, slot.next == nil,
            !slot.retiring, slot.recycleAfterNext == nil,
            let expected = Self.expectedDuration(running.job.workload), expected <= prefetchBehind,
            slot.taskLimit.map({ slot.tasks + 2 <= $0 }) ?? true,
            let job = state.queue.first, job.deadline == nil
        else { return false }
        state.queue.removeFirst()
        state.nextSequence &+= 1
        slot.next = Running(job: job, sequence: state.nextSequence, deadlineTimer: nil)
        let ticket = worker.tickets + 1
        slot.worker?.tickets = ticket
        state.slots[index] = slot
        worker.socket.retain()
        effects.sends.append((index, state.nextSequence, ticket, worker.socket, job, 0))
        prefetched.add(1, ordering: .relaxed)
        return true
    }

    /// About how long a workload takes on a worker, erring long (cpu at 1 ns per iteration; this
    /// machine class runs 0.27); nil when nobody can tell (a GET waits on another server).
    private static func expectedDuration(_ workload: Workload) -> Duration? {
        switch workload {
        case .noop: return .zero
        case .cpu(let n): return .nanoseconds(n)
        case .sleep(let milliseconds): return .milliseconds(milliseconds)
        case .io, .async: return nil
        }
    }

    /// Sends a task to its worker; when the worker is already gone, the task goes back to the head
    /// of the queue (it never ran) and the worker is replaced.
    private func send(_ job: Job, index: Int, sequence: UInt64, socket: WorkerSocket, remainingMilliseconds: Int64) {
        defer { socket.release() }
        let message = WorkerMessage.encode(WorkerMessage.Task(workload: job.workload, remainingMilliseconds: remainingMilliseconds))
        let sent = Syscall.retryingEINTR {
            message.withUnsafeBytes { Glibc.send(socket.descriptor, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL | MSG_DONTWAIT)) }
        }
        guard sent != message.count else { return }
        var effects = Effects()
        state.withLock { state in
            guard var slot = state.slots[index], let worker = slot.worker, let running = slot.running else { return }
            if let next = slot.next, next.sequence == sequence {
                // The running task's send went first and the worker's end is gone: the channel
                // closing will answer for the running one.
                slot.next = nil
                state.slots[index] = slot
                requeue(job, in: &state, effects: &effects)
                return
            }
            guard running.sequence == sequence else { return }
            running.deadlineTimer?.cancel()
            slot.phase = .stopping
            requeueNext(&slot, in: &state, effects: &effects)
            state.slots[index] = slot
            requeue(job, in: &state, effects: &effects)
            effects.stops.append((index, worker, .sendFailed, true))
        }
        perform(effects)
    }

    /// Puts the slot's prefetched task, which never started, back at the head of the queue.
    private func requeueNext(_ slot: inout Slot, in state: inout State, effects: inout Effects) {
        guard let next = slot.next else { return }
        slot.next = nil
        requeue(next.job, in: &state, effects: &effects)
    }

    /// Puts a job that never started back at the head of the queue, and hands it to an idle slot
    /// if there is one: nothing else would wake an idle slot while the queue is not empty.
    private func requeue(_ job: Job, in state: inout State, effects: inout Effects) {
        state.queue.prepend(job)
        if let idle = idleSlot(in: state) { settle(idle, in: &state, effects: &effects) }
    }

    /// Gives an idle slot its next job, or stops its worker when the slot retires or the pool has
    /// closed and drained.
    private func settle(_ index: Int, in state: inout State, effects: inout Effects) {
        guard let slot = state.slots[index], slot.isIdle, let worker = slot.worker else { return }
        if slot.retiring || (state.closed && state.queue.isEmpty) {
            state.slots[index]?.phase = .stopping
            effects.stops.append((index, worker, slot.retiring ? .retired : .shutdown, false))
            return
        }
        while state.slots[index]?.isIdle == true, let job = state.queue.popFirst() {
            start(job, on: index, in: &state, effects: &effects)
        }
        prefetch(index, in: &state, effects: &effects)
    }

    /// A worker answered its task (called on its channel's event loop).
    private func answered(_ index: Int, serial: UInt64, result: Result<TaskValue, WireError>) {
        var effects = Effects()
        state.withLock { state in
            // No running task: its deadline passed and it was answered already.
            guard var slot = state.slots[index], let worker = slot.worker, worker.serial == serial,
                let running = slot.running
            else { return }
            running.deadlineTimer?.cancel()
            slot.tasks &+= 1
            effects.completions.append((running.job, outcome(result, slot: slot)))
            if let next = slot.next {
                // The worker has already started the prefetched task; recycling waits for it.
                slot.next = nil
                slot.phase = .busy(next)
                if slot.recycleAfterNext == nil {
                    slot.recycleAfterNext = state.recycling.reason(pid: worker.pid, tasks: slot.tasks, limit: slot.taskLimit)
                }
                state.slots[index] = slot
                prefetch(index, in: &state, effects: &effects)
                return
            }
            slot.phase = .idle
            let recycle = slot.recycleAfterNext ?? state.recycling.reason(pid: worker.pid, tasks: slot.tasks, limit: slot.taskLimit)
            slot.recycleAfterNext = nil
            state.slots[index] = slot
            if let recycle {
                state.slots[index]?.phase = .stopping
                effects.stops.append((index, worker, .recycled(recycle), false))
            } else {
                settle(index, in: &state, effects: &effects)
            }
        }
        perform(effects)
    }

    /// A worker's channel closed without the daemon closing it: the worker died.
    fileprivate func lost(_ index: Int, serial: UInt64) {
        var effects = Effects()
        state.withLock { state in
            guard var slot = state.slots[index], let worker = slot.worker, worker.serial == serial else { return }
            switch slot.phase {
            case .busy(let running):
                running.deadlineTimer?.cancel()
                requeueNext(&slot, in: &state, effects: &effects)
                effects.stops.append((index, worker, .died(running.job), false))
            case .idle:
                effects.stops.append((index, worker, .diedIdle, false))
            case .spawning:
                effects.stops.append((index, worker, .neverGreeted, false))
            case .stopping:
                return
            }
            slot.phase = .stopping
            state.slots[index] = slot
        }
        perform(effects)
    }

    /// A task's deadline (plus slack) passed with its worker still on it.
    private func passedDeadline(_ index: Int, sequence: UInt64) {
        var effects = Effects()
        let metadata = state.withLock { state -> Logger.Metadata? in
            guard var slot = state.slots[index], let worker = slot.worker, let running = slot.running,
                running.sequence == sequence
            else { return nil }
            slot.phase = .stopping
            requeueNext(&slot, in: &state, effects: &effects)
            state.slots[index] = slot
            effects.completions.append((running.job, outcome(
                .failure(WireError(
                    .timeout,
                    "\(running.job.workload) did not finish within its deadline on worker \(slot.name) (pid \(worker.pid)), which was stopped and replaced"
                )),
                slot: slot
            )))
            effects.stops.append((index, worker, .timedOut, true))
            return ["event": "worker_timeout", "worker": "\(slot.name)", "pid": "\(worker.pid)", "task": "\(running.job.workload)"]
        }
        if let metadata { logger.notice("task passed its deadline; stopping its worker", metadata: metadata) }
        perform(effects)
    }

    /// Checks every `exitCheck` while the worker is busy that it is still alive.
    private func armExitCheck(_ index: Int, worker: Worker) {
        worker.channel.eventLoop.scheduleTask(in: Self.exitCheck) { [self] in
            let dead = state.withLock { state -> Bool in
                guard let slot = state.slots[index], slot.worker?.serial == worker.serial else { return false }
                guard slot.running != nil else {
                    state.slots[index]?.exitCheckArmed = false
                    return false
                }
                if ProcFS.hasExited(worker.pid) { return true }
                armExitCheck(index, worker: worker)
                return false
            }
            // Closing the channel reports the worker lost, as if its socket had closed.
            if dead { worker.channel.close(promise: nil) }
        }
    }

    private func outcome(_ result: Result<TaskValue, WireError>, slot: Slot) -> TaskOutcome {
        TaskOutcome(result: result, worker: slot.name, workerPID: slot.worker?.pid)
    }

    /// Completes jobs, spawns and stops workers as a locked section decided.
    private func perform(_ effects: Effects) {
        // Sends first: the worker can start while the replies are written.
        for task in effects.sends {
            task.socket.inTurn(task.ticket) { [self] in
                send(task.job, index: task.index, sequence: task.sequence, socket: task.socket, remainingMilliseconds: task.remaining)
            }
        }
        for (job, outcome) in effects.completions { job.complete(outcome) }
        for index in effects.spawns { spawn(index) }
        for stop in effects.stops { beginStop(stop.index, worker: stop.worker, reason: stop.reason, terminate: stop.terminate) }
        for _ in 0..<effects.stoppedForGood { stopped.countDown() }
    }

    // MARK: Stopping and reaping

    /// Closes the daemon's ends of the worker's channel (it exits on EOF), after a SIGTERM when
    /// `terminate`, and reaps it, SIGKILLing it when it outlives the grace period.
    private func beginStop(_ index: Int, worker: Worker, reason: StopReason, terminate: Bool) {
        if terminate { Glibc.kill(worker.pid, SIGTERM) }
        worker.socket.release()
        worker.channel.close(promise: nil)
        reap(index, worker: worker, reason: reason, since: .now(), killed: false, attempt: 0)
    }

    private func reap(_ index: Int, worker: Worker, reason: StopReason, since: NIODeadline, killed: Bool, attempt: Int) {
        let exit = state.withLock { state -> String? in
            var status: Int32 = 0
            let result = Syscall.retryingEINTR { waitpid(worker.pid, &status, WNOHANG) }
            guard result == worker.pid || (result == -1 && errno == ECHILD) else { return nil }
            // Cleared under the lock as it is reaped, so `kill(workerPID:)` never signals a recycled pid.
            if state.slots[index]?.worker?.serial == worker.serial { state.slots[index]?.worker = nil }
            return result == worker.pid ? Syscall.describeExit(status) : "exited (its status was collected elsewhere)"
        }
        if let exit {
            reaped(index, worker: worker, reason: reason, exit: exit)
            return
        }
        let kill = !killed && NIODeadline.now() - since >= Self.stopGrace
        if kill { Glibc.kill(worker.pid, SIGKILL) }
        // Most workers are gone within a millisecond of their socket closing: poll soon, then less often.
        let delay: TimeAmount = .milliseconds(Int64(min(50, 1 << min(attempt, 6))))
        worker.channel.eventLoop.scheduleTask(in: delay) { [self] in
            reap(index, worker: worker, reason: reason, since: since, killed: killed || kill, attempt: attempt + 1)
        }
    }

    /// A stopped worker has been reaped: answer for it, log, and spawn its successor unless the
    /// slot stops for good.
    private func reaped(_ index: Int, worker: Worker, reason: StopReason, exit: String) {
        var effects = Effects()
        let name = "process-\(index)"
        var metadata: Logger.Metadata = ["worker": "\(name)", "pid": "\(worker.pid)", "exit": "\(exit)"]
        switch reason {
        case .died(let job):
            metadata["event"] = "worker_died"
            metadata["task"] = "\(job.workload)"
            logger.warning("worker died mid-task; replacing it", metadata: metadata)
            effects.completions.append((job, TaskOutcome(
                result: .failure(WireError(.workerDied, "worker \(name) (pid \(worker.pid)) \(exit) while running \(job.workload)")),
                worker: name,
                workerPID: worker.pid
            )))
        case .diedIdle, .sendFailed:
            metadata["event"] = "worker_died"
            logger.warning("worker died while idle; replacing it", metadata: metadata)
        case .recycled(let why):
            metadata["event"] = "worker_recycled"
            metadata["reason"] = "\(why)"
            logger.info("recycled worker", metadata: metadata)
        case .timedOut:
            metadata["event"] = "worker_stopped"
            logger.info("worker stopped after a task passed its deadline", metadata: metadata)
        case .retired, .shutdown:
            metadata["event"] = "worker_stopped"
            logger.info("worker stopped", metadata: metadata)
        case .neverGreeted:
            spawnFailed(index, "worker \(executable) (pid \(worker.pid)) did not greet the daemon; it \(exit)")
            return
        }
        state.withLock { state in
            guard let slot = state.slots[index] else { return }
            if slot.retiring || (state.closed && state.queue.isEmpty) {
                leave(index, in: &state, effects: &effects)
            } else {
                state.slots[index]?.phase = .spawning
                effects.spawns.append(index)
            }
        }
        perform(effects)
    }

    /// Slot `index` stops for good (retired, or the pool has shut down); once closed with no slot
    /// left to run them, queued jobs are answered rather than kept.
    private func leave(_ index: Int, in state: inout State, effects: inout Effects) {
        state.slots[index] = nil
        effects.stoppedForGood += 1
        if state.closed && state.slots.isEmpty {
            failQueued(worker: "process", in: &state, effects: &effects) {
                WireError(.shuttingDown, "concd stopped before a process worker could run \($0)")
            }
        }
    }

    /// Answers every queued job with the error `error` gives for its workload.
    private func failQueued(
        worker: String, in state: inout State, effects: inout Effects, _ error: (Workload) -> WireError
    ) {
        while let job = state.queue.popFirst() {
            effects.completions.append((job, TaskOutcome(result: .failure(error(job.workload)), worker: worker, workerPID: nil)))
        }
    }

    // MARK: Spawning

    /// Starts `count` more slots and returns once each has a warm worker (or failed to get one).
    private func grow(by count: Int) async throws {
        let warm = Countdown(count)
        let indexes = state.withLock { state -> Range<Int> in
            defer { state.nextIndex += count }
            for index in state.nextIndex..<(state.nextIndex + count) {
                var slot = Slot(index: index)
                slot.warm = warm
                state.slots[index] = slot
            }
            return state.nextIndex..<(state.nextIndex + count)
        }
        stopped.add(count)
        for index in indexes { spawn(index) }
        await warm.wait()
        let failures = state.withLock { state in indexes.compactMap { state.slots[$0]?.spawnFailure } }
        if let first = failures.first {
            throw WorkerSpawner.Failure(description: "\(failures.count) of \(count) process workers did not start: \(first)")
        }
    }

    /// Spawns a worker for slot `index` on the spawner thread: posix_spawn blocks, and must not
    /// hold up an event loop. The worker's greeting then arrives on its channel.
    private func spawn(_ index: Int) {
        spawner.submit { [self] _ in
            _ = concd_set_thread_name("concd-spawner")
            let serial = state.withLock { state -> UInt64 in
                state.nextSequence &+= 1
                return state.nextSequence
            }
            do throws(WorkerSpawner.Failure) {
                try launch(index, serial: serial, on: loops[index % loops.count])
            } catch {
                spawnFailed(index, error.description)
            }
        }
    }

    /// Spawns a worker and registers its channel on `loop`. The channel's initializer records the
    /// worker in its slot, on the loop, before the channel can read the worker's greeting.
    private func launch(_ index: Int, serial: UInt64, on loop: any EventLoop) throws(WorkerSpawner.Failure) {
        let spawned = try WorkerSpawner.spawn(executable: executable)
        let readSide = fcntl(spawned.socket, F_DUPFD_CLOEXEC, 0)
        guard readSide >= 0 else {
            let reason = Syscall.errnoDescription
            Self.kill(spawned)
            throw WorkerSpawner.Failure(description: "cannot watch worker \(executable) (pid \(spawned.pid)): \(reason)")
        }
        let adopted = Atomic(false)
        do {
            _ = try NIOPipeBootstrap(group: loop)
                .channelOption(ChannelOptions.recvAllocator, value: FixedSizeRecvByteBufferAllocator(capacity: WorkerMessage.maxBytes))
                .channelInitializer { [self] channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandler(WorkerChannelHandler(pool: self, index: index, serial: serial))
                        adopted.store(true, ordering: .relaxed)
                        awaitGreeting(index, worker: Worker(pid: spawned.pid, socket: WorkerSocket(spawned.socket), channel: channel, serial: serial))
                    }
                }
                .takingOwnershipOfDescriptor(input: readSide)
                .wait()
        } catch {
            // Once adopted, the slot owns the worker and its greeting timeout will stop it.
            guard !adopted.load(ordering: .relaxed) else { return }
            close(readSide)
            Self.kill(spawned)
            throw WorkerSpawner.Failure(description: "cannot watch worker \(executable) (pid \(spawned.pid)): \(error)")
        }
    }

    /// Ends a worker that never joined the pool; blocking, so only for the spawner thread.
    private static func kill(_ spawned: SpawnedWorker) {
        Glibc.kill(spawned.pid, SIGKILL)
        close(spawned.socket)
        var status: Int32 = 0
        _ = Syscall.retryingEINTR { waitpid(spawned.pid, &status, 0) }
    }

    /// Records a spawned worker in its slot until it greets the daemon, and bounds that wait.
    private func awaitGreeting(_ index: Int, worker: Worker) {
        let current = state.withLock { state -> Bool in
            guard var slot = state.slots[index], case .spawning = slot.phase, slot.worker?.serial == nil else { return false }
            slot.worker = worker
            state.slots[index] = slot
            return true
        }
        guard current else {
            beginStop(index, worker: worker, reason: .shutdown, terminate: false)
            return
        }
        worker.channel.eventLoop.scheduleTask(in: Self.greetingTimeout) { [self] in
            var effects = Effects()
            state.withLock { state in
                guard var slot = state.slots[index], case .spawning = slot.phase, slot.worker?.serial == worker.serial else { return }
                slot.phase = .stopping
                state.slots[index] = slot
                effects.stops.append((index, worker, .neverGreeted, true))
            }
            perform(effects)
        }
    }

    /// The worker's first message: it is ready for tasks.
    private func greeted(_ index: Int, serial: UInt64) {
        var effects = Effects()
        let greeted = state.withLock { state -> (pid: Int32, warm: Countdown?)? in
            guard var slot = state.slots[index], case .spawning = slot.phase, let worker = slot.worker, worker.serial == serial else {
                return nil
            }
            let warm = slot.warm
            slot.phase = .idle
            slot.recycleAfterNext = nil
            slot.tasks = 0
            slot.taskLimit = state.recycling.taskLimit()
            slot.exitCheckArmed = false
            slot.spawnFailure = nil
            slot.warm = nil
            state.slots[index] = slot
            settle(index, in: &state, effects: &effects)
            return (worker.pid, warm)
        }
        guard let greeted else { return }
        logger.info("worker spawned", metadata: ["event": "worker_spawned", "worker": "process-\(index)", "pid": "\(greeted.pid)"])
        perform(effects)
        greeted.warm?.countDown()
    }

    /// A spawn for slot `index` failed: answer what no worker can run, and try again later.
    private func spawnFailed(_ index: Int, _ description: String) {
        logger.error(
            "could not start a worker",
            metadata: ["event": "worker_spawn_failed", "worker": "process-\(index)", "error": "\(description)"]
        )
        var effects = Effects()
        let warm = state.withLock { state -> Countdown? in
            guard var slot = state.slots[index] else { return nil }
            let warm = slot.warm
            slot.warm = nil
            slot.spawnFailure = description
            slot.phase = .spawning
            state.slots[index] = slot
            if !state.slots.values.contains(where: { $0.isIdle || $0.running != nil }) {
                // Nothing could run the queued jobs: answer them instead of letting them wait.
                failQueued(worker: slot.name, in: &state, effects: &effects) { _ in
                    WireError(.internal, "no worker could be started: \(description)")
                }
            }
            if state.closed || slot.retiring {
                leave(index, in: &state, effects: &effects)
            } else {
                loops[index % loops.count].scheduleTask(in: Self.respawnDelay) { [self] in
                    retrySpawn(index)
                }
            }
            return warm
        }
        perform(effects)
        warm?.countDown()
    }

    private func retrySpawn(_ index: Int) {
        var effects = Effects()
        state.withLock { state in
            guard let slot = state.slots[index], case .spawning = slot.phase, slot.worker?.serial == nil else { return }
            if state.closed || slot.retiring {
                leave(index, in: &state, effects: &effects)
            } else {
                effects.spawns.append(index)
            }
        }
        perform(effects)
    }

    /// A message from a worker (called on its channel's event loop).
    fileprivate func received(_ index: Int, serial: UInt64, bytes: [UInt8]) {
        switch WorkerMessage.decodeReply(bytes[...]) {
        case .hello?:
            greeted(index, serial: serial)
        case .result(let answer)?:
            answered(index, serial: serial, result: answer)
        case nil:
            answered(index, serial: serial, result: .failure(WireError(
                .internal, "worker process-\(index) sent a reply the daemon could not read"
            )))
        }
    }
}

/// The daemon's sending end of a worker's socketpair. It is closed when the last of its holders
/// lets go: the slot, and any send in progress, so a send never reaches a closed or reused descriptor.
private final class WorkerSocket: Sendable {
    let descriptor: Int32
    private let holders = Atomic(1)
    private let turns = Mutex(Turns())

    /// Sends run in ticket order: the worker matches replies to tasks by order alone, and two
    /// threads that decided two sends one after the other may reach `send` the other way round.
    private struct Turns {
        /// The ticket whose send runs next (tickets start at 1).
        var next: UInt64 = 1
        /// Sends whose turn has not come, run by the thread that finishes the one before.
        var parked: [UInt64: @Sendable () -> Void] = [:]
    }

    init(_ descriptor: Int32) {
        self.descriptor = descriptor
    }

    func retain() {
        holders.add(1, ordering: .relaxed)
    }

    func release() {
        if holders.subtract(1, ordering: .acquiringAndReleasing).newValue == 0 { close(descriptor) }
    }

    /// Runs `send` now if every earlier ticket's send has run, else leaves it for the thread that
    /// runs the one before it; the lock is not held while a send runs.
    func inTurn(_ ticket: UInt64, _ send: @escaping @Sendable () -> Void) {
        var current: (@Sendable () -> Void)? = turns.withLock { turns in
            guard turns.next == ticket else {
                turns.parked[ticket] = send
                return nil
            }
            return send
        }
        while let run = current {
            run()
            current = turns.withLock { turns in
                turns.next += 1
                return turns.parked.removeValue(forKey: turns.next)
            }
        }
    }
}

/// Reads one worker's replies on its event loop and tells the pool when the worker goes away.
private final class WorkerChannelHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer

    private let pool: ProcessPool
    private let index: Int
    private let serial: UInt64

    init(pool: ProcessPool, index: Int, serial: UInt64) {
        self.pool = pool
        self.index = index
        self.serial = serial
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        // One read is one datagram: SOCK_SEQPACKET keeps the worker's messages apart.
        let buffer = unwrapInboundIn(data)
        pool.received(index, serial: serial, bytes: Array(buffer.readableBytesView))
    }

    func channelInactive(context: ChannelHandlerContext) {
        pool.lost(index, serial: serial)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}
