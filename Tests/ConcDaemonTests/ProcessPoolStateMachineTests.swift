import ConcProtocol
import NIOCore
import Synchronization
import Testing

import ConcDaemon

/// The process pool's decisions, driven without any process, socket or timer: a simulated world of
/// workers answers the machine's sends in ticket order, dies, greets, is reaped, and timers fire,
/// in orders a seeded generator picks. Invariants are checked after every event.
@Suite struct ProcessPoolStateMachineTests {
    // MARK: Randomized event sequences

    @Test(arguments: 0..<40)
    func randomEventSequencesKeepEveryInvariant(seed: UInt64) throws {
        var world = World(seed: seed, size: 1 + Int(seed % 3), taskLimit: seed % 2 == 0 ? 3 : nil)
        for _ in 0..<600 {
            try world.step()
        }
        try world.shutDownAndDrain()
        #expect(world.machine.slotCount == 0, "seed \(seed): slots left after shutdown")
        #expect(world.ledger.unanswered(world.accepted).isEmpty, "seed \(seed): accepted jobs never answered")
    }

    // MARK: Scenarios

    @Test func aTaskGoesToAnIdleWorkerAndItsAnswerCompletesIt() throws {
        var world = World(seed: 1, size: 1)
        try world.warmEveryWorker()
        let job = try world.submit(.short)
        #expect(world.inbox.values.flatMap { $0 }.map(\.job) == [job])
        try world.answerHead(of: world.onlyWorker)
        #expect(world.ledger.answers(job) == 1)
        #expect(world.machine.snapshot().busy == 0)
    }

    @Test func aQueuedTaskIsSentAheadBehindAShortOneAndSurvivesTheWorkersDeath() throws {
        var world = World(seed: 2, size: 1)
        try world.warmEveryWorker()
        let first = try world.submit(.short)
        let second = try world.submit(.short)
        let worker = world.onlyWorker
        #expect(world.inbox[worker]?.map(\.job) == [first, second], "the second task waits in the worker's socket")
        #expect(world.machine.prefetchedTasks == 1)
        #expect(world.machine.snapshot().queued == 1, "a task sent ahead counts as queued")
        try world.kill(worker)
        try world.reapAll()
        #expect(world.ledger.error(first) == .workerDied)
        #expect(world.ledger.answers(second) == 0, "the task sent ahead never started")
        try world.warmEveryWorker()
        let replacement = world.onlyWorker
        #expect(replacement != worker)
        #expect(world.inbox[replacement]?.map(\.job) == [second])
        try world.answerHead(of: replacement)
        #expect(world.ledger.answers(second) == 1)
    }

    @Test func aStoppedFleetJobIsAnsweredCancelledQueuedOrRunningAndItsWorkerIsReplaced() throws {
        var world = World(seed: 7, size: 1)
        try world.warmEveryWorker()
        let running = try world.submit(.long)
        let queued = try world.submit(.long)
        let worker = world.onlyWorker
        #expect(try world.stop(tag: queued))
        #expect(world.ledger.error(queued) == .cancelled)
        #expect(world.machine.snapshot().queued == 0)
        #expect(try world.stop(tag: running))
        #expect(world.ledger.error(running) == .cancelled)
        #expect(try !world.stop(tag: running), "answered once: a second stop finds nothing")
        try world.reapAll()
        try world.warmEveryWorker()
        #expect(world.onlyWorker != worker, "the worker that ran it was stopped and replaced")
        let next = try world.submit(.short)
        try world.answerHead(of: world.onlyWorker)
        #expect(world.ledger.answers(next) == 1)
        #expect(world.ledger.answers(running) == 1 && world.ledger.answers(queued) == 1)
    }

    @Test func aWorkerTheKernelStoppedAtItsMemoryLimitAnswersOutOfMemoryAndIsReplaced() throws {
        var world = World(seed: 5, size: 1)
        try world.warmEveryWorker()
        let job = try world.submit(.short)
        let worker = world.onlyWorker
        try world.kill(worker)
        try world.reap(0, outOfMemory: true)
        #expect(world.ledger.error(job) == .outOfMemory)
        try world.warmEveryWorker()
        #expect(world.onlyWorker != worker)
        let next = try world.submit(.short)
        try world.answerHead(of: world.onlyWorker)
        #expect(world.ledger.answers(next) == 1)
    }

