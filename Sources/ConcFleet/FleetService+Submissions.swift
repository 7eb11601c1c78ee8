import ConcProtocol
import Foundation
import Synchronization

/// Durable submissions made on this host: stored in batches (one insert in flight, every submission
/// that arrives meanwhile goes in the next), and waited for through the done channel, with a poll
/// each second for what a dropped listening connection may have missed.
extension FleetService {
    /// Submissions waiting for the insert in flight.
    struct InsertBatch: Sendable {
        var pending: [(job: JobStore.NewJob, stored: CheckedContinuation<Int64, any Error>)] = []
        var inFlight = false

        mutating func failAll(_ error: WireError) {
            for entry in pending { entry.stored.resume(throwing: error) }
            pending = []
        }
    }

    /// Callers waiting for jobs to finish, and jobs that finished before anyone here waited.
    struct Waiters: Sendable {
        var byID: [Int64: [CheckedContinuation<(state: JobState, reply: String?), any Error>]] = [:]
        var since: [Int64: Double] = [:]
        /// Finished jobs nobody here waited for yet (a durable submission's insert may answer after
        /// its job finished elsewhere), kept for ``recentSeconds``.
        var recentlyDone: [Int64: Double] = [:]

        static let recentSeconds = 10.0

        mutating func take(_ id: Int64) -> [CheckedContinuation<(state: JobState, reply: String?), any Error>] {
            since[id] = nil
            return byID.removeValue(forKey: id) ?? []
        }

        mutating func failAll() {
            for (id, continuations) in byID {
                for continuation in continuations {
                    continuation.resume(throwing: WireError(
                        .shuttingDown, "concd is shutting down; job \(id) is stored and runs on: concctl wait \(id)"
                    ))
                }
            }
            byID = [:]
            since = [:]
        }
    }

    /// How many submissions one insert carries at most.
    static let insertBatch = 1000

    /// Stores `job` and returns its id once the database has it.
    package func submit(_ job: JobStore.NewJob) async throws(WireError) -> Int64 {
        try checkReady()
        do {
            return try await withCheckedThrowingContinuation { stored in
                let flush = inserts.withLock { batch -> Bool in
                    batch.pending.append((job, stored))
                    guard !batch.inFlight else { return false }
                    batch.inFlight = true
                    return true
                }
                if flush { Task { await self.flushInserts() } }
            }
        } catch let error as WireError {
            throw error
        } catch {
            throw WireError(.internal, "\(error)")
        }
    }

    private func flushInserts() async {
        while true {
            let batch = inserts.withLock { batch in
                let next = Array(batch.pending.prefix(Self.insertBatch))
                batch.pending.removeFirst(next.count)
                if next.isEmpty { batch.inFlight = false }
                return next
            }
            guard !batch.isEmpty else { return }
            do {
                let ids = try await store.insert(batch.map(\.job))
                for (entry, id) in zip(batch, ids) { entry.stored.resume(returning: id) }
            } catch {
                let problem = FleetError.from(error, doing: "storing jobs")
                lost(problem, event: "queue_unavailable")
                let answer = WireError(
                    .queueUnavailable, "the queue's database did not confirm that the job was stored: \(problem.message)"
                )
                for entry in batch { entry.stored.resume(throwing: answer) }
            }
        }
    }

    /// Waits for job `id` to finish and returns its final state and reply. The job must be marked
    /// as waited for (stored with `waiting`, or through ``waitForJob(_:)``).
    func waitForResult(_ id: Int64) async throws(WireError) -> (state: JobState, reply: String?) {
        do {
            return try await withCheckedThrowingContinuation { continuation in
                let time = uptime
                let done = waiters.withLock { waiters -> Bool in
                    waiters.byID[id, default: []].append(continuation)
                    if waiters.since[id] == nil { waiters.since[id] = time }
                    return waiters.recentlyDone.removeValue(forKey: id) != nil
                }
                if done { Task { await self.resolve([id]) } }
            }
        } catch let error as WireError {
            throw error
        } catch {
            throw WireError(.internal, "\(error)")
        }
    }

