import ConcProtocol
import Testing

@Suite struct ReplyCodecTests {
    @Test func repliesRoundTrip() throws {
        let replies = [
            Reply(id: 1, ok: true, value: .integer(49_999_995_000_000), kind: .cpu, pool: .process, worker: "process-0", workerPID: 123, wallMicroseconds: 9),
            Reply(id: 2, ok: true, value: .http(HTTPSummary(status: 200, bytes: 37, timeMicroseconds: 400)), kind: .io, pool: .thread, worker: "thread-1"),
            Reply(id: 3, ok: true, value: nil, kind: .noop, pool: .async, worker: "async"),
            Reply(id: nil, ok: false, error: WireError(.frameTooLarge, "too long")),
            Reply(id: 4, ok: true, version: 1),
            Reply(id: 5, ok: true, status: DaemonStatus(pid: 1, version: "0.1.0", uptimeSeconds: 1.5, socket: "/x", pools: [
                PoolStatus(kind: .process, size: 2, busy: 1, idle: 1, queued: 0, queueLimit: 10, completed: 3, failed: 1,
                           workers: [WorkerStatus(name: "process-0", pid: 7, busy: true, tasks: 3)]),
            ])),
        ]
        for reply in replies {
            #expect(try ReplyCodec.decode(ReplyCodec.encode(reply)) == reply)
        }
    }

    @Test func aTaskReplyIsTheGeneralOneWithTheSameFields() {
        let error = WireError(.workerDied, "worker died")
        #expect(
            Reply(task: 7, ok: false, value: nil, kind: .cpu, pool: .process, worker: "process-1", workerPID: 99, wallMicroseconds: 5, error: error, attempts: 2)
                == Reply(id: 7, ok: false, kind: .cpu, pool: .process, worker: "process-1", workerPID: 99, wallMicroseconds: 5, error: error, attempts: 2)
        )
        #expect(
            Reply(task: nil, ok: true, value: .integer(3), kind: .noop, pool: .async, worker: "async", workerPID: nil, wallMicroseconds: 0, error: nil, attempts: nil)
                == Reply(id: nil, ok: true, value: .integer(3), kind: .noop, pool: .async, worker: "async", wallMicroseconds: 0)
        )
    }

    @Test func fieldNamesAreTheDocumentedOnes() {
        let reply = Reply(id: 7, ok: false, kind: .cpu, pool: .process, worker: "process-1", workerPID: 99, wallMicroseconds: 5,
                          error: WireError(.workerDied, "worker died"))
        let text = String(decoding: ReplyCodec.encode(reply), as: UTF8.self)
        #expect(text == #"{"error":{"code":"worker_died","message":"worker died"},"id":7,"kind":"cpu","ok":false,"pool":"process","wall_us":5,"worker":"process-1","worker_pid":99}"#)
        #expect(!text.contains("\n"))
    }

    @Test func everyErrorCodeIsDistinctAndSnakeCase() {
        let names = ErrorCode.allCases.map(\.rawValue)
        #expect(Set(names).count == names.count)
        for name in names {
            #expect(name.allSatisfy { $0.isLowercase || $0 == "_" }, "\(name)")
        }
    }
}
