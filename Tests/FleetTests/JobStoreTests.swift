import ConcFleet
import ConcProtocol
import Foundation
import PostgresNIO
import Testing

/// A reply as the daemon stores it.
func replyText(_ reply: Reply) -> String { String(decoding: ReplyCodec.encode(reply), as: UTF8.self) }

let okReply = replyText(Reply(id: nil, ok: true, value: .integer(42), worker: "process-1", wallMicroseconds: 1500))
let failReply = replyText(Reply(id: nil, ok: false, worker: "process-2", error: WireError(.workerDied, "it died")))
let cancelReply = replyText(Reply(id: nil, ok: false, error: WireError(.cancelled, "cancelled by concctl")))

@Suite(.serialized) struct JobStoreClaimTests {
    @Test func insertsInOrderAndClaimsPerPoolOldestFirst() async throws {
        try await withFleetDatabase { database in
            let store = database.store
            #expect(try await store.insert([]).isEmpty)
            let ids = try await store.insert([
                newJob("a", request: "r0"), newJob("b", request: "r1"), newJob("a", request: "r2"), newJob("c"),
            ])
            #expect(ids.count == 4)
            #expect(ids == ids.sorted() && Set(ids).count == 4)
            #expect(
                try database.sql("SELECT string_agg(request, ',' ORDER BY id) FROM concd_jobs")
                    == "r0,r1,r2,\(newJob().request)")
            let more = try await store.insert((0..<5).map { newJob("a", request: "m\($0)") })
            #expect(more == more.sorted() && more[0] > ids[3])

            let now = Date().timeIntervalSince1970
            let info = try #require(try await store.job(ids[1]))
            #expect(info.id == ids[1] && info.state == .queued && info.pool == "b" && info.kind == "cpu")
            #expect(info.attempt == 0 && info.maxAttempts == 3 && info.host == nil)
            #expect(abs(info.createdAt - now) < 60)
            #expect(
                info.startedAt == nil && info.finishedAt == nil && info.runAt == nil && info.result == nil
                    && info.errors.isEmpty)

            // Counts per pool; pools with nothing, or asked for nothing, claim nothing.
            let claimed = try await store.claim(
                [("a", 2), ("b", 5), ("d", 3), ("c", 0)], host: "h1", leaseMilliseconds: 10_000)
            #expect(claimed.map(\.id) == [ids[0], ids[1], ids[2]])
            #expect(claimed.map(\.pool) == ["a", "b", "a"])
            #expect(claimed.map(\.request) == ["r0", "r1", "r2"])
            #expect(claimed.allSatisfy { $0.attempt == 1 })
            #expect(try await store.claim([], host: "h1", leaseMilliseconds: 10_000).isEmpty)

            let running = try #require(try await store.job(ids[0]))
            #expect(running.state == .running && running.host == "h1" && running.attempt == 1)
            #expect(running.startedAt.map { abs($0 - now) < 60 } == true)
            #expect(
                try database.sql("SELECT lease_until - started_at FROM concd_jobs WHERE id = \(ids[0])") == "00:00:10")

            // A job whose run_at is ahead is not ready.
            try database.sql("UPDATE concd_jobs SET run_at = now() + interval '1 hour' WHERE id = \(more[0])")
            let later = try #require(try await store.job(more[0]))
            #expect(later.runAt.map { $0 > now + 3000 } == true)
            let next = try await store.claim([("a", 2)], host: "h2", leaseMilliseconds: 10_000)
            #expect(next.map(\.id) == [more[1], more[2]])
            try database.sql("UPDATE concd_jobs SET run_at = now() - interval '1 second' WHERE id = \(more[0])")
            #expect(try await store.claim([("a", 1)], host: "h2", leaseMilliseconds: 10_000).map(\.id) == [more[0]])
        }
    }

    @Test func twoHostsClaimingAtOnceNeverShareAJob() async throws {
        try await withFleetDatabase { database in
            let ids = try await database.store.insert((0..<1000).map { newJob(request: "\($0)") })
            #expect(ids.count == 1000)
            let hosts = try await withThrowingTaskGroup(
                of: (String, [JobStore.ClaimedJob]).self, returning: [String: [JobStore.ClaimedJob]].self
            ) { group in
                for host in ["h1", "h2"] {
                    group.addTask {
                        try await database.withOtherClient { store, _ in
                            var mine: [JobStore.ClaimedJob] = []
                            while true {
                                let batch = try await store.claim([("cpu", 7)], host: host, leaseMilliseconds: 60_000)
                                if batch.isEmpty { return (host, mine) }
                                mine += batch
                            }
                        }
                    }
                }
                var hosts: [String: [JobStore.ClaimedJob]] = [:]
                for try await (host, claimed) in group { hosts[host] = claimed }
                return hosts
            }
            let h1 = hosts["h1"] ?? []
            let h2 = hosts["h2"] ?? []
            let first = Set(h1.map(\.id))
            let second = Set(h2.map(\.id))
            #expect(first.count == h1.count && second.count == h2.count)
            #expect(first.isDisjoint(with: second))
            #expect(first.union(second) == Set(ids))
            #expect((h1 + h2).allSatisfy { $0.attempt == 1 })
            // Both took part: the claims really ran side by side.
            #expect(!first.isEmpty && !second.isEmpty)
            #expect(try database.sql("SELECT state, count(*) FROM concd_jobs GROUP BY state") == "running|1000")
            #expect(try database.sql("SELECT count(*) FROM concd_jobs WHERE host = 'h1'") == "\(first.count)")
        }
    }
}