    /// Waits for job `id`, stored by any host, to finish; nil when there is no such job.
    package func waitForJob(_ id: Int64) async throws(WireError) -> (state: JobState, reply: String?)? {
        try checkReady()
        let current: (state: JobState, reply: String?)?
        do {
            current = try await store.watch(id)
        } catch {
            throw answer(error, doing: "reading job \(id)")
        }
        guard let current else { return nil }
        if current.state.isFinal { return current }
        return try await waitForResult(id)
    }

    /// Stores `job` marked as waited for, and waits for its result.
    package func run(_ job: JobStore.NewJob) async throws(WireError) -> (id: Int64, state: JobState, reply: String?) {
        var job = job
        job.waiting = true
        let id = try await submit(job)
        do {
            let (state, reply) = try await waitForResult(id)
            return (id, state, reply)
        } catch {
            var error = error
            error.message += " (job \(id) is stored: concctl wait \(id))"
            throw error
        }
    }

    /// Jobs that someone waits for finished (the done channel's payload).
    func finishedElsewhere(_ ids: [Int64]) {
        let time = uptime
        let wanted = waiters.withLock { waiters in
            ids.filter { id in
                if waiters.byID[id] != nil { return true }
                waiters.recentlyDone[id] = time
                return false
            }
        }
        if !wanted.isEmpty { Task { await resolve(wanted) } }
    }

    /// Reads the results of `ids` and answers their waiters; those not finished keep waiting.
    func resolve(_ ids: [Int64]) async {
        let results: [Int64: (state: JobState, reply: String?)]
        do {
            results = try await store.results(ids)
        } catch {
            // The poll asks again.
            lost(FleetError.from(error, doing: "reading results"), event: "queue_unavailable")
            return
        }
        for (id, result) in results {
            for waiter in waiters.withLock({ $0.take(id) }) { waiter.resume(returning: (result.state, result.reply)) }
        }
    }

    /// The fallback for notifications lost with a listening connection: asks for every job waited
    /// for longer than `seconds`; also forgets old finished jobs nobody waited for.
    func recheckWaiters(olderThan seconds: Double) async {
        let time = uptime
        let ids = waiters.withLock { waiters in
            waiters.recentlyDone = waiters.recentlyDone.filter { time - $0.value < Waiters.recentSeconds }
            return waiters.since.filter { time - $0.value >= seconds }.map(\.key).sorted().prefix(10_000)
        }
        guard !ids.isEmpty, health.withLock({ $0.schemaReady }) else { return }
        await resolve(Array(ids))
    }

    // MARK: Reading and cancelling

    /// Job `id`, or nil.
    package func job(_ id: Int64) async throws(WireError) -> JobInfo? {
        try checkReady()
        do { return try await store.job(id) } catch { throw answer(error, doing: "reading job \(id)") }
    }

    /// Up to `limit` jobs, newest first.
    package func jobs(state: JobState?, limit: Int) async throws(WireError) -> [JobInfo] {
        try checkReady()
        do { return try await store.jobs(state: state, limit: limit) } catch { throw answer(error, doing: "listing jobs") }
    }

    /// Cancels job `id`; returns the state it was in and the job after, or nil when there is none.
    package func cancel(_ id: Int64) async throws(WireError) -> (was: JobState, job: JobInfo?)? {
        try checkReady()
        let reply = Reply(id: nil, ok: false, error: WireError(.cancelled, "job \(id) was cancelled"))
        do {
            guard let (was, _) = try await store.cancel(id, reply: String(decoding: ReplyCodec.encode(reply), as: UTF8.self)) else {
                return nil
            }
            return (was, try await store.job(id))
        } catch {
            throw answer(error, doing: "cancelling job \(id)")
        }
    }

    private func checkReady() throws(WireError) {
        let (ready, problem) = health.withLock { ($0.schemaReady && $0.connected, $0.problem) }
        guard ready else {
            throw WireError(.queueUnavailable, "the queue's database is not ready: \(problem ?? "connecting"); nothing was stored")
        }
    }

    private func answer(_ error: any Error, doing what: String) -> WireError {
        let problem = FleetError.from(error, doing: what)
        switch problem.code {
        case .unreachable, .authentication, .newerSchema:
            lost(problem, event: "queue_unavailable")
            return WireError(.queueUnavailable, problem.message)
        case .badConfiguration, .query:
            return WireError(.internal, problem.message)
        }
    }
}
