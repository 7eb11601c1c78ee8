import ConcProtocol
import Foundation
import Logging
import PostgresNIO

/// Every statement the fleet sends to PostgreSQL, one method each. Each is a single statement (one
/// round trip, one implicit transaction) that takes a whole batch as arrays, so a host's cost per
/// job falls as its load rises. Completions, renewals and cancels are fenced by the attempt number:
/// they change a row only while it is still running the attempt that the caller ran.
package struct JobStore: Sendable {
    let client: PostgresClient
    let logger: Logger

    package init(client: PostgresClient, logger: Logger) {
        self.client = client
        self.logger = logger
    }

    // MARK: Channels

    /// Jobs were queued (payload: their pools, comma-separated).
    package static let queuedChannel = "concd_jobs"
    /// Jobs that someone waits for reached a final state (payload: their ids, comma-separated).
    package static let doneChannel = "concd_done"
    /// A running job was cancelled (payload: "ID HOST").
    package static let cancelChannel = "concd_cancel"

    // MARK: Submitting

    /// A job to store.
    package struct NewJob: Sendable {
        package var pool: String
        package var kind: String
        /// The submission as a control-protocol request (RequestCodec), without its durability.
        package var request: String
        package var maxAttempts: Int
        /// Someone waits for its result: its completion is notified on ``doneChannel``.
        package var waiting: Bool

        package init(pool: String, kind: String, request: String, maxAttempts: Int, waiting: Bool) {
            self.pool = pool
            self.kind = kind
            self.request = request
            self.maxAttempts = maxAttempts
            self.waiting = waiting
        }
    }

    /// Stores `jobs` in one statement and returns their ids in the same order. The queued
    /// notification goes out with the commit, so no host can look before the rows are there.
    package func insert(_ jobs: [NewJob]) async throws -> [Int64] {
        let pools = jobs.map(\.pool)
        let kinds = jobs.map(\.kind)
        let requests = jobs.map(\.request)
        let attempts = jobs.map { Int32($0.maxAttempts) }
        let waiting = jobs.map(\.waiting)
        let rows = try await client.query(
            """
            WITH i AS (
                INSERT INTO concd_jobs (pool, kind, request, max_attempts, waiting)
                SELECT * FROM unnest(\(pools)::text[], \(kinds)::text[], \(requests)::text[], \(attempts)::int[], \(waiting)::bool[])
                RETURNING id
            ),
            n AS (SELECT pg_notify('\(unescaped: Self.queuedChannel)', (SELECT string_agg(DISTINCT p, ',') FROM unnest(\(pools)::text[]) p)))
            SELECT coalesce(array_agg(id ORDER BY id), '{}'::bigint[]), (SELECT count(*) FROM n) FROM i
            """,
            logger: logger
        )
        // Ids come from one sequence in the order unnest made the rows (RETURNING need not keep it,
        // hence the ORDER BY).
        for try await (ids, _) in rows.decode(([Int64], Int64).self) { return ids }
        return []
    }

    // MARK: Claiming

    /// A job this host claimed: its attempt is the fence for everything it reports about it.
    package struct ClaimedJob: Sendable, Equatable {
        package var id: Int64
        package var attempt: Int
        package var pool: String
        package var request: String

        package init(id: Int64, attempt: Int, pool: String, request: String) {
            self.id = id
            self.attempt = attempt
            self.pool = pool
            self.request = request
        }
    }

    /// Claims up to `counts[pool]` ready jobs of each pool, oldest first, skipping rows another host
    /// is claiming, and leases them to `host` for `leaseMilliseconds`.
    package func claim(_ counts: [(pool: String, count: Int)], host: String, leaseMilliseconds: Int) async throws -> [ClaimedJob] {
        let pools = counts.map(\.pool)
        let limits = counts.map { Int32($0.count) }
        let lease = Int32(leaseMilliseconds)
        let rows = try await client.query(
            """
            WITH p AS (SELECT * FROM unnest(\(pools)::text[], \(limits)::int[]) AS p(pool, n)),
            c AS (
                SELECT q.id FROM p CROSS JOIN LATERAL (
                    SELECT id FROM concd_jobs
                    WHERE state = 'queued' AND pool = p.pool AND run_at <= now()
                    ORDER BY id LIMIT p.n FOR UPDATE SKIP LOCKED
                ) q
            ),
            u AS (
                UPDATE concd_jobs j SET state = 'running', host = \(host), attempt = j.attempt + 1, started_at = now(),
                    lease_until = now() + \(lease) * interval '1 millisecond'
                FROM c WHERE j.id = c.id
                RETURNING j.id, j.attempt, j.pool, j.request
            )
            SELECT coalesce(array_agg(id ORDER BY id), '{}'::bigint[]), coalesce(array_agg(attempt ORDER BY id), '{}'::int[]),
                coalesce(array_agg(pool ORDER BY id), '{}'::text[]), coalesce(array_agg(request ORDER BY id), '{}'::text[])
            FROM u
            """,
            logger: logger
        )
        // One row of four arrays: postgres-nio hands rows over one await at a time, which cost more
        // than the rest of a no-op job's path in this process when each job was a row.
        for try await (ids, attempts, pools, requests) in rows.decode(([Int64], [Int32], [String], [String]).self) {
            guard ids.count == attempts.count, ids.count == pools.count, ids.count == requests.count else {
                throw FleetError(.query, "the claim's columns came back of different lengths")
            }
            return ids.indices.map { ClaimedJob(id: ids[$0], attempt: Int(attempts[$0]), pool: pools[$0], request: requests[$0]) }
        }
        return []
    }

    // MARK: Finishing

    /// What became of one attempt.
    package struct Completion: Sendable, Equatable {
        package enum Outcome: String, Sendable {
            /// It succeeded: final.
            case succeeded = "ok"
            /// It failed with an error no retry can mend: final.
            case failed = "fail"
            /// It failed; it runs again after `delayMilliseconds` unless this was its last attempt.
            case retry
            /// It never ran here (the local pool refused it): queued again, the attempt not counted.
            case release
        }

        package var id: Int64
        package var attempt: Int
        package var outcome: Outcome
        /// The reply as the control protocol writes it (kept for `job` and `wait`).
        package var reply: String?
        /// The attempt's error as JSON, appended to the job's errors.
        package var error: String?
        package var delayMilliseconds: Int

        package init(id: Int64, attempt: Int, outcome: Outcome, reply: String?, error: String?, delayMilliseconds: Int = 0) {
            self.id = id
            self.attempt = attempt
            self.outcome = outcome
            self.reply = reply
            self.error = error
            self.delayMilliseconds = delayMilliseconds
        }
    }

    /// Records `completions` in one statement, each only if its job still runs that attempt.
    /// Returns the ids recorded; the others were fenced off (rescued, cancelled, or already done).
    package func complete(_ completions: [Completion]) async throws -> Set<Int64> {
        let ids = completions.map(\.id)
        let attempts = completions.map { Int32($0.attempt) }
        let outcomes = completions.map(\.outcome.rawValue)
        // postgres-nio encodes no arrays of optionals: an empty string stands for none.
        let replies = completions.map { $0.reply ?? "" }
        let errors = completions.map { $0.error ?? "" }
        let delays = completions.map { Int32(clamping: $0.delayMilliseconds) }
        let rows = try await client.query(
            """
            WITH d AS (
                SELECT id, attempt, outcome, NULLIF(reply, '') AS reply, NULLIF(error, '') AS error, delay_ms
                FROM unnest(\(ids)::bigint[], \(attempts)::int[], \(outcomes)::text[], \(replies)::text[],
                    \(errors)::text[], \(delays)::int[]) AS x(id, attempt, outcome, reply, error, delay_ms)
            ),
            u AS (
                UPDATE concd_jobs j SET
                    state = CASE
                        WHEN d.outcome = 'ok' THEN 'succeeded'
                        WHEN d.outcome = 'release' THEN 'queued'
                        WHEN d.outcome = 'retry' AND j.attempt < j.max_attempts THEN 'queued'
                        ELSE 'failed' END,
                    attempt = CASE WHEN d.outcome = 'release' THEN j.attempt - 1 ELSE j.attempt END,
                    reply = CASE
                        WHEN d.outcome = 'release' OR (d.outcome = 'retry' AND j.attempt < j.max_attempts) THEN NULL
                        ELSE d.reply END,
                    errors = CASE WHEN d.error IS NULL THEN j.errors ELSE j.errors || jsonb_build_array(d.error::jsonb) END,
                    run_at = now() + d.delay_ms * interval '1 millisecond',
                    finished_at = CASE
                        WHEN d.outcome = 'release' OR (d.outcome = 'retry' AND j.attempt < j.max_attempts) THEN NULL
                        ELSE now() END,
                    lease_until = NULL
                FROM d WHERE j.id = d.id AND j.attempt = d.attempt AND j.state = 'running'
                RETURNING j.id, j.state, j.waiting, j.pool
            ),
            done AS (
                SELECT pg_notify('\(unescaped: Self.doneChannel)', string_agg(id::text, ','))
                FROM u WHERE waiting AND state <> 'queued' HAVING count(*) > 0
            ),
            again AS (
                SELECT pg_notify('\(unescaped: Self.queuedChannel)', string_agg(DISTINCT pool, ','))
                FROM u WHERE state = 'queued' HAVING count(*) > 0
            )
            SELECT coalesce(array_agg(id), '{}'::bigint[]), (SELECT count(*) FROM done) + (SELECT count(*) FROM again) FROM u
            """,
            logger: logger
        )
        for try await (ids, _) in rows.decode(([Int64], Int64).self) { return Set(ids) }
        return []
    }

    /// Extends the leases of the jobs this host still runs. Returns the ids it still holds: a job
    /// missing from them was rescued, cancelled or finished by someone else, and must be stopped here.
    package func renew(_ jobs: [(id: Int64, attempt: Int)], leaseMilliseconds: Int) async throws -> Set<Int64> {
        guard !jobs.isEmpty else { return [] }
        let ids = jobs.map(\.id)
        let attempts = jobs.map { Int32($0.attempt) }
        let lease = Int32(leaseMilliseconds)
        let rows = try await client.query(
            """
            UPDATE concd_jobs j SET lease_until = now() + \(lease) * interval '1 millisecond'
            FROM unnest(\(ids)::bigint[], \(attempts)::int[]) AS r(id, attempt)
            WHERE j.id = r.id AND j.attempt = r.attempt AND j.state = 'running'
            RETURNING j.id
            """,
            logger: logger
        )
        var held = Set<Int64>()
        for try await id in rows.decode(Int64.self) { held.insert(id) }
        return held
    }

    /// What one pass of the rescuer did.
    package struct Rescue: Sendable, Equatable {
        /// Whether this host held the rescuer's lock (another host may be rescuing).
        package var elected: Bool
        package var requeued: Int
        package var failed: Int

        package init(elected: Bool, requeued: Int, failed: Int) {
            self.elected = elected
            self.requeued = requeued
            self.failed = failed
        }
    }

    /// Takes back every running job whose lease has passed: queued again for another attempt, or
    /// failed if that was its last. Only the host that wins the advisory lock does it, so two hosts
    /// never rescue the same job.
    package func rescueExpired() async throws -> Rescue {
        let rows = try await client.query(
            """
            WITH lock AS (SELECT pg_try_advisory_xact_lock(\(FleetSchema.rescuerLock)) AS mine),
            r AS (
                UPDATE concd_jobs j SET
                    state = CASE WHEN j.attempt < j.max_attempts THEN 'queued' ELSE 'failed' END,
                    errors = j.errors || jsonb_build_array(jsonb_build_object(
                        'attempt', j.attempt, 'host', j.host,
                        'error', jsonb_build_object('code', 'lease_expired', 'message',
                            'its host ' || coalesce(j.host, '?') || ' stopped renewing its lease (the host died, stopped or lost the database)'))),
                    reply = CASE WHEN j.attempt < j.max_attempts THEN NULL ELSE jsonb_build_object('ok', false,
                        'error', jsonb_build_object('code', 'lease_expired', 'message',
                            'its last attempt''s host ' || coalesce(j.host, '?') || ' stopped renewing its lease'))::text END,
                    finished_at = CASE WHEN j.attempt < j.max_attempts THEN NULL ELSE now() END,
                    run_at = now(), lease_until = NULL
                WHERE j.state = 'running' AND j.lease_until < now() AND (SELECT mine FROM lock)
                RETURNING j.id, j.state, j.waiting, j.pool
            ),
            again AS (
                SELECT pg_notify('\(unescaped: Self.queuedChannel)', string_agg(DISTINCT pool, ','))
                FROM r WHERE state = 'queued' HAVING count(*) > 0
            ),
            done AS (
                SELECT pg_notify('\(unescaped: Self.doneChannel)', string_agg(id::text, ','))
                FROM r WHERE waiting AND state = 'failed' HAVING count(*) > 0
            )
            SELECT (SELECT mine FROM lock),
                (SELECT count(*) FROM r WHERE state = 'queued'), (SELECT count(*) FROM r WHERE state = 'failed'),
                (SELECT count(*) FROM again) + (SELECT count(*) FROM done)
            """,
            logger: logger
        )
        var rescue = Rescue(elected: false, requeued: 0, failed: 0)
        for try await (mine, requeued, failed, _) in rows.decode((Bool, Int64, Int64, Int64).self) {
            rescue = Rescue(elected: mine, requeued: Int(requeued), failed: Int(failed))
        }
        return rescue
    }

    /// Deletes finished jobs older than `retentionSeconds` (at most `limit` a pass) and hosts silent
    /// for a day; by the rescuer only. Returns how many jobs went.
    package func prune(retentionSeconds: Double, limit: Int = 10_000) async throws -> Int {
        let seconds = retentionSeconds
        let count = Int32(limit)
        let rows = try await client.query(
            """
            WITH lock AS (SELECT pg_try_advisory_xact_lock(\(FleetSchema.rescuerLock)) AS mine),
            gone AS (
                DELETE FROM concd_jobs WHERE id IN (
                    SELECT id FROM concd_jobs
                    WHERE state IN ('succeeded', 'failed', 'cancelled') AND finished_at < now() - \(seconds) * interval '1 second'
                    LIMIT \(count)
                ) AND (SELECT mine FROM lock)
                RETURNING id
            ),
            hosts AS (
                DELETE FROM concd_hosts WHERE heartbeat < now() - interval '1 day' AND (SELECT mine FROM lock) RETURNING name
            )
            SELECT (SELECT count(*) FROM gone), (SELECT count(*) FROM hosts)
            """,
            logger: logger
        )
        var pruned = 0
        for try await (jobs, _) in rows.decode((Int64, Int64).self) { pruned = Int(jobs) }
        return pruned
    }

    // MARK: Cancelling

    /// Cancels job `id`: a queued or running job becomes cancelled (its host is told, and its late
    /// completion is refused). Returns the state it was in, or nil when there is no such job.
    package func cancel(_ id: Int64, reply: String) async throws -> (state: JobState, host: String?)? {
        let rows = try await client.query(
            """
            WITH old AS (SELECT id, state, host FROM concd_jobs WHERE id = \(id) FOR UPDATE),
            u AS (
                UPDATE concd_jobs j SET state = 'cancelled', finished_at = now(), lease_until = NULL, reply = \(reply)
                FROM old WHERE j.id = old.id AND old.state IN ('queued', 'running')
                RETURNING j.id, j.waiting
            ),
            stop AS (
                SELECT pg_notify('\(unescaped: Self.cancelChannel)', old.id::text || ' ' || coalesce(old.host, ''))
                FROM old, u WHERE old.state = 'running'
            ),
            done AS (SELECT pg_notify('\(unescaped: Self.doneChannel)', u.id::text) FROM u WHERE u.waiting)
            SELECT old.state, old.host, (SELECT count(*) FROM stop) + (SELECT count(*) FROM done) FROM old
            """,
            logger: logger
        )
        for try await (state, host, _) in rows.decode((String, String?, Int64).self) {
            return (JobState(rawValue: state) ?? .failed, host)
        }
        return nil
    }

    // MARK: Reading

    private static let jobColumns = """
        id, state, pool, kind, attempt, max_attempts, host, extract(epoch FROM created_at)::float8,
        extract(epoch FROM started_at)::float8, extract(epoch FROM finished_at)::float8,
        CASE WHEN state = 'queued' AND run_at > now() THEN extract(epoch FROM run_at)::float8 END, reply, errors::text
        """

    private typealias JobRow = (
        Int64, String, String, String, Int32, Int32, String?, Double, Double?, Double?, Double?, String?, String
    )

    /// Job `id`, or nil.
    package func job(_ id: Int64) async throws -> JobInfo? {
        let rows = try await client.query("SELECT \(unescaped: Self.jobColumns) FROM concd_jobs WHERE id = \(id)", logger: logger)
        for try await row in rows.decode(JobRow.self) { return Self.info(row) }
        return nil
    }

    /// Up to `limit` jobs, newest first, in `state` if given.
    package func jobs(state: JobState?, limit: Int) async throws -> [JobInfo] {
        let wanted = state?.rawValue
        let count = Int32(limit)
        let rows = try await client.query(
            """
            SELECT \(unescaped: Self.jobColumns) FROM concd_jobs
            WHERE \(wanted)::text IS NULL OR state = \(wanted)::text ORDER BY id DESC LIMIT \(count)
            """,
            logger: logger
        )
        var jobs: [JobInfo] = []
        for try await row in rows.decode(JobRow.self) { jobs.append(Self.info(row)) }
        return jobs
    }

    /// Marks job `id` as waited for, so its completion is notified; returns its state and reply now
    /// (nil when there is no such job).
    package func watch(_ id: Int64) async throws -> (state: JobState, reply: String?)? {
        let rows = try await client.query(
            "UPDATE concd_jobs SET waiting = true WHERE id = \(id) RETURNING state, reply", logger: logger
        )
        for try await (state, reply) in rows.decode((String, String?).self) {
            return (JobState(rawValue: state) ?? .failed, reply)
        }
        return nil
    }

    /// The final replies of those of `ids` that are finished.
    package func results(_ ids: [Int64]) async throws -> [Int64: (state: JobState, reply: String?)] {
        let rows = try await client.query(
            """
            SELECT id, state, reply FROM concd_jobs
            WHERE id = ANY(\(ids)::bigint[]) AND state IN ('succeeded', 'failed', 'cancelled')
            """,
            logger: logger
        )
        var results: [Int64: (state: JobState, reply: String?)] = [:]
        for try await (id, state, reply) in rows.decode((Int64, String, String?).self) {
            results[id] = (JobState(rawValue: state) ?? .failed, reply)
        }
        return results
    }

    /// Jobs per state, and the hosts with the age of their heartbeats.
    package func overview() async throws -> (jobs: [String: Int], hosts: [FleetHostStatus]) {
        var jobs: [String: Int] = [:]
        for state in JobState.allCases { jobs[state.rawValue] = 0 }
        for try await (state, count) in try await client.query(
            "SELECT state, count(*) FROM concd_jobs GROUP BY state", logger: logger
        ).decode((String, Int64).self) {
            jobs[state] = Int(count)
        }
        var hosts: [FleetHostStatus] = []
        for try await (name, age, free, running) in try await client.query(
            "SELECT name, extract(epoch FROM now() - heartbeat)::float8, free, running FROM concd_hosts ORDER BY name",
            logger: logger
        ).decode((String, Double, Int32, Int32).self) {
            hosts.append(FleetHostStatus(name: name, heartbeatAge: age, free: Int(free), running: Int(running)))
        }
        return (jobs, hosts)
    }

    /// This host's heartbeat: alive, what it takes, how much more it could take.
    package func heartbeat(host: String, started: Date, pools: [String], free: Int, running: Int) async throws {
        try await client.query(
            """
            INSERT INTO concd_hosts (name, heartbeat, started_at, pools, free, running)
            VALUES (\(host), now(), \(started), \(pools)::text[], \(Int32(clamping: free)), \(Int32(clamping: running)))
            ON CONFLICT (name) DO UPDATE SET heartbeat = now(), started_at = excluded.started_at, pools = excluded.pools,
                free = excluded.free, running = excluded.running
            """,
            logger: logger
        )
    }

    private static func info(_ row: JobRow) -> JobInfo {
        let (id, state, pool, kind, attempt, maxAttempts, host, created, started, finished, runAt, reply, errors) = row
        var result: JobResult?
        if let reply, let decoded = try? ReplyCodec.decode(Array(reply.utf8)) {
            result = JobResult(value: decoded.value, error: decoded.error, worker: decoded.worker, wallMicroseconds: decoded.wallMicroseconds)
        }
        let attemptErrors = (try? JSONDecoder().decode([JobAttemptError].self, from: Data(errors.utf8))) ?? []
        return JobInfo(
            id: id, state: JobState(rawValue: state) ?? .failed, pool: pool, kind: kind, attempt: Int(attempt),
            maxAttempts: Int(maxAttempts), host: host, createdAt: created, startedAt: started, finishedAt: finished,
            runAt: runAt, result: result, errors: attemptErrors
        )
    }
}