    @Test func callsAreSentAheadOnceTheirFunctionHasShownItIsQuick() throws {
        var world = World(seed: 4, size: 1)
        try world.warmEveryWorker()
        _ = try world.submit(.call("quick"))
        _ = try world.submit(.call("quick"))
        #expect(world.machine.prefetchedTasks == 0, "nothing is known of the function yet")
        world.advance(milliseconds: 0, microseconds: 200)
        try world.answerHead(of: world.onlyWorker)
        #expect(world.machine.callDurations["quick"] == .microseconds(200))
        _ = try world.submit(.call("quick"))
        #expect(world.machine.prefetchedTasks == 1, "behind a call of a function that takes 200 µs")
        _ = try world.submit(.call("other"))
        // One slow call stops it: the estimate jumps up at once and comes down an eighth at a time.
        world.advance(milliseconds: 50)
        try world.answerHead(of: world.onlyWorker)
        #expect(world.machine.callDurations["quick"] == .milliseconds(50))
        #expect(world.machine.prefetchedTasks == 1, "nothing is sent behind a function now known to be slow")
        world.advance(milliseconds: 0, microseconds: 100)
        try world.answerHead(of: world.onlyWorker)
        #expect(world.machine.callDurations["quick"] == (.milliseconds(50) * 7 + .microseconds(100)) / 8)
        #expect(world.machine.prefetchedTasks == 1, "nor behind one of a function never called")
    }

    @Test func nothingIsSentBehindALongTaskOrAheadOfADeadline() throws {
        var world = World(seed: 3, size: 1)
        try world.warmEveryWorker()
        _ = try world.submit(.long)
        _ = try world.submit(.short)
        #expect(world.machine.prefetchedTasks == 0)
        try world.answerHead(of: world.onlyWorker)
        // The queued short task now runs; one with a deadline is not sent behind it.
        _ = try world.submit(.short, timeoutMilliseconds: 1_000)
        #expect(world.machine.prefetchedTasks == 0, "a task with a deadline is never sent ahead")
        #expect(world.machine.snapshot().queued == 1)
    }

    @Test func theDeadlineStopsTheWorkerAndRequeuesTheTaskBehindIt() throws {
        var world = World(seed: 4, size: 1)
        try world.warmEveryWorker()
        let slow = try world.submit(.short, timeoutMilliseconds: 100)
        let behind = try world.submit(.short)
        #expect(world.machine.prefetchedTasks == 1, "a task without a deadline may wait behind one with a deadline")
        #expect(world.deadlines.count == 1)
        let worker = world.onlyWorker
        try world.fireDeadlines()
        #expect(world.ledger.error(slow) == .timeout)
        #expect(world.stopping.contains { $0.worker == worker && $0.terminate }, "the worker is SIGTERMed")
        #expect(world.ledger.answers(behind) == 0)
        try world.reapAll()
        try world.warmEveryWorker()
        try world.answerHead(of: world.onlyWorker)
        #expect(world.ledger.answers(behind) == 1 && world.ledger.error(behind) == nil)
    }