@Suite(.serialized) struct JobStoreCompletionTests {
    @Test func outcomesAndTheAttemptFence() async throws {
        try await withFleetDatabase { database in
            let store = database.store
            let ids = try await store.insert([
                newJob(waiting: true), newJob(), newJob(), newJob(attempts: 1), newJob(), newJob(),
            ])
            let claimed = try await store.claim([("cpu", 6)], host: "h1", leaseMilliseconds: 30_000)
            #expect(claimed.map(\.id) == ids)
            let recorded = try await store.complete([
                .init(id: ids[0], attempt: 1, outcome: .succeeded, reply: okReply, error: nil),
                .init(id: ids[1], attempt: 1, outcome: .failed, reply: failReply, error: attemptError(1, host: "h1")),
                .init(
                    id: ids[2], attempt: 1, outcome: .retry, reply: failReply, error: attemptError(1, host: "h1"),
                    delayMilliseconds: 60_000),
                .init(id: ids[3], attempt: 1, outcome: .retry, reply: failReply, error: attemptError(1, host: "h1")),
                .init(id: ids[4], attempt: 1, outcome: .release, reply: nil, error: nil),
                // A stale attempt: the job runs attempt 1, not 2.
                .init(id: ids[5], attempt: 2, outcome: .succeeded, reply: okReply, error: nil),
            ])
            #expect(recorded == Set(ids[0...4]))
            let now = Date().timeIntervalSince1970

            let succeeded = try #require(try await store.job(ids[0]))
            #expect(succeeded.state == .succeeded && succeeded.attempt == 1 && succeeded.host == "h1")
            #expect(succeeded.result == JobResult(value: .integer(42), worker: "process-1", wallMicroseconds: 1500))
            #expect(succeeded.finishedAt.map { abs($0 - now) < 60 } == true)
            #expect(succeeded.errors.isEmpty && succeeded.runAt == nil)

            let failed = try #require(try await store.job(ids[1]))
            #expect(failed.state == .failed && failed.finishedAt != nil)
            #expect(failed.result?.error == WireError(.workerDied, "it died"))
            #expect(
                failed.errors == [JobAttemptError(attempt: 1, host: "h1", error: WireError(.workerDied, "it died"))])

            let retried = try #require(try await store.job(ids[2]))
            #expect(
                retried.state == .queued && retried.attempt == 1 && retried.finishedAt == nil && retried.result == nil)
            #expect(retried.errors.count == 1)
            #expect(
                retried.runAt.map { $0 > now + 50 && $0 < now + 70 } == true, "\(String(describing: retried.runAt))")

            let lastAttempt = try #require(try await store.job(ids[3]))
            #expect(lastAttempt.state == .failed && lastAttempt.attempt == 1 && lastAttempt.finishedAt != nil)
            #expect(lastAttempt.result?.error?.code == .workerDied)
            #expect(lastAttempt.errors.map(\.attempt) == [1])

            let released = try #require(try await store.job(ids[4]))
            #expect(
                released.state == .queued && released.attempt == 0 && released.errors.isEmpty && released.runAt == nil)

            let fenced = try #require(try await store.job(ids[5]))
            #expect(fenced.state == .running && fenced.attempt == 1 && fenced.result == nil)
            #expect(
                try database.sql("SELECT lease_until IS NOT NULL, reply IS NULL FROM concd_jobs WHERE id = \(ids[5])")
                    == "t|t")

            // A second completion of a finished job changes nothing.
            let before = try database.sql(
                "SELECT state, reply, errors, finished_at FROM concd_jobs WHERE id = \(ids[0])")
            #expect(
                try await store.complete([
                    .init(
                        id: ids[0], attempt: 1, outcome: .failed, reply: failReply, error: attemptError(1, host: "h2"))
                ]).isEmpty)
            #expect(
                try database.sql("SELECT state, reply, errors, finished_at FROM concd_jobs WHERE id = \(ids[0])")
                    == before)

            // The released job runs again as attempt 1; the delayed retry is not ready; the fenced job is not free.
            let again = try await store.claim([("cpu", 10)], host: "h2", leaseMilliseconds: 30_000)
            #expect(again.map(\.id) == [ids[4]])
            #expect(again.first?.attempt == 1)
            #expect(
                try await store.complete([
                    .init(id: ids[5], attempt: 1, outcome: .succeeded, reply: okReply, error: nil)
                ]) == [ids[5]])
            #expect(try await store.complete([]).isEmpty)
        }
    }

    @Test func retriesUntilTheLastAttemptThenFailsWithEveryError() async throws {
        try await withFleetDatabase { database in
            let store = database.store
            let id = try #require(try await store.insert([newJob(attempts: 3)]).first)
            for attempt in 1...3 {
                let claimed = try await store.claim([("cpu", 5)], host: "h\(attempt)", leaseMilliseconds: 30_000)
                #expect(claimed.map(\.id) == [id])
                #expect(claimed.first?.attempt == attempt)
                let recorded = try await store.complete([
                    .init(
                        id: id, attempt: attempt, outcome: .retry, reply: failReply,
                        error: attemptError(attempt, host: "h\(attempt)"))
                ])
                #expect(recorded == [id])
            }
            let info = try #require(try await store.job(id))
            #expect(info.state == .failed && info.attempt == 3 && info.host == "h3")
            #expect(info.errors.map(\.attempt) == [1, 2, 3])
            #expect(info.errors.map(\.host) == ["h1", "h2", "h3"])
            #expect(info.result?.error?.code == .workerDied)
            #expect(try await store.claim([("cpu", 5)], host: "h4", leaseMilliseconds: 30_000).isEmpty)
        }
    }

    @Test func releaseDoesNotCountTheAttempt() async throws {
        try await withFleetDatabase { database in
            let store = database.store
            let id = try #require(try await store.insert([newJob(attempts: 1)]).first)
            for _ in 0..<3 {
                let claimed = try await store.claim([("cpu", 1)], host: "h1", leaseMilliseconds: 30_000)
                #expect(claimed.first?.attempt == 1)
                #expect(
                    try await store.complete([.init(id: id, attempt: 1, outcome: .release, reply: nil, error: nil)])
                        == [id])
            }
            let info = try #require(try await store.job(id))
            #expect(info.state == .queued && info.attempt == 0)
            // Its one attempt is still there to run.
            let claimed = try await store.claim([("cpu", 1)], host: "h1", leaseMilliseconds: 30_000)
            #expect(
                try await store.complete([
                    .init(id: id, attempt: claimed[0].attempt, outcome: .succeeded, reply: okReply, error: nil)
                ]) == [id])
            #expect(try await store.job(id)?.state == .succeeded)
        }
    }
}

