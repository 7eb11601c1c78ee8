/// What one host of the fleet decides about the jobs it takes from the queue: when to claim and how
/// many, which completions to send in which batch, which leases to renew, and which local tasks to
/// abandon because their attempt is no longer theirs. A value type: events in, actions out; the
/// ``FleetService`` holds it under a lock, carries out the actions (queries, runs) and feeds their
/// results back. Tests drive it without a database.
///
/// Invariants (checked by FleetHostMachineTests after every step of random event sequences):
/// - one claim, one completion batch and one renewal at most are in flight at a time;
/// - a job is reported complete at most once per attempt, and never after it was abandoned;
/// - a job whose lease may have lapsed (no renewal confirmed within the lease) is abandoned, so
///   this host stops reporting on an attempt that another host may now be running.
package struct FleetHostMachine: Sendable {
    /// How many jobs of one pool to claim.
    package struct Demand: Sendable, Equatable {
        package var pool: String
        package var count: Int

        package init(pool: String, count: Int) {
            self.pool = pool
            self.count = count
        }
    }

    /// One attempt at a job whose lease this host holds.
    package struct Lease: Sendable, Equatable, Hashable {
        package var id: Int64
        package var attempt: Int

        package init(id: Int64, attempt: Int) {
            self.id = id
            self.attempt = attempt
        }
    }

    /// What the service does next.
    package enum Action: Sendable, Equatable {
        /// Claim up to these counts (one statement).
        case claim([Demand])
        /// Run these claimed jobs in the local pools.
        case run([JobStore.ClaimedJob])
        /// Record these outcomes (one statement).
        case complete([JobStore.Completion])
        /// Extend these leases (one statement).
        case renew([Lease])
        /// Stop these local tasks if they still run, and drop these finished ones' unsent outcomes:
        /// their attempts are no longer this host's.
        case abandon([Lease], dropped: [Lease] = [])
    }

    private enum Phase: Sendable, Equatable {
        /// Running in a local pool.
        case running
        /// Finished; its outcome waits for the next completion batch.
        case reported(JobStore.Completion)
        /// Its outcome is in the completion batch in flight.
        case completing(JobStore.Completion)

        var isCompleting: Bool {
            if case .completing = self { return true }
            return false
        }
    }

    /// One held attempt (its job and attempt are its key).
    private struct Entry: Sendable {
        var pool: String
        var phase: Phase
        /// Until when the lease is known to hold: when the claim or last confirmed renewal was sent, plus the lease.
        var validUntil: Double
    }

    /// The most jobs one claim asks for per pool, and one completion batch carries.
    package let claimBatch: Int
    package let completionBatch: Int
    /// The lease, in seconds.
    package let leaseSeconds: Double

    /// Keyed by attempt, not by job: a job rescued from this host may come back to it as a new
    /// attempt while the old one still runs here.
    private var entries: [Lease: Entry] = [:]
    /// How many entries of each pool are running: asked after every finished task, so counted as
    /// entries change rather than by a pass over them.
    private var runningCount: [String: Int] = [:]
    private var pending: [Lease] = []
    private var claimInFlight = false
    /// Sent with the claim in flight, to know whether the queue may hold more.
    private var claimAsked: [String: Int] = [:]
    private var claimSentAt = 0.0
    /// Tasks of each pool that finished while the claim in flight was out.
    private var finishedDuringClaim: [String: Int] = [:]
    /// Pools whose last claim came back short: the queue holds nothing ready for them until a
    /// notification or a poll says it may. Kept per pool, so that a claim for pools with nothing
    /// queued does not stop the claims of a pool whose work waits for room.
    private var drained: Set<String> = []
    /// The pools the caller has measured room for: all drained means there is nothing to claim.
    private var pools: Set<String> = []
    private var completing: [Lease]?
    private var renewing: (leases: [Lease], sentAt: Double)?
    private var stopping = false

    /// Counters, since start. A claim given back (``JobStore/Completion/Outcome/release``) is not counted.
    package private(set) var claimed = 0
    package private(set) var completed = 0
    /// Completions the database refused: the attempt was no longer this host's.
    package private(set) var fenced = 0
    /// Local tasks this host stopped or whose outcome it dropped.
    package private(set) var abandoned = 0

    package init(claimBatch: Int, completionBatch: Int = 500, leaseSeconds: Double) {
        precondition(claimBatch > 0 && completionBatch > 0 && leaseSeconds > 0)
        self.claimBatch = claimBatch
        self.completionBatch = completionBatch
        self.leaseSeconds = leaseSeconds
    }

    /// Jobs whose lease this host holds (running or waiting to be recorded).
    package var held: Int { entries.count }
    /// Jobs running in local pools.
    package var running: Int { runningCount.values.reduce(0, +) }
    /// Jobs running in each local pool, by this machine's count (a pool's own count may lag).
    package var runningByPool: [String: Int] { runningCount.filter { $0.value > 0 } }
    /// How many more jobs than its room each pool should claim: twice as many as it finished while
    /// the last claim was out (one round trip for the claim in flight, one for the next), at most a
    /// claim batch. A pool whose tasks are quick next to a claim's round trip would otherwise sit
    /// idle for most of each one (eight threads of no-ops: 1 100 jobs/s without, 5 500 with); a pool
    /// of slow tasks finishes few in that time and claims little or nothing ahead, so no host holds
    /// work it cannot soon start.
    package private(set) var ahead: [String: Int] = [:]
    /// Whether nothing is held and nothing is in flight: a stopping host may go.
    package var isIdle: Bool { entries.isEmpty && !claimInFlight && completing == nil }
    /// Whether a claim could go out now if there were room (so the caller need not measure the room).
    package var mayClaim: Bool { !stopping && !claimInFlight && (pools.isEmpty || !pools.isSubset(of: drained)) }

    // MARK: Claiming

    /// Jobs may be waiting (a notification, a poll): claim if there is room.
    package mutating func jobsMayWait(free: [String: Int], now: Double) -> Action? {
        drained = []
        return claimIfRoom(free: free, now: now)
    }

    /// Room may have opened (a task finished): claim if jobs may wait.
    package mutating func claimIfRoom(free: [String: Int], now: Double) -> Action? {
        pools.formUnion(free.keys)
        guard mayClaim else { return nil }
        let demand = free.filter { $0.value > 0 && !drained.contains($0.key) }.sorted { $0.key < $1.key }.map {
            Demand(pool: $0.key, count: min($0.value, claimBatch))
        }
        guard !demand.isEmpty else { return nil }
        claimInFlight = true
        claimAsked = Dictionary(demand.map { ($0.pool, $0.count) }, uniquingKeysWith: +)
        claimSentAt = now
        return .claim(demand)
    }

    /// The claim in flight came back with `jobs`.
    /// A claim that came back later than half the lease is given back at once (the attempt not
    /// counted): the lease it holds may lapse before this host could renew it.
    package mutating func claimSucceeded(_ jobs: [JobStore.ClaimedJob], now: Double) -> [Action] {
        precondition(claimInFlight, "a claim result without a claim in flight")
        claimInFlight = false
        ahead = finishedDuringClaim.mapValues { min(2 * $0, claimBatch) }
        finishedDuringClaim = [:]
        // The queue may hold more for a pool whose claim came back full; a pool that came back short
        // is drained for now (a notification or a poll says when it is not).
        var got: [String: Int] = [:]
        for job in jobs { got[job.pool, default: 0] += 1 }
        for (pool, asked) in claimAsked where got[pool, default: 0] < asked { drained.insert(pool) }
        claimed += jobs.count
        guard !jobs.isEmpty else { return [] }
        if stopping || now - claimSentAt > leaseSeconds / 2 {
            // Claimed while stopping, or too late to be sure of the lease: given back at once.
            for job in jobs {
                let release = JobStore.Completion(id: job.id, attempt: job.attempt, outcome: .release, reply: nil, error: nil)
                let lease = Lease(id: job.id, attempt: job.attempt)
                entries[lease] = Entry(pool: job.pool, phase: .reported(release), validUntil: claimSentAt + leaseSeconds)
                pending.append(lease)
            }
            return sendCompletions().map { [$0] } ?? []
        }
        // Older attempts of these jobs are no longer this host's: the queue gave the jobs out again.
        let claimedIDs = Set(jobs.map(\.id))
        let superseded = entries.compactMap { lease, entry in
            claimedIDs.contains(lease.id) && !entry.phase.isCompleting ? lease : nil
        }
        let stop = abandon(superseded)
        for job in jobs {
            entries[Lease(id: job.id, attempt: job.attempt)] = Entry(pool: job.pool, phase: .running, validUntil: claimSentAt + leaseSeconds)
            runningCount[job.pool, default: 0] += 1
        }
        return (stop.map { [$0] } ?? []) + [.run(jobs)]
    }

    /// The claim in flight failed (the database is away): the next poll tries again.
    package mutating func claimFailed() {
        precondition(claimInFlight, "a claim failure without a claim in flight")
        claimInFlight = false
        finishedDuringClaim = [:]
        drained = []
    }

    // MARK: Finishing

    /// A local task finished with `completion` (its id and attempt as claimed).
    package mutating func finished(_ completion: JobStore.Completion) -> Action? {
        let lease = Lease(id: completion.id, attempt: completion.attempt)
        guard let entry = entries[lease], entry.phase == .running else {
            // Abandoned (cancelled, lease lost): its outcome is not this host's to report.
            return nil
        }
        entries[lease]?.phase = .reported(completion)
        runningCount[entry.pool, default: 0] -= 1
        pending.append(lease)
        if claimInFlight { finishedDuringClaim[entry.pool, default: 0] += 1 }
        return sendCompletions()
    }

    private mutating func sendCompletions() -> Action? {
        guard completing == nil, !pending.isEmpty else { return nil }
        let leases = Array(pending.prefix(completionBatch))
        pending.removeFirst(leases.count)
        var batch: [JobStore.Completion] = []
        batch.reserveCapacity(leases.count)
        for lease in leases {
            guard case .reported(let completion) = entries[lease]?.phase else { preconditionFailure("pending \(lease) not reported") }
            batch.append(completion)
            entries[lease]?.phase = .completing(completion)
        }
        completing = leases
        return .complete(batch)
    }

    /// The completion batch in flight was stored; `recorded` holds the ids the database took (the
    /// others were fenced: their attempt was no longer this host's).
    package mutating func completionSucceeded(recorded: Set<Int64>) -> Action? {
        guard let leases = completing else { preconditionFailure("a completion result without a batch in flight") }
        completing = nil
        for lease in leases {
            guard case .completing(let completion) = entries.removeValue(forKey: lease)?.phase else {
                preconditionFailure("\(lease) of the batch not completing")
            }
            if !recorded.contains(lease.id) {
                fenced += 1
            } else if completion.outcome == .release {
                // Given back: the queue does not count the attempt, and neither does this host.
                claimed -= 1
            } else {
                completed += 1
            }
        }
        return sendCompletions()
    }

    /// The completion batch in flight failed (the database is away): it goes first in the next batch.
    package mutating func completionFailed() {
        guard let leases = completing else { preconditionFailure("a completion failure without a batch in flight") }
        completing = nil
        for lease in leases {
            guard case .completing(let completion) = entries[lease]?.phase else { preconditionFailure("\(lease) of the batch not completing") }
            entries[lease]?.phase = .reported(completion)
        }
        pending.insert(contentsOf: leases, at: 0)
    }

    /// Retries completions that failed, if none is in flight.
    package mutating func retryCompletions() -> Action? {
        sendCompletions()
    }

    // MARK: Leases

    /// Time to renew: every lease this host holds, in one statement.
    package mutating func renewDue(now: Double) -> Action? {
        guard renewing == nil else { return nil }
        let leases = entries.keys.sorted { ($0.id, $0.attempt) < ($1.id, $1.attempt) }
        guard !leases.isEmpty else { return nil }
        renewing = (leases, now)
        return .renew(leases)
    }

    /// The renewal in flight came back: `held` are the ids whose lease was extended. The others are
    /// no longer this host's (cancelled, or taken back after the lease lapsed): their local tasks are
    /// abandoned and their outcomes dropped.
    package mutating func renewSucceeded(held: Set<Int64>) -> Action? {
        guard let (leases, sentAt) = renewing else { preconditionFailure("a renewal result without one in flight") }
        renewing = nil
        var lost: [Lease] = []
        for lease in leases {
            guard let entry = entries[lease] else { continue }
            if held.contains(lease.id) {
                entries[lease]?.validUntil = max(entry.validUntil, sentAt + leaseSeconds)
            } else if !entry.phase.isCompleting {
                // A batch in flight may have finished it since the renewal read it; that batch says.
                lost.append(lease)
            }
        }
        return abandon(lost)
    }

    /// The renewal in flight failed: leases keep what they had; ``tick(now:)`` abandons those that lapse.
    package mutating func renewFailed() {
        precondition(renewing != nil, "a renewal failure without one in flight")
        renewing = nil
    }

    /// The queue cancelled job `id` while this host ran it.
    package mutating func cancelled(_ id: Int64) -> Action? {
        return abandon(entries.filter { $0.key.id == id && !$0.value.phase.isCompleting }.map(\.key))
    }

    /// The clock moved: abandons every job whose lease may have lapsed without a confirmed renewal,
    /// because another host may be running its next attempt by now.
    package mutating func tick(now: Double) -> Action? {
        let lapsed = entries.filter { $0.value.validUntil <= now && !$0.value.phase.isCompleting }.map(\.key)
        return abandon(lapsed)
    }

    private mutating func abandon(_ leases: [Lease]) -> Action? {
        guard !leases.isEmpty else { return nil }
        var stopped: [Lease] = []
        var dropped: [Lease] = []
        for lease in leases.sorted(by: { ($0.id, $0.attempt) < ($1.id, $1.attempt) }) {
            guard let entry = entries.removeValue(forKey: lease) else { continue }
            abandoned += 1
            switch entry.phase {
            case .running:
                stopped.append(lease)
                runningCount[entry.pool, default: 0] -= 1
            case .reported:
                pending.removeAll { $0 == lease }
                dropped.append(lease)
            case .completing: preconditionFailure("\(lease) abandoned while its completion is in flight")
            }
        }
        return stopped.isEmpty && dropped.isEmpty ? nil : .abandon(stopped, dropped: dropped)
    }

    // MARK: Stopping

    /// The host stops: no more claims; what runs finishes and is recorded.
    package mutating func stop() {
        stopping = true
    }
}
