import ConcProtocol
import Foundation
import Testing

/// Fleet mode on the wire: durable submissions, the job operations (`job`, `wait`, `cancel`, `jobs`)
/// and their replies, written and read back, and the shapes refused with their codes.
@Suite struct DurableJobCodecTests {
    private static let now = 1_714_564_800.25

    private static let failedJob = JobInfo(
        id: 42, state: .failed, pool: "process", kind: "cpu", attempt: 3, maxAttempts: 3, host: "beta",
        createdAt: now - 400, startedAt: now - 30, finishedAt: now - 2,
        result: JobResult(error: .taskFailed(type: "ValueError", message: "bad", traceback: "Traceback ...")),
        errors: [
            JobAttemptError(attempt: 1, host: "alpha", error: WireError(.leaseExpired, "alpha stopped renewing its lease")),
            JobAttemptError(attempt: 2, host: nil, error: WireError(.workerDied, "worker process-1 died")),
        ]
    )

    private static let succeededJob = JobInfo(
        id: 43, state: .succeeded, pool: "crunch", kind: "call", attempt: 1, maxAttempts: 5, host: "alpha",
        createdAt: now - 10, startedAt: now - 9, finishedAt: now - 8,
        result: JobResult(value: .json(JSONText(parsing: Array(#"{"a":[1,2]}"#.utf8))!), worker: "process-0", wallMicroseconds: 7412)
    )

    private static let queuedJob = JobInfo(
        id: 44, state: .queued, pool: "thread", kind: "sleep", attempt: 1, maxAttempts: 2, host: nil,
        createdAt: now - 1, runAt: now + 5,
        errors: [JobAttemptError(attempt: 1, host: "gamma", error: WireError(.timeout, "cut off"))]
    )

    private func decode(_ text: String) throws(RequestDecodingError) -> Request {
        try RequestCodec.decode(Array(text.utf8))
    }

    @Test func durableSubmissionsRoundTrip() throws {
        let submissions = [
            try Submission(workload: .cpu(n: 1000), durability: try Durability()),
            try Submission(workload: .sleep(milliseconds: 5), pool: .thread, timeoutMilliseconds: 100, durability: try Durability(detach: true)),
            try Submission(workload: .noop, durability: try Durability(detach: true, maxAttempts: 7)),
            try Submission(workload: .cpu(n: 1), pool: .process, retries: 2, durability: try Durability(maxAttempts: ProtocolLimits.maxJobAttempts)),
            try Submission(
                workload: .call(function: "resize", arguments: JSONText(parsing: Array(#"{"w":320}"#.utf8))!),
                pool: PoolName(rawValue: "thumbnails"), durability: try Durability(detach: true, maxAttempts: 1)
            ),
        ]
        for (index, submission) in submissions.enumerated() {
            let request = Request(id: UInt64(index), operation: .submit(submission))
            #expect(try RequestCodec.decode(RequestCodec.encode(request)) == request)
        }
    }

    @Test func aDurableSubmissionIsWrittenWithTheDocumentedFields() throws {
        let submission = try Submission(workload: .cpu(n: 5), durability: try Durability(detach: true, maxAttempts: 4))
        let text = String(decoding: RequestCodec.encode(Request(id: 3, operation: .submit(submission))), as: UTF8.self)
        #expect(text == #"{"v":1,"id":3,"op":"submit","kind":"cpu","n":5,"durable":true,"detach":true,"attempts":4}"#)
        let plain = String(decoding: RequestCodec.encode(Request(id: 3, operation: .submit(try Submission(workload: .cpu(n: 5))))), as: UTF8.self)
        #expect(!plain.contains("durable"))
    }

    @Test func aPersonCanTypeADurableSubmission() throws {
        let request = try decode(#"{"op":"submit","kind":"cpu","n":10,"durable":true,"attempts":3}"#)
        #expect(request.operation == .submit(try Submission(workload: .cpu(n: 10), durability: try Durability(maxAttempts: 3))))
        // durable:false is an ordinary submission.
        let plain = try decode(#"{"op":"submit","kind":"noop","durable":false}"#)
        #expect(plain.operation == .submit(try Submission(workload: .noop)))
    }

    @Test func jobOperationsRoundTrip() throws {
        let operations: [Request.Operation] = [
            .job(id: 1), .job(id: Int64.max), .waitJob(id: 42), .cancelJob(id: 7),
            .jobs(state: nil, limit: 100), .jobs(state: .failed, limit: 1), .jobs(state: .queued, limit: ProtocolLimits.maxJobsListed),
        ] + JobState.allCases.map { .jobs(state: $0, limit: 20) }
        for (index, operation) in operations.enumerated() {
            let request = Request(id: UInt64(index), operation: operation)
            #expect(try RequestCodec.decode(RequestCodec.encode(request)) == request)
            #expect(!operation.isAdmin && !operation.needsCaller)
        }
    }

    @Test func jobOperationsHaveTheDocumentedNamesAndFields() throws {
        #expect(String(decoding: RequestCodec.encode(Request(id: 1, operation: .waitJob(id: 9))), as: UTF8.self) == #"{"v":1,"id":1,"op":"wait","job":9}"#)
        #expect(String(decoding: RequestCodec.encode(Request(id: nil, operation: .cancelJob(id: 9))), as: UTF8.self) == #"{"v":1,"op":"cancel","job":9}"#)
        #expect(String(decoding: RequestCodec.encode(Request(id: 2, operation: .job(id: 9))), as: UTF8.self) == #"{"v":1,"id":2,"op":"job","job":9}"#)
        #expect(
            String(decoding: RequestCodec.encode(Request(id: 3, operation: .jobs(state: .running, limit: 5))), as: UTF8.self)
                == #"{"v":1,"id":3,"op":"jobs","state":"running","limit":5}"#
        )
        // A person may leave out the limit: 100.
        #expect(try decode(#"{"op":"jobs"}"#).operation == .jobs(state: nil, limit: 100))
    }

    @Test(arguments: [
        (#"{"op":"submit","kind":"cpu","n":1,"detach":true}"#, ErrorCode.badRequest),
        (#"{"op":"submit","kind":"cpu","n":1,"attempts":3}"#, .badRequest),
        (#"{"op":"submit","kind":"cpu","n":1,"durable":false,"detach":true}"#, .badRequest),
        (#"{"op":"submit","kind":"cpu","n":1,"durable":"yes"}"#, .badRequest),
        (#"{"op":"submit","kind":"cpu","n":1,"durable":true,"detach":1}"#, .badRequest),
        (#"{"op":"submit","kind":"cpu","n":1,"durable":true,"attempts":0}"#, .invalidArgument),
        (#"{"op":"submit","kind":"cpu","n":1,"durable":true,"attempts":101}"#, .invalidArgument),
        (#"{"op":"submit","kind":"cpu","n":1,"durable":true,"attempts":1.5}"#, .badRequest),
        (#"{"op":"submit","kind":"exec","argv":["ls"],"durable":true}"#, .unsupportedPool),
        (#"{"op":"jobs","state":"lost"}"#, .invalidArgument),
        (#"{"op":"jobs","state":7}"#, .badRequest),
        (#"{"op":"jobs","limit":0}"#, .invalidArgument),
        (#"{"op":"jobs","limit":10001}"#, .invalidArgument),
        (#"{"op":"jobs","limit":-1}"#, .invalidArgument),
        (#"{"op":"job","job":0}"#, .invalidArgument),
        (#"{"op":"wait","job":-3}"#, .invalidArgument),
        (#"{"op":"cancel","job":0}"#, .invalidArgument),
        (#"{"op":"job"}"#, .badRequest),
        (#"{"op":"wait"}"#, .badRequest),
        (#"{"op":"cancel","job":"42"}"#, .badRequest),
        (#"{"op":"job","job":1.5}"#, .badRequest),
    ])
    func badJobRequestsAreRefusedWithTheirCode(frame: String, code: ErrorCode) {
        do {
            let request = try decode(frame)
            Issue.record("\(frame) was read as \(request)")
        } catch {
            #expect(error.error.code == code, "\(frame): \(error.error)")
        }
    }

    @Test func theIDSurvivesARefusedJobRequest() {
        do {
            _ = try decode(#"{"id":77,"op":"jobs","state":"lost"}"#)
            Issue.record("an unknown state was accepted")
        } catch {
            #expect(error.id == 77)
            #expect(error.error.message.contains("queued, running, succeeded, failed, cancelled"))
        }
    }

    @Test func durabilityChecksItsAttempts() {
        #expect(throws: WireError.self) { try Durability(maxAttempts: 0) }
        #expect(throws: WireError.self) { try Durability(maxAttempts: ProtocolLimits.maxJobAttempts + 1) }
        #expect((try? Durability(maxAttempts: 1)) != nil)
    }

    @Test func jobRepliesRoundTrip() throws {
        let replies = [
            // A detached submission, and a durable submission's result.
            Reply(id: 1, ok: true, jobID: 42),
            Reply(id: 2, ok: true, value: .integer(5), kind: .cpu, pool: .process, worker: "process-0", wallMicroseconds: 9, jobID: 42),
            // wait: a failed and a cancelled job.
            Reply(id: 3, ok: false, error: .taskFailed(type: "ValueError", message: "bad", traceback: "Traceback ..."), jobID: 42),
            Reply(id: 4, ok: false, error: WireError(.cancelled, "job 42 was cancelled"), jobID: 42),
            Reply(id: 5, ok: false, error: WireError(.leaseExpired, "the lease ran out"), jobID: 42),
            // job, cancel, jobs.
            Reply(id: 6, ok: true, job: Self.failedJob),
            Reply(id: 7, ok: true, detail: "cancelled job 44", jobID: 44, job: Self.queuedJob),
            Reply(id: 8, ok: true, jobs: [Self.queuedJob, Self.succeededJob, Self.failedJob]),
            Reply(id: 9, ok: true, jobs: []),
            // The refusals of a daemon without a queue or without its database.
            Reply(id: 10, ok: false, error: WireError(.noQueue, "this daemon has no queue")),
            Reply(id: nil, ok: false, error: WireError(.queueUnavailable, "the database is down")),
        ]
        for reply in replies {
            #expect(try ReplyCodec.decode(ReplyCodec.encode(reply)) == reply)
        }
    }

    @Test func jobFieldsAreTheDocumentedOnes() throws {
        let text = String(decoding: ReplyCodec.encode(Reply(id: 1, ok: true, jobID: 42)), as: UTF8.self)
        #expect(text == #"{"id":1,"job_id":42,"ok":true}"#)
        let object = try #require(
            try JSONSerialization.jsonObject(with: Data(ReplyCodec.encode(Reply(id: 2, ok: true, job: Self.failedJob)))) as? [String: Any]
        )
        let job = try #require(object["job"] as? [String: Any])
        #expect(
            Set(job.keys)
                == ["id", "state", "pool", "kind", "attempt", "max_attempts", "host", "created_at", "started_at", "finished_at", "result", "errors"]
        )
        let queued = try JSONSerialization.jsonObject(with: JSONEncoder().encode(Self.queuedJob)) as? [String: Any]
        #expect(queued?["run_at"] != nil && queued?["host"] == nil && queued?["result"] == nil)
        let result = try JSONSerialization.jsonObject(with: JSONEncoder().encode(Self.succeededJob.result)) as? [String: Any]
        #expect(Set(result?.keys.map { $0 } ?? []) == ["value", "worker", "wall_us"])
    }

    @Test func aStatusWithAQueueRoundTrips() throws {
        var status = DaemonStatus(pid: 1, version: "0.1.0", uptimeSeconds: 2.5, socket: "/x", pools: [
            PoolStatus(kind: .thread, size: 4, busy: 0, idle: 4, queued: 0, queueLimit: 10, completed: 0, failed: 0),
        ])
        status.queue = QueueStatus(
            connected: false, problem: "connection refused", host: "alpha", pools: ["process", "crunch"],
            jobs: ["queued": 3, "running": 1, "failed": 2], hosts: [
                FleetHostStatus(name: "alpha", heartbeatAge: 0.75, free: 6, running: 1),
                FleetHostStatus(name: "beta", heartbeatAge: 12, free: 0, running: 4),
            ],
            running: 1, claimed: 9, completed: 7, fenced: 1, rescued: 2
        )
        let reply = Reply(id: 1, ok: true, status: status)
        let frame = ReplyCodec.encode(reply)
        #expect(try ReplyCodec.decode(frame) == reply)
        let text = String(decoding: frame, as: UTF8.self)
        for key in [#""queue":"#, #""heartbeat_age":0.75"#, #""connected":false"#, #""rescued":2"#, #""fenced":1"#] {
            #expect(text.contains(key), "\(key) in \(text)")
        }
        // A status without a queue says nothing of one.
        status.queue = nil
        #expect(!String(decoding: ReplyCodec.encode(Reply(id: 1, ok: true, status: status)), as: UTF8.self).contains("queue\""))
    }

    @Test func theNewErrorCodesHaveTheirClasses() {
        #expect(ErrorCode.noQueue.isRequestError)
        #expect(!ErrorCode.queueUnavailable.isRequestError)
        #expect(!ErrorCode.cancelled.isRequestError)
        #expect(!ErrorCode.leaseExpired.isRequestError)
        #expect(ErrorCode.noQueue.rawValue == "no_queue" && ErrorCode.queueUnavailable.rawValue == "queue_unavailable")
        #expect(ErrorCode.leaseExpired.rawValue == "lease_expired")
        #expect(JobState.allCases.filter(\.isFinal) == [.succeeded, .failed, .cancelled])
    }
}