@Suite(.serialized) struct JobStoreLeaseTests {
    @Test func renewHoldsOnlyTheRightAttemptAndRescueTakesBackTheRest() async throws {
        try await withFleetDatabase { database in
            let store = database.store
            let ids = try await store.insert([newJob(), newJob(), newJob(attempts: 1, waiting: true), newJob()])
            let claimed = try await store.claim([("cpu", 4)], host: "dead", leaseMilliseconds: 200)
            #expect(claimed.count == 4)
            #expect(try await store.renew([], leaseMilliseconds: 60_000).isEmpty)
            let held = try await store.renew([(ids[0], 1), (ids[1], 2), (999_999, 1)], leaseMilliseconds: 60_000)
            #expect(held == [ids[0]])
            #expect(
                try database.sql(
                    "SELECT lease_until > now() + interval '50 seconds' FROM concd_jobs WHERE id = \(ids[0])") == "t")

            try await Task.sleep(for: .milliseconds(400))
            let rescue = try await store.rescueExpired()
            #expect(rescue == JobStore.Rescue(elected: true, requeued: 2, failed: 1))

            let kept = try #require(try await store.job(ids[0]))
            #expect(kept.state == .running && kept.errors.isEmpty)

            let requeued = try #require(try await store.job(ids[1]))
            #expect(
                requeued.state == .queued && requeued.attempt == 1 && requeued.finishedAt == nil
                    && requeued.result == nil)
            #expect(requeued.errors.count == 1)
            #expect(requeued.errors.first?.attempt == 1)
            #expect(requeued.errors.first?.host == "dead")
            #expect(requeued.errors.first?.error.code == .leaseExpired)
            #expect(requeued.errors.first?.error.message.contains("dead") == true)

