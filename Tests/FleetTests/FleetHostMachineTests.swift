import ConcFleet
import Testing

@Suite("FleetHostMachine: one host's claims, completions and leases, without a database")
struct FleetHostMachineTests {
    typealias Machine = FleetHostMachine

    static func job(_ id: Int64, attempt: Int = 1, pool: String = "process") -> JobStore.ClaimedJob {
        JobStore.ClaimedJob(id: id, attempt: attempt, pool: pool, request: "{}")
    }

    static func ok(_ id: Int64, attempt: Int = 1) -> JobStore.Completion {
        JobStore.Completion(id: id, attempt: attempt, outcome: .succeeded, reply: "{}", error: nil)
    }

    @Test("claims what the pools have room for, capped by the batch, one claim at a time")
    func claimsRoom() {
        var machine = Machine(claimBatch: 2, leaseSeconds: 10)
        #expect(machine.jobsMayWait(free: ["process": 5, "thread": 0, "async": 1], now: 0) == .claim([
            .init(pool: "async", count: 1), .init(pool: "process", count: 2),
        ]))
        // A second wake while the claim is in flight waits for it.
        #expect(machine.jobsMayWait(free: ["process": 5], now: 0) == nil)
        #expect(machine.claimSucceeded([Self.job(1), Self.job(2), Self.job(3)], now: 0) == [.run([Self.job(1), Self.job(2), Self.job(3)])])
        #expect(machine.running == 3)
        // A full claim means more may wait: room that opens is claimed.
        #expect(machine.claimIfRoom(free: ["process": 1], now: 1) == .claim([.init(pool: "process", count: 1)]))
        #expect(machine.claimSucceeded([], now: 0) == [])
        // A short claim means the queue is drained for us: no claim until a notification.
        #expect(machine.claimIfRoom(free: ["process": 1], now: 1) == nil)
        #expect(machine.jobsMayWait(free: ["process": 0], now: 1) == nil)
    }

    @Test("a claim that comes back short stops claims for its own pools only")
    func drainedPerPool() {
        var machine = Machine(claimBatch: 4, leaseSeconds: 10)
        _ = machine.jobsMayWait(free: ["thread": 2, "async": 4], now: 0)
        _ = machine.claimSucceeded([Self.job(1, pool: "thread"), Self.job(2, pool: "thread")], now: 0)
        // The thread pool's claim came back full, the async pool's empty; the thread pool has no
        // room now, so the next claim would ask the async pool alone, which is drained: none goes.
        #expect(machine.claimIfRoom(free: ["thread": 0, "async": 4], now: 0) == nil)
        #expect(machine.mayClaim)
        // Room opens in the thread pool: its work still waits, so it claims again.
        _ = machine.finished(Self.ok(1))
        #expect(machine.claimIfRoom(free: ["thread": 1, "async": 4], now: 0) == .claim([.init(pool: "thread", count: 1)]))
        _ = machine.claimSucceeded([], now: 0)
        // Every pool drained: nothing to claim until a notification or a poll.
        #expect(!machine.mayClaim)
        #expect(machine.jobsMayWait(free: ["thread": 1, "async": 4], now: 1) == .claim([
            .init(pool: "async", count: 4), .init(pool: "thread", count: 1),
        ]))
    }

    @Test("a pool claims ahead twice as many jobs as it finished while the last claim was out, at most a batch")
    func claimsAhead() {
        var machine = Machine(claimBatch: 10, leaseSeconds: 10)
        _ = machine.jobsMayWait(free: ["process": 3], now: 0)
        _ = machine.claimSucceeded([Self.job(1), Self.job(2), Self.job(3)], now: 0)
        #expect(machine.ahead.isEmpty)
        // Two finish while the next claim is out: the claim after it asks for four more than the room.
        _ = machine.finished(Self.ok(1))
        #expect(machine.claimIfRoom(free: ["process": 1], now: 1) == .claim([.init(pool: "process", count: 1)]))
        _ = machine.finished(Self.ok(2))
        _ = machine.finished(Self.ok(3))
        _ = machine.claimSucceeded([Self.job(4)], now: 1)
        #expect(machine.ahead == ["process": 4])
        // Nothing finished during a claim: nothing ahead; a failed claim forgets what it counted.
        _ = machine.jobsMayWait(free: ["process": 1], now: 2)
        _ = machine.claimSucceeded([], now: 2)
        #expect(machine.ahead == [:])
        _ = machine.jobsMayWait(free: ["process": 1], now: 3)
        _ = machine.finished(Self.ok(4))
        machine.claimFailed()
        _ = machine.jobsMayWait(free: ["process": 1], now: 4)
        _ = machine.claimSucceeded([], now: 4)
        #expect(machine.ahead == [:])
        // Capped at a claim batch.
        var quick = Machine(claimBatch: 3, leaseSeconds: 10)
        _ = quick.jobsMayWait(free: ["thread": 2], now: 0)
        _ = quick.claimSucceeded((1...3).map { Self.job($0, pool: "thread") }, now: 0)
        _ = quick.jobsMayWait(free: ["thread": 2], now: 0)
        for id in Int64(1)...3 { _ = quick.finished(Self.ok(id)) }
        _ = quick.claimSucceeded([], now: 0)
        #expect(quick.ahead == ["thread": 3])
    }

    @Test("completions go in batches, one in flight; the rest wait for it")
    func completionBatches() {
        var machine = Machine(claimBatch: 10, completionBatch: 2, leaseSeconds: 10)
        _ = machine.jobsMayWait(free: ["process": 4], now: 0)
        _ = machine.claimSucceeded((1...4).map { Self.job($0) }, now: 0)
        #expect(machine.finished(Self.ok(1)) == .complete([Self.ok(1)]))
        #expect(machine.finished(Self.ok(2)) == nil)
        #expect(machine.finished(Self.ok(3)) == nil)
        #expect(machine.finished(Self.ok(4)) == nil)
        #expect(machine.completionSucceeded(recorded: [1]) == .complete([Self.ok(2), Self.ok(3)]))
        // Job 3 was fenced: its attempt was no longer ours.
        #expect(machine.completionSucceeded(recorded: [2]) == .complete([Self.ok(4)]))
        machine.completionFailed()
        #expect(machine.retryCompletions() == .complete([Self.ok(4)]))
        #expect(machine.completionSucceeded(recorded: [4]) == nil)
        #expect(machine.completed == 3 && machine.fenced == 1 && machine.isIdle)
    }

    @Test("a lease not confirmed within its time is abandoned, and its outcome dropped")
    func lapsedLease() {
        var machine = Machine(claimBatch: 10, leaseSeconds: 3)
        _ = machine.jobsMayWait(free: ["process": 2], now: 0)
        _ = machine.claimSucceeded([Self.job(1), Self.job(2)], now: 0)
        #expect(machine.renewDue(now: 1) == .renew([.init(id: 1, attempt: 1), .init(id: 2, attempt: 1)]))
        machine.renewFailed()
        #expect(machine.tick(now: 2.9) == nil)
        #expect(machine.tick(now: 3) == .abandon([.init(id: 1, attempt: 1), .init(id: 2, attempt: 1)]))
        #expect(machine.finished(Self.ok(1)) == nil)
        #expect(machine.isIdle && machine.abandoned == 2)
    }

    @Test("a renewal that does not hold a lease abandons that job; one that does extends it")
    func renewal() {
        var machine = Machine(claimBatch: 10, leaseSeconds: 3)
        _ = machine.jobsMayWait(free: ["process": 2], now: 0)
        _ = machine.claimSucceeded([Self.job(1), Self.job(2)], now: 0)
        _ = machine.renewDue(now: 2)
        #expect(machine.renewSucceeded(held: [1]) == .abandon([.init(id: 2, attempt: 1)]))
        #expect(machine.tick(now: 4.9) == nil)
        #expect(machine.tick(now: 5) == .abandon([.init(id: 1, attempt: 1)]))
    }

    @Test("a cancel stops the local task, unless its completion is already in flight")
    func cancel() {
        var machine = Machine(claimBatch: 10, leaseSeconds: 10)
        _ = machine.jobsMayWait(free: ["process": 2], now: 0)
        _ = machine.claimSucceeded([Self.job(1), Self.job(2)], now: 0)
        #expect(machine.finished(Self.ok(1)) == .complete([Self.ok(1)]))
        #expect(machine.cancelled(1) == nil)
        #expect(machine.cancelled(2) == .abandon([.init(id: 2, attempt: 1)]))
        #expect(machine.cancelled(3) == nil)
    }

    @Test("a stopping host claims nothing more and gives back what a late claim brought")
    func stopping() {
        var machine = Machine(claimBatch: 10, leaseSeconds: 10)
        _ = machine.jobsMayWait(free: ["process": 2], now: 0)
        machine.stop()
        let release = JobStore.Completion(id: 1, attempt: 1, outcome: .release, reply: nil, error: nil)
        #expect(machine.claimSucceeded([Self.job(1)], now: 0) == [.complete([release])])
        #expect(machine.jobsMayWait(free: ["process": 2], now: 0) == nil)
        _ = machine.completionSucceeded(recorded: [1])
        #expect(machine.isIdle)
        #expect(machine.claimed == 0 && machine.completed == 0, "a claim given back counts as neither claimed nor completed")
    }

    /// A database of one table, as the fleet's statements change it: fenced by attempt.
    struct FakeQueue {
        enum State: Equatable { case queued, running(attempt: Int, until: Double), done(attempt: Int) }
        var jobs: [Int64: State] = [:]
        var attempts: [Int64: Int] = [:]
        var successes: [Int64: Int] = [:]

        mutating func claim(_ count: Int, now: Double, lease: Double) -> [JobStore.ClaimedJob] {
            let ids = jobs.filter { $0.value == .queued }.map(\.key).sorted().prefix(count)
            return ids.map { id in
                attempts[id, default: 0] += 1
                jobs[id] = .running(attempt: attempts[id]!, until: now + lease)
                return JobStore.ClaimedJob(id: id, attempt: attempts[id]!, pool: "process", request: "{}")
            }
        }

        mutating func complete(_ batch: [JobStore.Completion]) -> Set<Int64> {
            var recorded: Set<Int64> = []
            for completion in batch {
                guard case .running(let attempt, _) = jobs[completion.id], attempt == completion.attempt else { continue }
                recorded.insert(completion.id)
                if completion.outcome == .release {
                    jobs[completion.id] = .queued
                    attempts[completion.id, default: 1] -= 1
                    continue
                }
                jobs[completion.id] = .done(attempt: attempt)
                successes[completion.id, default: 0] += 1
            }
            return recorded
        }

        mutating func renew(_ leases: [Machine.Lease], now: Double, lease: Double) -> Set<Int64> {
            var held: Set<Int64> = []
            for item in leases {
                guard case .running(let attempt, _) = jobs[item.id], attempt == item.attempt else { continue }
                jobs[item.id] = .running(attempt: attempt, until: now + lease)
                held.insert(item.id)
            }
            return held
        }

        /// Another host's rescuer: expired leases go back to the queue.
        mutating func rescue(now: Double) {
            for (id, state) in jobs {
                if case .running(_, let until) = state, until <= now { jobs[id] = .queued }
            }
        }
    }

    @Test("random events: every job succeeds exactly once, nothing abandoned is reported, one statement of each kind in flight", arguments: 0..<40)
    func randomized(seed: Int) {
        var random = SplitMix(seed: UInt64(seed))
        let lease = 3.0
        var machine = Machine(claimBatch: 1 + Int(random.next() % 4), completionBatch: 1 + Int(random.next() % 3), leaseSeconds: lease)
        var queue = FakeQueue()
        for id in 1...30 { queue.jobs[Int64(id)] = .queued }
        var now = 0.0
        var claim: [Machine.Demand]?
        var completion: [JobStore.Completion]?
        var renewal: [Machine.Lease]?
        var runningHere: [JobStore.ClaimedJob] = []
        var abandoned: Set<Machine.Lease> = []
        let capacity = 3

        func carry(_ action: Machine.Action?) {
            guard let action else { return }
            switch action {
            case .claim(let demand):
                #expect(claim == nil, "two claims in flight")
                claim = demand
            case .run(let jobs):
                runningHere += jobs
            case .complete(let batch):
                #expect(completion == nil, "two completion batches in flight")
                for item in batch where item.outcome == .succeeded {
                    #expect(!abandoned.contains(.init(id: item.id, attempt: item.attempt)), "an abandoned attempt was reported")
                }
                completion = batch
            case .renew(let leases):
                #expect(renewal == nil, "two renewals in flight")
                renewal = leases
            case .abandon(let leases, _):
                for lease in leases {
                    abandoned.insert(lease)
                    runningHere.removeAll { $0.id == lease.id && $0.attempt == lease.attempt }
                }
            }
        }

        for step in 0..<3000 {
            let databaseUp = random.next() % 10 != 0
            switch random.next() % 8 {
            case 0:
                carry(machine.jobsMayWait(free: ["process": capacity - runningHere.count], now: now))
            case 1:
                if let demand = claim {
                    claim = nil
                    if databaseUp {
                        let jobs = queue.claim(demand.reduce(0) { $0 + $1.count }, now: now, lease: lease)
                        for action in machine.claimSucceeded(jobs, now: now) { carry(action) }
                    } else {
                        machine.claimFailed()
                    }
                }
            case 2:
                if !runningHere.isEmpty {
                    let job = runningHere.remove(at: Int(random.next() % UInt64(runningHere.count)))
                    carry(machine.finished(Self.ok(job.id, attempt: job.attempt)))
                    carry(machine.claimIfRoom(free: ["process": capacity - runningHere.count], now: now))
                }
            case 3:
                if let batch = completion {
                    completion = nil
                    if databaseUp {
                        carry(machine.completionSucceeded(recorded: queue.complete(batch)))
                    } else {
                        machine.completionFailed()
                    }
                }
            case 4:
                carry(machine.renewDue(now: now))
            case 5:
                if let leases = renewal {
                    renewal = nil
                    if databaseUp {
                        carry(machine.renewSucceeded(held: queue.renew(leases, now: now, lease: lease)))
                    } else {
                        machine.renewFailed()
                    }
                }
            case 6:
                now += Double(random.next() % 100) / 100
                queue.rescue(now: now)
                carry(machine.tick(now: now))
                carry(machine.retryCompletions())
            default:
                carry(machine.jobsMayWait(free: ["process": capacity - runningHere.count], now: now))
            }
            #expect(machine.running <= capacity + 0)
            // The machine's running count, kept as entries change, is the executor's own.
            #expect(machine.running == runningHere.count, "step \(step): running \(machine.running), the executor runs \(runningHere.count)")
        }
        // Drain: everything left runs to its end on a database that stays up.
        for _ in 0..<2000 {
            if let demand = claim {
                claim = nil
                for action in machine.claimSucceeded(queue.claim(demand.reduce(0) { $0 + $1.count }, now: now, lease: lease), now: now) {
                    carry(action)
                }
            }
            if let batch = completion {
                completion = nil
                carry(machine.completionSucceeded(recorded: queue.complete(batch)))
            }
            if let leases = renewal {
                renewal = nil
                carry(machine.renewSucceeded(held: queue.renew(leases, now: now, lease: lease)))
            }
            if let job = runningHere.first {
                runningHere.removeFirst()
                carry(machine.finished(Self.ok(job.id, attempt: job.attempt)))
            }
            now += 0.5
            queue.rescue(now: now)
            carry(machine.tick(now: now))
            carry(machine.renewDue(now: now))
            carry(machine.retryCompletions())
            carry(machine.jobsMayWait(free: ["process": capacity - runningHere.count], now: now))
        }
        #expect(queue.jobs.values.allSatisfy { if case .done = $0 { true } else { false } }, "jobs left unfinished: \(queue.jobs)")
        #expect(queue.successes.values.allSatisfy { $0 == 1 }, "a job succeeded twice")
        #expect(queue.successes.count == 30)
    }
}

/// A small deterministic generator, so a failing seed fails again.
struct SplitMix {
    var state: UInt64

    init(seed: UInt64) { state = seed &+ 0x9E37_79B9_7F4A_7C15 }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