    @Test func aWorkerIsRecycledAtItsTaskLimitEvenWithTasksSentAhead() throws {
        var world = World(seed: 5, size: 1, taskLimit: 3)
        try world.warmEveryWorker()
        let jobs = try (0..<10).map { _ in try world.submit(.short) }
        try world.runUntilQuiet()
        for job in jobs { #expect(world.ledger.answers(job) == 1) }
        #expect(world.sendsPerWorker.values.allSatisfy { $0 <= 3 }, "\(world.sendsPerWorker)")
        #expect(world.sendsPerWorker.count >= 4)
    }

    @Test func shrinkingLetsABusyWorkerFinishAndNamesAreNeverReused() throws {
        var world = World(seed: 6, size: 2)
        try world.warmEveryWorker()
        let a = try world.submit(.long)
        let b = try world.submit(.long)
        world.resize(to: 1)
        #expect(world.machine.snapshot().workers?.map(\.name) == ["process-0"])
        #expect(world.stopping.isEmpty, "the retiring worker is busy; it stops after its task")
        try world.runUntilQuiet()
        #expect(world.ledger.answers(a) == 1 && world.ledger.answers(b) == 1)
        #expect(world.machine.slotCount == 1)
        world.resize(to: 2)
        try world.warmEveryWorker()
        #expect(world.machine.snapshot().workers?.map(\.name) == ["process-0", "process-2"])
    }

    @Test func whenNoWorkerCanStartQueuedTasksAreAnsweredAndTheSlotTriesAgain() throws {
        var world = World(seed: 7, size: 1)
        try world.failSpawns()
        let job = try world.submit(.short)
        #expect(world.ledger.answers(job) == 0, "queued while a respawn is pending")
        try world.fireRespawns()
        try world.failSpawns()
        #expect(world.ledger.error(job) == .internal)
        try world.fireRespawns()
        try world.warmEveryWorker()
        #expect(world.machine.snapshot().workers?.first?.pid != nil)
    }

    @Test func aWorkerThatNeverGreetsIsStoppedAndReportedAsAFailedStart() throws {
        var world = World(seed: 8, size: 1)
        try world.completeSpawns()
        try world.fireGreetingTimeouts()
        #expect(world.stopping.count == 1 && world.stopping[0].terminate)
        try world.reapAll()
        #expect(world.notices.contains { if case .spawnFailed(_, let error) = $0 { error.contains("did not greet") } else { false } })
        #expect(world.respawns.count == 1)
    }

    @Test func shutdownRunsEveryQueuedTaskThenStopsEveryWorker() throws {
        var world = World(seed: 9, size: 2)
        try world.warmEveryWorker()
        let jobs = try (0..<6).map { _ in try world.submit(.long) }
        try world.close()
        #expect(throws: WireError.self) { try world.submit(.short) }
        try world.runUntilQuiet()
        for job in jobs { #expect(world.ledger.answers(job) == 1 && world.ledger.error(job) == nil) }
        #expect(world.machine.slotCount == 0)
        #expect(world.slotsLeft == 2)
    }

    @Test func aFullQueueRefusesAtOnce() throws {
        var world = World(seed: 10, size: 1, queueLimit: 2)
        try world.warmEveryWorker()
        _ = try world.submit(.long)
        _ = try world.submit(.long)
        _ = try world.submit(.long)
        #expect(throws: WireError.self) { try world.submit(.short) }
    }

    @Test func aTaskThatExpiredInTheQueueIsAnsweredWithoutRunning() throws {
        var world = World(seed: 11, size: 1)
        try world.warmEveryWorker()
        let running = try world.submit(.long)
        let late = try world.submit(.short, timeoutMilliseconds: 10)
        world.advance(milliseconds: 50)
        try world.answerHead(of: world.onlyWorker)
        #expect(world.ledger.answers(running) == 1)
        #expect(world.ledger.error(late) == .timeout)
        #expect(world.inbox[world.onlyWorker]?.isEmpty ?? true)
    }
}

// MARK: - The simulated world

/// What the machine reaches a worker through, in these tests.
final class FakeConnection: Sendable {
    let worker: UInt64

    init(worker: UInt64) {
        self.worker = worker
    }
}

typealias TestMachine = ProcessPoolStateMachine<FakeConnection>

/// Records each job's answers, whichever event produced them.
final class Ledger: Sendable {
    private let outcomes = Mutex<[Int: [TaskOutcome]]>([:])

    func record(_ job: Int, _ outcome: TaskOutcome) {
        outcomes.withLock { $0[job, default: []].append(outcome) }
    }

    func answers(_ job: Int) -> Int { outcomes.withLock { $0[job]?.count ?? 0 } }

    func error(_ job: Int) -> ErrorCode? {
        outcomes.withLock { $0[job]?.first?.result.errorCode }
    }

    var answered: Int { outcomes.withLock { $0.values.reduce(0) { $0 + $1.count } } }

    func twiceAnswered() -> [Int] { outcomes.withLock { $0.filter { $0.value.count > 1 }.map(\.key) } }

    func unanswered(_ jobs: Set<Int>) -> [Int] { outcomes.withLock { table in jobs.filter { table[$0] == nil } } }
}

/// What a test submits; the workload made from it carries the job's id.
enum SimTask {
    /// Expected to take microseconds: may have a task sent behind it.
    case short
    /// Expected to take seconds.
    case long
    /// A GET, whose length nobody can tell.
    case get
    /// A call of a program's function: as long as that function has been taking.
    case call(String)

    static let longBase = 10_000

    func workload(id: Int) -> Workload {
        switch self {
        case .short: return .cpu(n: Int64(id))
        case .long: return .sleep(milliseconds: Int64(Self.longBase + id))
        case .get: return .io(url: "http://127.0.0.1:1/\(id)")
        case .call(let function): return .call(function: function, arguments: JSONText(parsing: "\(id)")!)
        }
    }
}

struct SimulatedSend {
    var job: Int
    var slot: Int
    var sequence: UInt64
}

struct InvariantBroken: Error, CustomStringConvertible {
    var description: String
}

/// Plays every part around the machine: clients, workers, the reaper and the timers.
struct World {
    var machine: TestMachine
    var rng: SplitMix64
    var now = NIODeadline.uptimeNanoseconds(1_000_000_000_000)
    let ledger = Ledger()
    var accepted = Set<Int>()
    var refused = Set<Int>()
    var nextJob = 0
    var target: Int

    var pendingSpawns: [(slot: Int, worker: UInt64)] = []
    /// Spawned and not yet greeted: worker → slot.
    var greeting: [UInt64: Int] = [:]
    /// Greeted and alive: worker → slot.
    var alive: [UInt64: Int] = [:]
    /// What each live worker has been sent and not answered, in ticket order.
    var inbox: [UInt64: [SimulatedSend]] = [:]
    var lastTicket: [UInt64: UInt64] = [:]
    var sendsPerWorker: [UInt64: Int] = [:]
    var stopping: [TestMachine.Stop] = []
    var deadlines: [(slot: Int, sequence: UInt64)] = []
    var greetingTimers: [(slot: Int, worker: UInt64)] = []
    var respawns: [Int] = []
    var notices: [TestMachine.Notice] = []
    var slotsLeft = 0
    var slotsMade = 0
    var seenWorkers = Set<UInt64>()
    let taskLimit: UInt64?

    init(seed: UInt64, size: Int, taskLimit: UInt64? = nil, queueLimit: Int = 64) {
        rng = SplitMix64(seed: seed)
        self.taskLimit = taskLimit
        target = size
        machine = TestMachine(TestMachine.Configuration(
            executable: "/usr/bin/worker", queueLimit: queueLimit,
            recycling: RecyclePolicy(maxTasks: taskLimit.map(Int.init) ?? 0), prefetchBehind: .milliseconds(1)
        ))
        var actions = TestMachine.Actions()
        machine.grow(by: size, warm: nil, actions: &actions)
        try! apply(actions)
    }

    var onlyWorker: UInt64 {
        precondition(alive.count == 1, "expected one live worker, found \(alive.count)")
        return alive.keys.first!
    }

    // MARK: Events

    @discardableResult
    mutating func submit(_ task: SimTask, timeoutMilliseconds: Int64? = nil) throws -> Int {
        nextJob += 1
        let id = nextJob
        let workload = task.workload(id: id)
        let ledger = ledger
        let job = Job(workload: workload, deadline: timeoutMilliseconds.map { now + .milliseconds($0) }, tag: UInt64(id)) { outcome in
            ledger.record(id, outcome)
        }
        var actions = TestMachine.Actions()
        if let refusal = machine.submit(job, now: now, preferring: { _ in false }, actions: &actions) {
            refused.insert(id)
            try apply(actions)
            throw refusal.wireError(pool: .process, limit: 0)
        }
        accepted.insert(id)
        try apply(actions)
        return id
    }

    /// Stops the job submitted as `id` (its tag); returns whether the machine found it.
    @discardableResult
    mutating func stop(tag id: Int) throws -> Bool {
        var actions = TestMachine.Actions()
        let found = machine.stop(tag: UInt64(id), now: now, actions: &actions)
        try apply(actions)
        return found
    }

    mutating func completeSpawns() throws {
        while !pendingSpawns.isEmpty {
            let (slot, worker) = pendingSpawns.removeFirst()
            try spawned(slot, worker)
        }
    }

    mutating func spawned(_ slot: Int, _ worker: UInt64) throws {
        greeting[worker] = slot
        var actions = TestMachine.Actions()
        machine.spawned(slot: slot, worker: worker, pid: Int32(1000 + worker), connection: FakeConnection(worker: worker), actions: &actions)
        try apply(actions)
    }

    mutating func failSpawns() throws {
        while !pendingSpawns.isEmpty {
            let (slot, _) = pendingSpawns.removeFirst()
            var actions = TestMachine.Actions()
            machine.spawnFailed(slot: slot, error: "posix_spawn failed: No such file or directory", actions: &actions)
            try apply(actions)
        }
    }

    mutating func greet(_ worker: UInt64) throws {
        guard let slot = greeting.removeValue(forKey: worker) else { return }
        alive[worker] = slot
        var actions = TestMachine.Actions()
        machine.greeted(slot: slot, worker: worker, now: now, actions: &actions)
        try apply(actions)
    }

    mutating func warmEveryWorker() throws {
        try completeSpawns()
        for worker in greeting.keys.sorted() { try greet(worker) }
    }

    /// The worker answers the first task in its socket, which must be the machine's running task.
    mutating func answerHead(of worker: UInt64) throws {
        guard let slot = alive[worker], var tasks = inbox[worker], !tasks.isEmpty else { return }
        let head = tasks.removeFirst()
        inbox[worker] = tasks
        let before = ledger.answers(head.job)
        var actions = TestMachine.Actions()
        machine.answered(slot: slot, worker: worker, result: .success(.integer(Int64(head.job))), now: now, actions: &actions)
        try apply(actions)
        // A task whose deadline passed was answered then; otherwise this reply is this task's.
        if before == 0, ledger.answers(head.job) != 1 {
            throw InvariantBroken(description: "worker \(worker)'s reply did not answer job \(head.job), the first task sent to it")
        }
    }

    mutating func kill(_ worker: UInt64) throws {
        let slot = alive.removeValue(forKey: worker) ?? greeting.removeValue(forKey: worker)
        guard let slot else { return }
        inbox[worker] = nil
        var actions = TestMachine.Actions()
        machine.lost(slot: slot, worker: worker, now: now, actions: &actions)
        try apply(actions)
    }

    /// The worker sends a line that breaks the protocol (a user's program): it is stopped and replaced.
    mutating func misbehave(_ worker: UInt64) throws {
        let slot = alive.removeValue(forKey: worker) ?? greeting.removeValue(forKey: worker)
        guard let slot else { return }
        inbox[worker] = nil
        var actions = TestMachine.Actions()
        machine.misbehaved(slot: slot, worker: worker, reason: "it sent a line that is not JSON", now: now, actions: &actions)
        try apply(actions)
    }

    mutating func failLastSend(of worker: UInt64) throws {
        guard let slot = alive[worker], var tasks = inbox[worker], let last = tasks.popLast() else { return }
        inbox[worker] = tasks
        // It never reached the worker, so it does not count towards the worker's task limit.
        sendsPerWorker[worker]! -= 1
        var actions = TestMachine.Actions()
        machine.sendFailed(slot: slot, worker: worker, sequence: last.sequence, now: now, actions: &actions)
        try apply(actions)
    }

    mutating func reapAll() throws {
        while !stopping.isEmpty { try reap(0) }
    }

    mutating func reap(_ position: Int, outOfMemory: Bool = false) throws {
        let stop = stopping.remove(at: position)
        var actions = TestMachine.Actions()
        machine.reaped(slot: stop.slot, worker: stop.worker, exit: "exited with status 0", outOfMemory: outOfMemory, now: now, actions: &actions)
        try apply(actions)
    }

    mutating func fireDeadlines() throws {
        while !deadlines.isEmpty { try fireDeadline(0) }
    }

    mutating func fireDeadline(_ position: Int) throws {
        let (slot, sequence) = deadlines.remove(at: position)
        var actions = TestMachine.Actions()
        machine.deadlinePassed(slot: slot, sequence: sequence, now: now, actions: &actions)
        try apply(actions)
    }

    mutating func fireGreetingTimeouts() throws {
        while !greetingTimers.isEmpty {
            let (slot, worker) = greetingTimers.removeFirst()
            var actions = TestMachine.Actions()
            machine.greetingTimedOut(slot: slot, worker: worker, actions: &actions)
            try apply(actions)
        }
    }

    mutating func fireRespawns() throws {
        while !respawns.isEmpty {
            let slot = respawns.removeFirst()
            var actions = TestMachine.Actions()
            machine.respawnDue(slot: slot, actions: &actions)
            try apply(actions)
        }
    }

    mutating func resize(to size: Int) {
        target = size
        var actions = TestMachine.Actions()
        let add = machine.resize(size: size, queueLimit: 64, now: now, actions: &actions)
        machine.grow(by: add, warm: nil, actions: &actions)
        try! apply(actions)
    }

    mutating func close() throws {
        var actions = TestMachine.Actions()
        machine.close(now: now, actions: &actions)
        try apply(actions)
    }

    mutating func advance(milliseconds: Int64, microseconds: Int64 = 0) {
        now = now + .milliseconds(milliseconds) + .microseconds(microseconds)
    }

    /// Lets every worker answer, every spawn succeed and every stopped worker be reaped until
    /// nothing is left to happen (timers other than respawns do not fire).
    mutating func runUntilQuiet() throws {
        for _ in 0..<10_000 {
            if !pendingSpawns.isEmpty || !greeting.isEmpty {
                try warmEveryWorker()
            } else if let worker = inbox.first(where: { !$0.value.isEmpty })?.key {
                try answerHead(of: worker)
            } else if !stopping.isEmpty {
                try reapAll()
            } else if !respawns.isEmpty {
                try fireRespawns()
            } else {
                return
            }
        }
        throw InvariantBroken(description: "the world never went quiet")
    }

    mutating func shutDownAndDrain() throws {
        try close()
        try runUntilQuiet()
    }

    /// One random event.
    mutating func step() throws {
        advance(milliseconds: Int64(rng.next(below: 20)))
        switch rng.next(below: 100) {
        case 0..<30:
            let tasks: [SimTask] = [.short, .short, .long, .get, .call("f")]
            let task = tasks[Int(rng.next(below: UInt64(tasks.count)))]
            let timeout: Int64? = rng.next(below: 4) == 0 ? Int64(rng.next(below: 100)) : nil
            do {
                try submit(task, timeoutMilliseconds: timeout)
            } catch is WireError {
                // Refused (queue full): the invariants below check it is never answered.
            }
        case 30..<38:
            if let index = pick(pendingSpawns.count) {
                let (slot, worker) = pendingSpawns.remove(at: index)
                if rng.next(below: 10) == 0 {
                    var actions = TestMachine.Actions()
                    machine.spawnFailed(slot: slot, error: "posix_spawn failed", actions: &actions)
                    try apply(actions)
                } else {
                    try spawned(slot, worker)
                }
            }
        case 38..<46:
            if let worker = greeting.keys.sorted().randomElement(using: &rng) { try greet(worker) }
        case 46..<72:
            if let worker = inbox.filter({ !$0.value.isEmpty }).keys.sorted().randomElement(using: &rng) { try answerHead(of: worker) }
        case 72..<75:
            if let worker = (Array(alive.keys) + Array(greeting.keys)).sorted().randomElement(using: &rng) { try kill(worker) }
        case 75:
            if let worker = (Array(alive.keys) + Array(greeting.keys)).sorted().randomElement(using: &rng) { try misbehave(worker) }
        case 76..<79:
            if let worker = alive.keys.sorted().randomElement(using: &rng) { try failLastSend(of: worker) }
        case 79..<85:
            if let index = pick(deadlines.count) { try fireDeadline(index) }
        case 85..<92:
            if let index = pick(stopping.count) { try reap(index) }
        case 92..<95:
            if let index = pick(respawns.count) {
                let slot = respawns.remove(at: index)
                var actions = TestMachine.Actions()
                machine.respawnDue(slot: slot, actions: &actions)
                try apply(actions)
            }
        case 95..<97:
            if let index = pick(greetingTimers.count) {
                let (slot, worker) = greetingTimers.remove(at: index)
                var actions = TestMachine.Actions()
                machine.greetingTimedOut(slot: slot, worker: worker, actions: &actions)
                try apply(actions)
            }
        case 97:
            resize(to: 1 + Int(rng.next(below: 4)))
        case 98:
            // A fleet job's attempt taken away: any accepted job, answered or not.
            if let id = accepted.sorted().randomElement(using: &rng) { try stop(tag: id) }
        default:
            // An exit check of a random worker: it only ever reports, never decides.
            if let live = alive.sorted(by: { $0.key < $1.key }).randomElement(using: &rng) {
                _ = machine.exitCheckDue(slot: live.value, worker: live.key)
            }
        }
        try check()
    }

    private mutating func pick(_ count: Int) -> Int? {
        count == 0 ? nil : Int(rng.next(below: UInt64(count)))
    }

    // MARK: Carrying out actions, checking invariants

    mutating func apply(_ actions: TestMachine.Actions) throws {
        for send in actions.sends {
            guard send.connection.worker == send.worker else {
                throw InvariantBroken(description: "a send for worker \(send.worker) carried another's connection")
            }
            let expected = (lastTicket[send.worker] ?? 0) + 1
            guard send.ticket == expected else {
                throw InvariantBroken(description: "worker \(send.worker) got ticket \(send.ticket), expected \(expected)")
            }
            lastTicket[send.worker] = send.ticket
            sendsPerWorker[send.worker, default: 0] += 1
            if let limit = taskLimit, UInt64(sendsPerWorker[send.worker]!) > limit {
                throw InvariantBroken(description: "worker \(send.worker) was sent more than its limit of \(limit) tasks")
            }
            guard alive[send.worker] == send.slot else {
                throw InvariantBroken(description: "a task was sent to worker \(send.worker), which is not a live worker of slot \(send.slot)")
            }
            inbox[send.worker, default: []].append(SimulatedSend(job: jobID(send.workload), slot: send.slot, sequence: send.sequence))
        }
        for (job, outcome) in actions.completions { job.complete(outcome) }
        for (slot, worker) in actions.spawns {
            guard seenWorkers.insert(worker).inserted else {
                throw InvariantBroken(description: "worker id \(worker) was handed out twice")
            }
            pendingSpawns.append((slot, worker))
        }
        slotsMade = max(slotsMade, (actions.spawns.map(\.slot).max() ?? -1) + 1)
        for stop in actions.stops {
            alive[stop.worker] = nil
            greeting[stop.worker] = nil
            inbox[stop.worker] = nil
            stopping.append(stop)
        }
        for timer in actions.timers {
            switch timer {
            case .deadline(let slot, let sequence, _, _): deadlines.append((slot, sequence))
            case .cancelDeadline(let sequence, _): deadlines.removeAll { $0.sequence == sequence }
            case .greeting(let slot, let worker, _): greetingTimers.append((slot, worker))
            case .respawn(let slot): respawns.append(slot)
            case .exitCheck: break
            }
        }
        notices.append(contentsOf: actions.notices)
        slotsLeft += actions.slotsLeft
    }

    /// The job's id, which every workload of these tests carries (see `SimTask`).
    private func jobID(_ workload: Workload) -> Int {
        switch workload {
        case .cpu(let n): return Int(n)
        case .sleep(let milliseconds): return Int(milliseconds) - SimTask.longBase
        case .io(let url), .async(let url): return Int(url.split(separator: "/").last!)!
        case .call(_, let arguments): return Int(arguments.text)!
        case .noop, .exec: preconditionFailure("these tests give every job an id")
        }
    }

    func check() throws {
        let twice = ledger.twiceAnswered()
        if !twice.isEmpty { throw InvariantBroken(description: "jobs answered twice: \(twice)") }
        if let wrong = refused.first(where: { ledger.answers($0) > 0 }) {
            throw InvariantBroken(description: "refused job \(wrong) was answered")
        }
        let open = accepted.count - accepted.count { ledger.answers($0) > 0 }
        if open != machine.jobsHeld {
            throw InvariantBroken(description: "\(open) accepted jobs are unanswered but the machine holds \(machine.jobsHeld)")
        }
        let snapshot = machine.snapshot()
        if !machine.closed && snapshot.size != target {
            throw InvariantBroken(description: "the pool has \(snapshot.size) slots, not the \(target) it was sized to")
        }
        let names = snapshot.workers?.map(\.name) ?? []
        if Set(names).count != names.count { throw InvariantBroken(description: "a slot appears twice: \(names)") }
        let busy = snapshot.workers?.filter(\.busy).count ?? 0
        if busy > alive.count { throw InvariantBroken(description: "\(busy) busy slots but \(alive.count) live workers") }
    }
}

/// A small, seeded generator, so that a failing sequence can be replayed from its seed.
struct SplitMix64: RandomNumberGenerator {
    private var state: UInt64

    init(seed: UInt64) {
        state = seed &+ 0x9E37_79B9_7F4A_7C15
    }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    mutating func next(below bound: UInt64) -> UInt64 {
        next() % bound
    }
}