            let failed = try #require(try await store.job(ids[2]))
            #expect(failed.state == .failed && failed.finishedAt != nil)
            #expect(failed.errors.map(\.error.code) == [.leaseExpired])
            #expect(failed.result?.error?.code == .leaseExpired)

            // A renewal or completion from the host that lost them is refused.
            #expect(try await store.renew([(ids[1], 1), (ids[2], 1)], leaseMilliseconds: 60_000).isEmpty)
            #expect(
                try await store.complete([
                    .init(id: ids[1], attempt: 1, outcome: .succeeded, reply: okReply, error: nil)
                ]).isEmpty)
            #expect(try await store.job(ids[1])?.state == .queued)

            // Nothing left to rescue; the requeued jobs run again as attempt 2.
            #expect(try await store.rescueExpired() == JobStore.Rescue(elected: true, requeued: 0, failed: 0))
            let again = try await store.claim([("cpu", 5)], host: "alive", leaseMilliseconds: 30_000)
            #expect(again.map(\.id) == [ids[1], ids[3]])
            #expect(again.map(\.attempt) == [2, 2])
        }
    }

    @Test func onlyOneRescuerAtATime() async throws {
        try await withFleetDatabase { database in
            let store = database.store
            let ids = try await store.insert((0..<50).map { newJob(request: "\($0)") })
            _ = try await store.claim([("cpu", 50)], host: "dead", leaseMilliseconds: 100)
            try await Task.sleep(for: .milliseconds(300))

            // A host that holds the rescuer's lock: nobody else rescues (or prunes) meanwhile.
            try await database.client.withConnection { connection in
                try await connection.query(
                    "SELECT pg_advisory_lock(\(FleetSchema.rescuerLock))", logger: FleetDatabase.logger)
                #expect(try await store.rescueExpired() == JobStore.Rescue(elected: false, requeued: 0, failed: 0))
                #expect(try await store.prune(retentionSeconds: 0) == 0)
                try await connection.query(
                    "SELECT pg_advisory_unlock(\(FleetSchema.rescuerLock))", logger: FleetDatabase.logger)
            }
            #expect(try database.sql("SELECT count(*) FROM concd_jobs WHERE state = 'running'") == "50")

            // Two rescuers at once: the first holds the lock while it waits for a row another
            // transaction has locked; the second, meanwhile, is not elected and touches nothing.
            let rescues = try await database.client.withConnection { blocker in
                try await blocker.query("BEGIN", logger: FleetDatabase.logger)
                try await blocker.query(
                    "SELECT id FROM concd_jobs WHERE id = \(ids[10]) FOR UPDATE", logger: FleetDatabase.logger)
                let first = Task { try await store.rescueExpired() }
                var waited = 0
                while try database.sql("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted") != "1" {
                    try await Task.sleep(for: .milliseconds(20))
                    waited += 1
                    if waited > 250 { break }
                }
                let second = try await database.withOtherClient { other, _ in try await other.rescueExpired() }
                try await blocker.query("COMMIT", logger: FleetDatabase.logger)
                return [try await first.value, second]
            }
            #expect(rescues[0] == JobStore.Rescue(elected: true, requeued: 50, failed: 0))
            #expect(rescues[1] == JobStore.Rescue(elected: false, requeued: 0, failed: 0))
            #expect(
                try database.sql(
                    "SELECT count(*) FROM concd_jobs WHERE state = 'queued' AND jsonb_array_length(errors) = 1") == "50"
            )
        }
    }
}

