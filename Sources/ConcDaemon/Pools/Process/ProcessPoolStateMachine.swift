import ConcProtocol
import NIOCore
import Synchronization

/// Every decision of the process pool, as a value: events in, actions out.
///
/// The machine owns no process, socket, timer or clock. `ProcessPool` holds it behind one lock,
/// feeds it what happened (a submission, a reply, a channel closing, a timer firing, a spawn
/// finishing, a process reaped) and, once the lock is released, carries out the `Actions` it
/// returns: sends, completions, spawns, stops, timers and log lines. Tests drive it the same way
/// without any process (`ProcessPoolStateMachineTests`). `Connection` is whatever the pool uses
/// to reach a worker; the machine only hands it back in actions. It is a class: then the layout of
/// the machine's types does not depend on it, and the machine's many copies of them are made by
/// fixed code instead of through their generic value witnesses, which find each field through
/// metadata at run time (about 3 500 instructions of a process no-op, callgrind).
///
/// A slot is one place in the pool (`process-3`); its worker process is replaced when it dies, is
/// recycled or passes a deadline, and the slot keeps its name. Each phase of a slot carries the
/// data that only that phase has, so a busy slot without a task or an idle one with a prefetched
/// task cannot be written down.
package struct ProcessPoolStateMachine<Connection: AnyObject & Sendable>: Sendable {
    /// Tells one worker process of a slot from the slot's earlier and later ones.
    package typealias WorkerID = UInt64

    /// What the machine is built with.
    package struct Configuration: Sendable {
        /// The pool's name: workers are called `<name>-<index>`.
        package var name: String
        /// The worker program, named in error messages.
        package var executable: String
        package var queueLimit: Int
        package var recycling: RecyclePolicy
        /// How long a running task may be expected to take for a queued one to be sent behind it.
        package var prefetchBehind: Duration
        /// How long a worker's reply may trail its deadline: the worker bounds its own waits by it.
        package var deadlineSlack: TimeAmount
        /// A worker's resident memory, for recycling by RSS (reads /proc in the daemon).
        package var residentBytes: @Sendable (Int32) -> UInt64?

        package init(
            name: String = "process", executable: String, queueLimit: Int, recycling: RecyclePolicy = RecyclePolicy(),
            prefetchBehind: Duration = .milliseconds(1), deadlineSlack: TimeAmount = .milliseconds(250),
            residentBytes: @escaping @Sendable (Int32) -> UInt64? = { _ in nil }
        ) {
            self.name = name
            self.executable = executable
            self.queueLimit = queueLimit
            self.recycling = recycling
            self.prefetchBehind = prefetchBehind
            self.deadlineSlack = deadlineSlack
            self.residentBytes = residentBytes
        }
    }

    /// A running worker process.
    package struct Worker: Sendable {
        package let id: WorkerID
        package let pid: Int32
        package let connection: Connection
        /// Sends handed out so far: the n-th send to this worker carries ticket n, so sends decided
        /// one after the other reach the worker in that order whichever thread runs them.
        var tickets: UInt64 = 0
        /// Tasks it has answered.
        var tasks: UInt64 = 0
        /// Recycle it after this many tasks.
        var taskLimit: UInt64?
        /// A periodic exit check runs for it (see `exitCheckDue`).
        var exitWatched = false
    }

    /// A task sent to a worker.
    package struct Task: Sendable {
        package var job: Job
        /// Tells this task's deadline timer and send from those of any other task.
        package var sequence: UInt64
        /// When the worker began it: when it was sent to an idle worker, or when the task it was
        /// sent behind was answered. Calls' durations are learned from it.
        var started: NIODeadline?
    }

    /// A busy worker's work.
    struct Busy: Sendable {
        var running: Task
        /// Sent behind `running`, waiting in the worker's socket (see `prefetch`).
        var next: Task?
        /// Recycle the worker once it finishes `running`: it came due while it held a prefetched task.
        var recycleWhenDone: String?
    }

    enum Phase: Sendable {
        /// A spawn is under way; `warm` hears how the slot's first spawn went.
        case spawning(warm: WarmUp?)
        /// The last spawn failed; another is tried when the `respawn` timer fires.
        case waitingToRespawn
        /// The process runs and has not greeted the daemon yet.
        case greeting(Worker, warm: WarmUp?)
        case idle(Worker)
        case busy(Worker, Busy)
        /// Being stopped; answered for once it is reaped.
        case stopping(Worker, StopReason)
    }

    struct Slot: Sendable {
        let index: Int
        var phase: Phase
        /// Stop for good once idle or reaped: the pool shrank.
        var retiring = false

        var worker: Worker? {
            switch phase {
            case .spawning, .waitingToRespawn: return nil
            case .greeting(let worker, _), .idle(let worker), .busy(let worker, _), .stopping(let worker, _): return worker
            }
        }

        var isIdle: Bool {
            if case .idle = phase { return true }
            return false
        }

        /// The worker's connection while the slot is idle and not retiring.
        var idleConnection: Connection? {
            guard !retiring, case .idle(let worker) = phase else { return nil }
            return worker.connection
        }

        /// The busy worker's id, while the slot is busy.
        var busyWorkerID: WorkerID? {
            guard case .busy(let worker, _) = phase else { return nil }
            return worker.id
        }

        var isRunning: Bool {
            switch phase {
            case .idle, .busy: return true
            default: return false
            }
        }
    }

    /// Why a worker is being stopped, which decides what is answered and logged once it is reaped.
    package enum StopReason: Sendable {
        case diedIdle
        /// It died running this job, which is answered `worker_died` once the worker is reaped.
        case died(Job)
        case timedOut
        case recycled(String)
        case retired
        case shutdown
        case sendFailed
        case neverGreeted(warm: WarmUp?)
        /// It broke the worker protocol (a user's program): why, and whoever waits for it to warm.
        case brokeProtocol(String, warm: WarmUp?)
    }

    // MARK: Actions

    /// A task to send to a worker.
    package struct Send: Sendable {
        package var slot: Int
        package var worker: WorkerID
        package var connection: Connection
        package var ticket: UInt64
        package var sequence: UInt64
        /// What to run; the job itself stays with the machine (a send is copied on its way out,
        /// and a job's completion closure would be retained and released at every copy).
        package var workload: Workload
        /// The task's remaining time in milliseconds, 0 for none.
        package var remainingMilliseconds: Int64
    }

    /// A worker to stop: close its channel (after SIGTERM when `terminate`), reap it, then report
    /// `reaped`.
    package struct Stop: Sendable {
        package var slot: Int
        package var worker: WorkerID
        package var pid: Int32
        package var connection: Connection
        package var terminate: Bool
    }

    /// A timer to start; when it fires, the matching event goes back into the machine.
    package enum Timer: Sendable {
        /// `deadlinePassed(slot:sequence:)` at `at`, on the worker's connection.
        case deadline(slot: Int, sequence: UInt64, connection: Connection, at: NIODeadline)
        /// Cancels the deadline timer of `sequence`, answered in time.
        case cancelDeadline(sequence: UInt64, connection: Connection)
        /// `exitCheckDue(slot:worker:)` after the exit-check period, for the worker with `pid`.
        case exitCheck(slot: Int, worker: WorkerID, pid: Int32, connection: Connection)
        /// `greetingTimedOut(slot:worker:)` after the greeting timeout.
        case greeting(slot: Int, worker: WorkerID, connection: Connection)
        /// `respawnDue(slot:)` after the respawn delay.
        case respawn(slot: Int)
    }

    /// Something worth a log line.
    package enum Notice: Sendable {
        case spawned(worker: String, pid: Int32)
        case spawnFailed(worker: String, error: String)
        case diedMidTask(worker: String, pid: Int32, exit: String, task: Workload)
        case diedIdle(worker: String, pid: Int32, exit: String)
        case recycled(worker: String, pid: Int32, exit: String, reason: String)
        case stoppedAfterDeadline(worker: String, pid: Int32, exit: String)
        case stopped(worker: String, pid: Int32, exit: String)
        case passedDeadline(worker: String, pid: Int32, task: Workload)
    }

    /// What one event decided. Carried out in this order: sends (so a worker starts while the rest
    /// runs), completions, spawns, stops, timers, warm-up reports, notices, slots gone.
    package struct Actions: Sendable {
        package var sends: TinyList<Send> = TinyList()
        package var completions: TinyList<(Job, TaskOutcome)> = TinyList()
        /// Slots to spawn a worker for, with the id the new worker gets.
        package var spawns: TinyList<(slot: Int, worker: WorkerID)> = TinyList()
        package var stops: TinyList<Stop> = TinyList()
        package var timers: TinyList<Timer> = TinyList()
        /// A slot's first spawn went well (nil) or failed (the reason).
        package var warmed: TinyList<(WarmUp, String?)> = TinyList()
        package var notices: TinyList<Notice> = TinyList()
        /// Slots that stopped for good.
        package var slotsLeft = 0

        package init() {}
    }

    // MARK: State

    package private(set) var configuration: Configuration
    /// Slots by index; a slot that stopped for good is nil. Indexes are never reused.
    private var slots: [Slot?] = []
    /// Each slot's worker name (`process-0`, …), made once: every reply carries it.
    private var names: [String] = []
    private var queue = CircularBuffer<Job>()
    package private(set) var closed = false
    private var nextWorkerID: WorkerID = 0
    private var nextSequence: UInt64 = 0
    /// Tasks sent so far to a worker behind the task it was running.
    package private(set) var prefetchedTasks: UInt64 = 0
    /// How long each function of a program's has been taking, erring long: a call's duration
    /// cannot be told from its request, so it is learned from the calls answered (see `learn`).
    package var callDurations: [String: Duration] { callNanoseconds.mapValues { .nanoseconds($0) } }
    /// `callDurations` as kept: in nanoseconds, whose arithmetic is an integer's (a `Duration`
    /// times an integer converts through a generic 128-bit path, about 700 instructions a call).
    private var callNanoseconds: [String: Int64] = [:]
    /// The most functions whose durations are kept; past it the table starts over.
    static var learnedFunctionsLimit: Int { 1024 }

    package init(_ configuration: Configuration) {
        self.configuration = configuration
    }

    // MARK: Events from callers

    /// A job arrives: started on an idle worker (those `preferring` accepts first), queued, or
    /// refused at once.
    package mutating func submit(
        _ job: Job, now: NIODeadline, preferring: (Connection) -> Bool, actions: inout Actions
    ) -> JobQueue.Refusal? {
        if closed { return .closed }
        if queue.isEmpty, let index = idleSlot(preferring: preferring) {
            start(job, on: index, now: now, actions: &actions)
            return nil
        }
        if queue.count >= configuration.queueLimit { return .full }
        queue.append(job)
        if queue.count == 1 {
            for index in busySlotsWithRoom(preferring: preferring) where prefetch(index, actions: &actions) { break }
        }
        return nil
    }

    /// Adds `count` slots and spawns a worker for each; `warm` hears how each first spawn went.
    package mutating func grow(by count: Int, warm: WarmUp?, actions: inout Actions) {
        for _ in 0..<count {
            let index = slots.count
            slots.append(Slot(index: index, phase: .spawning(warm: warm)))
            names.append("\(configuration.name)-\(index)")
            actions.spawns.append((index, takeWorkerID()))
        }
    }

    /// Sets the queue limit and the number of slots; returns how many slots must be added (with
    /// `grow`). Surplus slots retire: an idle one stops now, a busy one once its task is answered.
    package mutating func resize(size: Int, queueLimit: Int, now: NIODeadline, actions: inout Actions) -> Int {
        configuration.queueLimit = queueLimit
        let members = memberIndexes
        if size < members.count {
            for index in members.suffix(members.count - size) {
                slots[index]?.retiring = true
                settle(index, now: now, actions: &actions)
            }
        }
        return max(0, size - members.count)
    }

    /// Recycling changes; each worker takes the task limit when it is next spawned.
    package mutating func setRecycling(_ policy: RecyclePolicy) {
        configuration.recycling = policy
    }

    /// Stops taking jobs; queued ones still run, then every worker stops.
    package mutating func close(now: NIODeadline, actions: inout Actions) {
        closed = true
        for index in slots.indices where slots[index] != nil { settle(index, now: now, actions: &actions) }
        if slots.allSatisfy({ $0 == nil }) { failQueuedAfterShutdown(actions: &actions) }
    }

    // MARK: Events from workers and timers

    /// Slot `slot`'s spawn of worker `worker` succeeded; it greets the daemon once warm.
    package mutating func spawned(slot index: Int, worker id: WorkerID, pid: Int32, connection: Connection, actions: inout Actions) {
        guard let slot = slots[index], case .spawning(let warm) = slot.phase else {
            // Nothing waits for this process: stop it, and its reaping will find no slot.
            actions.stops.append(Stop(slot: index, worker: id, pid: pid, connection: connection, terminate: true))
            return
        }
        slots[index]?.phase = .greeting(Worker(id: id, pid: pid, connection: connection), warm: warm)
        actions.timers.append(.greeting(slot: index, worker: id, connection: connection))
    }

    /// Slot `slot`'s spawn failed with `error`.
    package mutating func spawnFailed(slot index: Int, error: String, actions: inout Actions) {
        guard let slot = slots[index], case .spawning(let warm) = slot.phase else { return }
        failedToStart(index, warm: warm, error: error, actions: &actions)
    }

    /// Worker `worker` said it is ready for tasks.
    package mutating func greeted(slot index: Int, worker id: WorkerID, now: NIODeadline, actions: inout Actions) {
        guard let slot = slots[index], case .greeting(var worker, let warm) = slot.phase, worker.id == id else { return }
        worker.tasks = 0
        worker.taskLimit = configuration.recycling.taskLimit()
        worker.exitWatched = false
        slots[index]?.phase = .idle(worker)
        actions.notices.append(.spawned(worker: name(index), pid: worker.pid))
        if let warm { actions.warmed.append((warm, nil)) }
        settle(index, now: now, actions: &actions)
    }

    /// Worker `worker` did not greet in time.
    package mutating func greetingTimedOut(slot index: Int, worker id: WorkerID, actions: inout Actions) {
        guard let slot = slots[index], case .greeting(let worker, let warm) = slot.phase, worker.id == id else { return }
        stop(index, worker, .neverGreeted(warm: warm), terminate: true, actions: &actions)
    }

    /// Worker `worker` answered the task it was running.
    /// `recycle` replaces the worker after this task whatever its policy says (it passed its memory limit).
    package mutating func answered(
        slot index: Int, worker id: WorkerID, result: Result<TaskValue, WireError>, recycle forced: String? = nil, now: NIODeadline,
        actions: inout Actions
    ) {
        // No running task: its deadline passed and it was answered already.
        guard slots[index]?.busyWorkerID == id, case .busy(var worker, let busy) = takePhase(index) else { return }
        worker.tasks &+= 1
        learn(busy.running, now: now)
        actions.completions.append((busy.running.job, outcome(result, index, worker)))
        if busy.running.job.deadline != nil {
            actions.timers.append(.cancelDeadline(sequence: busy.running.sequence, connection: worker.connection))
        }
        if var next = busy.next {
            // The worker has already started the prefetched task; recycling waits for it.
            let recycle = forced ?? busy.recycleWhenDone ?? recycleReason(worker)
            next.started = now
            var work = Busy(running: next, next: nil, recycleWhenDone: recycle)
            prefetch(index, behind: &worker, &work, actions: &actions)
            slots[index]!.phase = .busy(worker, work)
            return
        }
        if let recycle = forced ?? busy.recycleWhenDone ?? recycleReason(worker) {
            stop(index, worker, .recycled(recycle), terminate: false, actions: &actions)
            return
        }
        slots[index]!.phase = .idle(worker)
        settle(index, now: now, actions: &actions)
    }

    /// The sequence of the task worker `worker` runs now, if it runs one: a user's program names the
    /// task it answers, and an answer to any other breaks the protocol.
    package func runningSequence(slot index: Int, worker id: WorkerID) -> UInt64? {
        guard let slot = slots[index], case .busy(let worker, let busy) = slot.phase, worker.id == id else { return nil }
        return busy.running.sequence
    }

    /// Worker `worker` broke the worker protocol (`reason` says how): the task it ran fails with
    /// `bad_worker_reply`, one sent behind it goes back to the queue, and the worker is replaced.
    package mutating func misbehaved(slot index: Int, worker id: WorkerID, reason: String, now: NIODeadline, actions: inout Actions) {
        guard let slot = slots[index], let worker = slot.worker, worker.id == id else { return }
        let why = "worker \(name(index)) (pid \(worker.pid)) broke the worker protocol: \(reason)"
        switch slot.phase {
        case .busy(_, let busy):
            actions.completions.append((busy.running.job, outcome(.failure(WireError(.badWorkerReply, why)), index, worker)))
            if busy.running.job.deadline != nil {
                actions.timers.append(.cancelDeadline(sequence: busy.running.sequence, connection: worker.connection))
            }
            if let next = busy.next { requeue(next.job, now: now, actions: &actions) }
            stop(index, worker, .brokeProtocol(why, warm: nil), terminate: true, actions: &actions)
        case .idle:
            stop(index, worker, .brokeProtocol(why, warm: nil), terminate: true, actions: &actions)
        case .greeting(_, let warm):
            stop(index, worker, .brokeProtocol(why, warm: warm), terminate: true, actions: &actions)
        case .stopping, .spawning, .waitingToRespawn:
            return
        }
    }

    /// Worker `worker`'s channel closed without the daemon closing it: it died.
    package mutating func lost(slot index: Int, worker id: WorkerID, now: NIODeadline, actions: inout Actions) {
        guard let slot = slots[index], let worker = slot.worker, worker.id == id else { return }
        switch slot.phase {
        case .busy(_, let busy):
            if let next = busy.next { requeue(next.job, now: now, actions: &actions) }
            stop(index, worker, .died(busy.running.job), terminate: false, actions: &actions)
        case .idle:
            stop(index, worker, .diedIdle, terminate: false, actions: &actions)
        case .greeting(_, let warm):
            stop(index, worker, .neverGreeted(warm: warm), terminate: false, actions: &actions)
        case .stopping, .spawning, .waitingToRespawn:
            return
        }
    }

    /// The deadline timer of task `sequence` fired.
    package mutating func deadlinePassed(slot index: Int, sequence: UInt64, now: NIODeadline, actions: inout Actions) {
        guard let slot = slots[index], case .busy(let worker, let busy) = slot.phase, busy.running.sequence == sequence else {
            return
        }
        let job = busy.running.job
        actions.completions.append((job, outcome(.failure(WireError(
            .timeout,
            "\(job.workload) did not finish within its deadline on worker \(name(index)) (pid \(worker.pid)), which was stopped and replaced"
        )), index, worker)))
        actions.notices.append(.passedDeadline(worker: name(index), pid: worker.pid, task: job.workload))
        if let next = busy.next { requeue(next.job, now: now, actions: &actions) }
        stop(index, worker, .timedOut, terminate: true, actions: &actions)
    }

    /// Stops the job tagged `tag` (a durable job whose attempt is no longer this host's): waiting in
    /// the queue, it is taken out; running, its worker is stopped and replaced. Either way it is
    /// answered `cancelled` at once. A job already sent behind another (prefetched) runs on.
    /// Returns whether it was found.
    package mutating func stop(tag: UInt64, now: NIODeadline, actions: inout Actions) -> Bool {
        let error = WireError(.cancelled, "stopped: its durable job was cancelled, or its lease passed to another host")
        if let position = queue.firstIndex(where: { $0.tag == tag }) {
            let job = queue.remove(at: position)
            actions.completions.append((job, TaskOutcome(result: .failure(error), worker: configuration.name, workerPID: nil)))
            return true
        }
        for (index, slot) in slots.enumerated() {
            guard let slot, case .busy(let worker, let busy) = slot.phase, busy.running.job.tag == tag else { continue }
            actions.completions.append((busy.running.job, outcome(.failure(error), index, worker)))
            if let next = busy.next { requeue(next.job, now: now, actions: &actions) }
            stop(index, worker, .recycled("its task's durable job was cancelled or moved to another host"), terminate: true, actions: &actions)
            return true
        }
        return false
    }

    /// The send of task `sequence` to worker `worker` failed: the worker's end is gone. A task that
    /// could not be sent never started, so it goes back to the head of the queue.
    package mutating func sendFailed(
        slot index: Int, worker id: WorkerID, sequence: UInt64, now: NIODeadline, actions: inout Actions
    ) {
        guard let slot = slots[index], case .busy(let worker, var busy) = slot.phase, worker.id == id else { return }
        if let next = busy.next, next.sequence == sequence {
            // The running task's send went first: its channel closing will answer for it.
            busy.next = nil
            slots[index]?.phase = .busy(worker, busy)
            requeue(next.job, now: now, actions: &actions)
            return
        }
        guard busy.running.sequence == sequence else { return }
        if busy.running.job.deadline != nil {
            actions.timers.append(.cancelDeadline(sequence: sequence, connection: worker.connection))
        }
        if let next = busy.next { requeue(next.job, now: now, actions: &actions) }
        requeue(busy.running.job, now: now, actions: &actions)
        stop(index, worker, .sendFailed, terminate: true, actions: &actions)
    }

    /// The exit-check timer of worker `worker` fired. Returns true when the worker is still busy and
    /// should be checked (and the timer started again); false ends the check until its next task.
    package mutating func exitCheckDue(slot index: Int, worker id: WorkerID) -> Bool {
        guard let slot = slots[index] else { return false }
        switch slot.phase {
        case .busy(let worker, _) where worker.id == id:
            return true
        case .idle(var worker) where worker.id == id:
            worker.exitWatched = false
            slots[index]?.phase = .idle(worker)
            return false
        default:
            return false
        }
    }

    /// Worker `worker`, being stopped, has been reaped and `exit` says how it ended. Answers for it
    /// and spawns its successor, unless the slot stops for good.
    /// `outOfMemory`: the kernel stopped it for passing its memory limit.
    package mutating func reaped(
        slot index: Int, worker id: WorkerID, exit: String, outOfMemory: Bool = false, now: NIODeadline, actions: inout Actions
    ) {
        guard let slot = slots[index], case .stopping(let worker, let reason) = slot.phase, worker.id == id else { return }
        let name = name(index)
        switch reason {
        case .died(let job):
            actions.notices.append(.diedMidTask(worker: name, pid: worker.pid, exit: exit, task: job.workload))
            let error =
                outOfMemory
                ? WireError(
                    .outOfMemory,
                    "\(job.workload) took worker \(name) (pid \(worker.pid)) past the pool's memory limit: the kernel stopped it (\(exit)); the worker is replaced"
                )
                : WireError(.workerDied, "worker \(name) (pid \(worker.pid)) \(exit) while running \(job.workload)")
            actions.completions.append((job, TaskOutcome(
                result: .failure(error),
                worker: name,
                workerPID: worker.pid
            )))
        case .diedIdle, .sendFailed:
            actions.notices.append(.diedIdle(worker: name, pid: worker.pid, exit: exit))
        case .recycled(let why):
            actions.notices.append(.recycled(worker: name, pid: worker.pid, exit: exit, reason: why))
        case .timedOut:
            actions.notices.append(.stoppedAfterDeadline(worker: name, pid: worker.pid, exit: exit))
        case .retired, .shutdown:
            actions.notices.append(.stopped(worker: name, pid: worker.pid, exit: exit))
        case .brokeProtocol(let why, let warm?):
            // It never became ready: the slot's first start failed.
            failedToStart(index, warm: warm, error: "\(why) (\(configuration.executable)); it \(exit)", actions: &actions)
            return
        case .brokeProtocol(let why, nil):
            actions.notices.append(.recycled(worker: name, pid: worker.pid, exit: exit, reason: why))
        case .neverGreeted(let warm):
            let error = "worker \(configuration.executable) (pid \(worker.pid)) did not greet the daemon; it \(exit)"
            failedToStart(index, warm: warm, error: error, actions: &actions)
            return
        }
        if slot.retiring || (closed && queue.isEmpty) {
            leave(index, actions: &actions)
        } else {
            slots[index]?.phase = .spawning(warm: nil)
            actions.spawns.append((index, takeWorkerID()))
        }
    }

    /// The respawn timer of slot `slot` fired.
    package mutating func respawnDue(slot index: Int, actions: inout Actions) {
        guard let slot = slots[index], case .waitingToRespawn = slot.phase else { return }
        if closed || slot.retiring {
            leave(index, actions: &actions)
        } else {
            slots[index]?.phase = .spawning(warm: nil)
            actions.spawns.append((index, takeWorkerID()))
        }
    }

    // MARK: Reading

    /// The slots that count towards the pool's size (not retiring), in index order.
    private var memberIndexes: [Int] {
        slots.indices.filter { slots[$0].map { !$0.retiring } ?? false }
    }

    /// Size, busy, queued and each member's worker.
    package func snapshot() -> PoolSnapshot {
        var workers: [WorkerStatus] = []
        var busy = 0
        var queued = queue.count
        for case let slot? in slots where !slot.retiring {
            var pid: Int32?
            var isBusy = false
            switch slot.phase {
            case .idle(let worker):
                pid = worker.pid
            case .busy(let worker, let work):
                pid = worker.pid
                isBusy = true
                busy += 1
                if work.next != nil { queued += 1 }
            default:
                break
            }
            workers.append(WorkerStatus(name: name(slot.index), pid: pid, busy: isBusy, tasks: slot.worker?.tasks ?? 0))
        }
        return PoolSnapshot(size: workers.count, busy: busy, queued: queued, queueLimit: configuration.queueLimit, workers: workers)
    }

    /// The name of the slot whose worker has `pid`, while that worker has not been reaped.
    package func workerName(pid: Int32) -> String? {
        for case let slot? in slots where slot.worker?.pid == pid { return name(slot.index) }
        return nil
    }

    /// "process-0 pid 12, process-1 pid 13" for the members that have a worker.
    package func workerList() -> [String] {
        slots.compactMap { slot in
            guard let slot, !slot.retiring, let worker = slot.worker else { return nil }
            return "\(name(slot.index)) pid \(worker.pid)"
        }
    }

    /// Slots that have not stopped for good, retiring ones included.
    package var slotCount: Int { slots.count { $0 != nil } }

    /// Every job accepted and not yet answered: queued, running, sent ahead, or held until the
    /// worker it died on is reaped. Tests check that it never loses or invents one.
    package var jobsHeld: Int {
        var held = queue.count
        for case let slot? in slots {
            switch slot.phase {
            case .busy(_, let busy): held += busy.next == nil ? 1 : 2
            case .stopping(_, .died): held += 1
            default: break
            }
        }
        return held
    }

    // MARK: Deciding

    private func name(_ index: Int) -> String { names[index] }

    /// Takes slot `index`'s phase out, leaving `.waitingToRespawn` until the caller writes the next
    /// one. A move: matching the phase in place copied the whole slot (about 150 bytes, with a
    /// retain of each reference and a release after), some 1 200 instructions each time on a
    /// task's path. Callers check the phase first through a property that copies nothing.
    private mutating func takePhase(_ index: Int) -> Phase {
        var phase = Phase.waitingToRespawn
        swap(&phase, &slots[index]!.phase)
        return phase
    }

    private mutating func takeWorkerID() -> WorkerID {
        nextWorkerID &+= 1
        return nextWorkerID
    }

    /// An idle member, preferring one `preferring` accepts (on the caller's event loop, in the daemon).
    private func idleSlot(preferring: (Connection) -> Bool) -> Int? {
        var fallback: Int?
        // Through the buffer, so that each slot is looked at in place: a slot is about 150 bytes,
        // and a loop over the array copied each one (with a retain of everything it holds).
        slots.withUnsafeBufferPointer { slots in
            for index in slots.indices {
                guard let connection = slots[index]?.idleConnection else { continue }
                if preferring(connection) {
                    fallback = index
                    return
                }
                if fallback == nil { fallback = index }
            }
        }
        return fallback
    }

    /// Busy members with room for a prefetched task, those `preferring` accepts first.
    private func busySlotsWithRoom(preferring: (Connection) -> Bool) -> [Int] {
        var preferred: [Int] = []
        var others: [Int] = []
        for case let slot? in slots where !slot.retiring {
            guard case .busy(let worker, let busy) = slot.phase, busy.next == nil else { continue }
            if preferring(worker.connection) { preferred.append(slot.index) } else { others.append(slot.index) }
        }
        return preferred + others
    }

    /// Gives the idle slot `index` the job: marks it busy, sends the task and, where it may, the
    /// head of the queue behind it (`prefetch`); or answers a job whose deadline has passed (the
    /// slot stays idle).
    private mutating func start(_ job: Job, on index: Int, now: NIODeadline, actions: inout Actions) {
        guard slots[index]?.isIdle == true, case .idle(var worker) = takePhase(index) else {
            preconditionFailure("a job was given to a slot that is not idle")
        }
        if let deadline = job.deadline, deadline <= now {
            actions.completions.append((job, outcome(.failure(.expiredInQueue(job.workload)), index, worker)))
            slots[index]!.phase = .idle(worker)
            return
        }
        nextSequence &+= 1
        let task = Task(job: job, sequence: nextSequence, started: now)
        worker.tickets += 1
        if !worker.exitWatched {
            worker.exitWatched = true
            actions.timers.append(.exitCheck(slot: index, worker: worker.id, pid: worker.pid, connection: worker.connection))
        }
        var remaining: Int64 = 0
        if let deadline = job.deadline {
            remaining = max(1, (deadline - now).nanoseconds / 1_000_000)
            actions.timers.append(.deadline(
                slot: index, sequence: task.sequence, connection: worker.connection, at: deadline + configuration.deadlineSlack
            ))
        }
        actions.sends.append(Send(
            slot: index, worker: worker.id, connection: worker.connection, ticket: worker.tickets, sequence: task.sequence,
            workload: job.workload, remainingMilliseconds: remaining
        ))
        var work = Busy(running: task)
        prefetch(index, behind: &worker, &work, actions: &actions)
        slots[index]!.phase = .busy(worker, work)
    }

    /// Sends the head of the queue to the busy slot `index` behind its running task, so that the
    /// worker starts it the moment it answers instead of sleeping until the daemon's next send.
    ///
    /// Only where waiting behind the running task cannot hurt: that task is expected to take at
    /// most `prefetchBehind`, the queued job has no deadline (so no timer has to tell a waiting
    /// task from a running one), and the worker is not due to be recycled, retired, or past its
    /// task limit with the extra task. The worker runs its tasks in order, so when it dies the
    /// running task is the one it died under and the prefetched one goes back to the head of the
    /// queue, never having started.
    ///
    /// This one takes the busy slot's worker and work out of the slot and puts them back; the
    /// task's path (`start`, `answered`) calls the other with them in hand.
    private mutating func prefetch(_ index: Int, actions: inout Actions) -> Bool {
        guard !queue.isEmpty, slots[index]?.busyWorkerID != nil, case .busy(var worker, var work) = takePhase(index) else {
            return false
        }
        defer { slots[index]!.phase = .busy(worker, work) }
        return prefetch(index, behind: &worker, &work, actions: &actions)
    }

    /// Prefetches for busy slot `index`, whose `worker` and `busy` work the caller holds.
    @discardableResult
    private mutating func prefetch(_ index: Int, behind worker: inout Worker, _ busy: inout Busy, actions: inout Actions) -> Bool {
        guard let job = queue.first, job.deadline == nil, busy.next == nil, busy.recycleWhenDone == nil, !slots[index]!.retiring,
            let expected = Self.expectedDuration(busy.running.job.workload, callNanoseconds: callNanoseconds),
            expected <= configuration.prefetchBehind,
            worker.taskLimit.map({ worker.tasks + 2 <= $0 }) ?? true
        else { return false }
        queue.removeFirst()
        nextSequence &+= 1
        let task = Task(job: job, sequence: nextSequence)
        busy.next = task
        worker.tickets += 1
        actions.sends.append(Send(
            slot: index, worker: worker.id, connection: worker.connection, ticket: worker.tickets, sequence: task.sequence,
            workload: job.workload, remainingMilliseconds: 0
        ))
        prefetchedTasks &+= 1
        return true
    }

    /// About how long a workload takes on a worker, erring long (cpu at 1 ns per iteration; this
    /// machine class runs 0.27; a call as its function has been taking); nil when nobody can tell
    /// (a GET waits on another server; a function not called yet).
    private static func expectedDuration(_ workload: Workload, callNanoseconds: [String: Int64]) -> Duration? {
        switch workload {
        case .noop: return .zero
        case .cpu(let n): return .nanoseconds(n)
        case .sleep(let milliseconds): return .milliseconds(milliseconds)
        case .call(let function, _): return callNanoseconds[function].map { .nanoseconds($0) }
        case .io, .async, .exec: return nil
        }
    }

    /// Notes how long a call took. The estimate jumps to a longer duration at once and comes down
    /// an eighth of the way per shorter one, so one slow call stops prefetching behind its function
    /// until several quick ones have shown it is quick again.
    private mutating func learn(_ task: Task, now: NIODeadline) {
        guard case .call(let function, _) = task.job.workload, let started = task.started else { return }
        let took = max(0, (now - started).nanoseconds)
        if callNanoseconds.count >= Self.learnedFunctionsLimit, callNanoseconds[function] == nil { callNanoseconds = [:] }
        // One look-up, the entry changed in place: hashing the function's name is most of the cost.
        func update(_ estimate: inout Int64) {
            estimate = estimate > took ? (estimate * 7 + took) / 8 : took
        }
        update(&callNanoseconds[function, default: took])
    }

    /// Why `worker`, having answered a task, should be replaced now, or nil to keep it.
    private func recycleReason(_ worker: Worker) -> String? {
        let policy = configuration.recycling
        let resident = policy.maxRSSBytes > 0 ? configuration.residentBytes(worker.pid) : nil
        return policy.reason(tasks: worker.tasks, limit: worker.taskLimit, residentBytes: resident)
    }

    /// Puts a job that never started back at the head of the queue, and hands it to an idle slot if
    /// there is one: nothing else would wake an idle slot while the queue is not empty.
    private mutating func requeue(_ job: Job, now: NIODeadline, actions: inout Actions) {
        queue.prepend(job)
        if let idle = idleSlot(preferring: { _ in false }) { settle(idle, now: now, actions: &actions) }
    }

    /// Gives an idle slot its next job, or stops its worker when the slot retires or the pool has
    /// closed and drained.
    private mutating func settle(_ index: Int, now: NIODeadline, actions: inout Actions) {
        guard slots[index]?.isIdle == true else { return }
        let retiring = slots[index]!.retiring
        if !retiring {
            while slots[index]?.isIdle == true, let job = queue.popFirst() {
                start(job, on: index, now: now, actions: &actions)
            }
        }
        // Checked after the queue, not before: jobs that expired in it were answered without
        // running, and a slot they left idle at shutdown must still stop.
        if slots[index]?.isIdle == true, retiring || (closed && queue.isEmpty), case .idle(let worker) = takePhase(index) {
            stop(index, worker, retiring ? .retired : .shutdown, terminate: false, actions: &actions)
        }
    }

    private mutating func stop(_ index: Int, _ worker: Worker, _ reason: StopReason, terminate: Bool, actions: inout Actions) {
        slots[index]?.phase = .stopping(worker, reason)
        actions.stops.append(Stop(slot: index, worker: worker.id, pid: worker.pid, connection: worker.connection, terminate: terminate))
    }

    /// A slot could not get a worker: tell whoever waits for it, answer what no worker can run, and
    /// try again later (or stop for good).
    private mutating func failedToStart(_ index: Int, warm: WarmUp?, error: String, actions: inout Actions) {
        actions.notices.append(.spawnFailed(worker: name(index), error: error))
        if let warm { actions.warmed.append((warm, error)) }
        slots[index]?.phase = .waitingToRespawn
        if !slots.contains(where: { $0?.isRunning == true }) {
            // Nothing could run the queued jobs: answer them instead of letting them wait.
            let worker = name(index)
            while let job = queue.popFirst() {
                actions.completions.append((job, TaskOutcome(
                    result: .failure(WireError(.internal, "no worker could be started: \(error)")), worker: worker, workerPID: nil
                )))
            }
        }
        if closed || slots[index]?.retiring == true {
            leave(index, actions: &actions)
        } else {
            actions.timers.append(.respawn(slot: index))
        }
    }

    /// Slot `index` stops for good.
    private mutating func leave(_ index: Int, actions: inout Actions) {
        slots[index] = nil
        actions.slotsLeft += 1
        if closed && slots.allSatisfy({ $0 == nil }) { failQueuedAfterShutdown(actions: &actions) }
    }

    /// Once closed with no slot left to run them, queued jobs are answered rather than kept.
    private mutating func failQueuedAfterShutdown(actions: inout Actions) {
        while let job = queue.popFirst() {
            actions.completions.append((job, TaskOutcome(
                result: .failure(WireError(.shuttingDown, "concd stopped before a worker of the \(configuration.name) pool could run \(job.workload)")),
                worker: configuration.name, workerPID: nil
            )))
        }
    }

    private func outcome(_ result: Result<TaskValue, WireError>, _ index: Int, _ worker: Worker) -> TaskOutcome {
        TaskOutcome(result: result, worker: name(index), workerPID: worker.pid)
    }
}

/// Collects how the first spawns of a group of new slots went; `start` and `resize` wait on it.
package final class WarmUp: Sendable {
    private let countdown: Countdown
    private let failures = Mutex<[String]>([])

    /// Waits for `count` slots.
    package init(count: Int) {
        countdown = Countdown(count)
    }

    /// One slot's first spawn went well (`failure` nil) or not.
    package func report(failure: String?) {
        if let failure { failures.withLock { $0.append(failure) } }
        countdown.countDown()
    }

    /// Returns every failure once each slot has reported.
    package func wait() async -> [String] {
        await countdown.wait()
        return failures.withLock { $0 }
    }
}