@Suite(.serialized) struct JobStoreCancelAndReadTests {
    @Test func cancelQueuedRunningAndUnknownJobs() async throws {
        try await withFleetDatabase { database in
            let store = database.store
            let ids = try await store.insert([newJob(), newJob(waiting: true), newJob(), newJob()])
            #expect(try await store.claim([("cpu", 1)], host: "h1", leaseMilliseconds: 30_000).map(\.id) == [ids[0]])

            let queued = try #require(try await store.cancel(ids[1], reply: cancelReply))
            #expect(queued.state == .queued && queued.host == nil)
            let running = try #require(try await store.cancel(ids[0], reply: cancelReply))
            #expect(running.state == .running && running.host == "h1")
            #expect(try await store.cancel(999_999, reply: cancelReply) == nil)
            // Cancelling a final job says what it is and changes nothing.
            let before = try database.sql("SELECT finished_at FROM concd_jobs WHERE id = \(ids[1])")
            let twice = try #require(try await store.cancel(ids[1], reply: okReply))
            #expect(twice.state == .cancelled)
            #expect(try database.sql("SELECT finished_at FROM concd_jobs WHERE id = \(ids[1])") == before)
            #expect(try await store.job(ids[1])?.result?.error?.code == .cancelled)

            // The cancelled jobs are never claimed; the running one's late completion is refused.
            #expect(
                try await store.claim([("cpu", 10)], host: "h2", leaseMilliseconds: 30_000).map(\.id) == [
                    ids[2], ids[3],
                ])
            #expect(
                try await store.complete([
                    .init(id: ids[0], attempt: 1, outcome: .succeeded, reply: okReply, error: nil)
                ]).isEmpty)
            #expect(try await store.renew([(ids[0], 1)], leaseMilliseconds: 30_000).isEmpty)
            let cancelled = try #require(try await store.job(ids[0]))
            #expect(cancelled.state == .cancelled && cancelled.host == "h1" && cancelled.finishedAt != nil)
            #expect(cancelled.result == JobResult(error: WireError(.cancelled, "cancelled by concctl")))
            // Nor rescued when its lease would have passed.
            try database.sql("UPDATE concd_jobs SET lease_until = now() - interval '1 hour' WHERE id = \(ids[0])")
            #expect(try await store.rescueExpired().requeued == 0)
            #expect(try await store.job(ids[0])?.state == .cancelled)
        }
    }

    @Test func readsReturnWhatWasStored() async throws {
        try await withFleetDatabase { database in
            let store = database.store
            let ids = try await store.insert([newJob("a"), newJob("a"), newJob("b"), newJob("b")])
            _ = try await store.claim([("a", 2)], host: "h1", leaseMilliseconds: 30_000)
            _ = try await store.complete([
                .init(id: ids[0], attempt: 1, outcome: .succeeded, reply: okReply, error: nil)
            ])
            _ = try await store.cancel(ids[2], reply: cancelReply)

            // watch: marks the job waited for, and says where it is now.
            #expect(try database.sql("SELECT count(*) FROM concd_jobs WHERE waiting") == "0")
            let watched = try #require(try await store.watch(ids[0]))
            #expect(watched.state == .succeeded && watched.reply == okReply)
            let watchedRunning = try #require(try await store.watch(ids[1]))
            #expect(watchedRunning.state == .running && watchedRunning.reply == nil)
            #expect(try await store.watch(999_999) == nil)
            #expect(
                try database.sql("SELECT string_agg(id::text, ',' ORDER BY id) FROM concd_jobs WHERE waiting")
                    == "\(ids[0]),\(ids[1])")

            // results: only the finished ones.
            let results = try await store.results(ids + [999_999])
            #expect(Set(results.keys) == [ids[0], ids[2]])
            #expect(results[ids[0]]?.state == .succeeded && results[ids[0]]?.reply == okReply)
            #expect(results[ids[2]]?.state == .cancelled && results[ids[2]]?.reply == cancelReply)
            #expect(try await store.results([]).isEmpty)

            // jobs: newest first, by state.
            #expect(try await store.jobs(state: nil, limit: 10).map(\.id) == ids.reversed())
            #expect(try await store.jobs(state: nil, limit: 2).map(\.id) == [ids[3], ids[2]])
            #expect(try await store.jobs(state: .queued, limit: 10).map(\.id) == [ids[3]])
            #expect(try await store.jobs(state: .failed, limit: 10).isEmpty)
            let listed = try await store.jobs(state: .succeeded, limit: 10)
            #expect(listed == [try await store.job(ids[0])].compactMap { $0 })
            #expect(try await store.job(999_999) == nil)

            // overview and heartbeat.
            var overview = try await store.overview()
            #expect(overview.jobs == ["queued": 1, "running": 1, "succeeded": 1, "failed": 0, "cancelled": 1])
            #expect(overview.hosts.isEmpty)
            try await store.heartbeat(host: "h2", started: Date(), pools: ["b"], free: 4, running: 0)
            try await store.heartbeat(
                host: "h1", started: Date(timeIntervalSinceNow: -60), pools: ["a", "b"], free: 3, running: 1)
            try await store.heartbeat(
                host: "h1", started: Date(timeIntervalSinceNow: -60), pools: ["a", "b"], free: 2, running: 2)
            overview = try await store.overview()
            #expect(overview.hosts.map(\.name) == ["h1", "h2"])
            #expect(overview.hosts.map(\.free) == [2, 4])
            #expect(overview.hosts.map(\.running) == [2, 0])
            #expect(overview.hosts.allSatisfy { $0.heartbeatAge >= 0 && $0.heartbeatAge < 30 })
            #expect(try database.sql("SELECT pools FROM concd_hosts WHERE name = 'h1'") == "{a,b}")
            #expect(
                try database.sql(
                    "SELECT round(extract(epoch FROM heartbeat - started_at)) FROM concd_hosts WHERE name = 'h1'")
                    == "60")

            // prune: finished jobs past their retention, and hosts silent for a day.
            #expect(try await store.prune(retentionSeconds: 3600) == 0)
            try database.sql("UPDATE concd_jobs SET finished_at = now() - interval '2 hours' WHERE id = \(ids[0])")
            try database.sql("UPDATE concd_hosts SET heartbeat = now() - interval '2 days' WHERE name = 'h2'")
            #expect(try await store.prune(retentionSeconds: 3600) == 1)
            #expect(try await store.job(ids[0]) == nil)
            #expect(try await store.job(ids[2])?.state == .cancelled)
            #expect(try await store.overview().hosts.map(\.name) == ["h1"])
            try await Task.sleep(for: .milliseconds(600))
            #expect(try await store.prune(retentionSeconds: 0.5, limit: 5) == 1)
            #expect(try database.sql("SELECT count(*) FROM concd_jobs") == "2")
        }
    }

    @Test func notificationsNameThePoolsAndTheJobs() async throws {
        try await withFleetDatabase { database in
            let store = database.store
            let (queued, done, cancelled, ids, rescuedID) = try await within(30, "the notifications") {
                try await database.client.withConnection { connection in
                    try await connection.listen(on: JobStore.queuedChannel) { queued in
                        try await connection.listen(on: JobStore.doneChannel) { done in
                            try await connection.listen(on: JobStore.cancelChannel) { cancel in
                                let ids = try await store.insert([newJob("a"), newJob("b"), newJob("a", waiting: true)])
                                _ = try await store.claim([("a", 2)], host: "h1", leaseMilliseconds: 30_000)
                                _ = try await store.complete([
                                    .init(id: ids[2], attempt: 1, outcome: .retry, reply: nil, error: nil)
                                ])
                                _ = try await store.claim([("a", 1)], host: "h1", leaseMilliseconds: 30_000)
                                _ = try await store.complete([
                                    .init(id: ids[2], attempt: 2, outcome: .succeeded, reply: okReply, error: nil)
                                ])
                                _ = try await store.cancel(ids[0], reply: cancelReply)
                                _ = try await store.watch(ids[1])
                                _ = try await store.cancel(ids[1], reply: cancelReply)
                                let rescued = try await store.insert([
                                    newJob("c", attempts: 1, waiting: true), newJob("c", attempts: 2),
                                ])
                                _ = try await store.claim([("c", 2)], host: "dead", leaseMilliseconds: 50)
                                try await Task.sleep(for: .milliseconds(200))
                                #expect(
                                    try await store.rescueExpired()
                                        == JobStore.Rescue(elected: true, requeued: 1, failed: 1))
                                return (
                                    try await take(4, from: queued), try await take(3, from: done),
                                    try await take(1, from: cancel),
                                    ids, rescued[0]
                                )
                            }
                        }
                    }
                }
            }
            #expect(queued == ["a,b", "a", "c", "c"])
            #expect(done == ["\(ids[2])", "\(ids[1])", "\(rescuedID)"])
            #expect(cancelled == ["\(ids[0]) h1"])
        }
    }
}

/// The payloads of the next `count` notifications.
func take(_ count: Int, from sequence: PostgresNotificationSequence) async throws -> [String] {
    var payloads: [String] = []
    for try await notification in sequence {
        payloads.append(notification.payload)
        if payloads.count == count { break }
    }
    return payloads
}
