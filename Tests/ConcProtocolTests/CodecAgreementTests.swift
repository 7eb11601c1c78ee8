import ConcProtocol
import Foundation
import NIOCore
import Testing

/// The codecs read and write the common frames by hand; these tests hold them to Foundation's coders,
/// which remain the reference (and still handle every frame the hand-written path leaves alone).
@Suite struct CodecAgreementTests {
    private static let awkwardStrings = [
        "plain", "", "quote \" and backslash \\", "slash / stays", "tab\tnew\nline\rreturn", "bell \u{07} nul \u{00} esc \u{1B}",
        "\u{08}\u{0C}\u{1F}\u{7F}", "naïve café — ✓ 𝄞", "GET http://127.0.0.1:8080/x?y=1 failed: Couldn't connect",
    ]

    private static func foundationText(_ reply: Reply) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try encoder.encode(reply), as: UTF8.self)
    }

    private static var replies: [Reply] {
        var replies = [
            Reply(id: 1, ok: true, value: .integer(49_999_995_000_000), kind: .cpu, pool: .process, worker: "process-0", workerPID: 123, wallMicroseconds: 9),
            Reply(id: 2, ok: true, value: .http(HTTPSummary(status: 200, bytes: 37, timeMicroseconds: 400)), kind: .io, pool: .thread, worker: "thread-1"),
            Reply(id: 3, ok: true, value: nil, kind: .noop, pool: .async, worker: "async", wallMicroseconds: 0),
            Reply(id: 3, ok: true, value: .empty, kind: .noop, pool: .async, worker: "async"),
            Reply(id: nil, ok: false, error: WireError(.frameTooLarge, "too long")),
            Reply(id: UInt64.max, ok: true, version: 1),
            Reply(id: 0, ok: true, value: .integer(Int64.min), workerPID: Int32.min, wallMicroseconds: UInt64.max),
            Reply(id: 9, ok: true, value: .integer(-1), version: -3),
            Reply(id: 10, ok: true, value: .integer(45), kind: .cpu, pool: .process, worker: "process-1", workerPID: 7, wallMicroseconds: 5, attempts: 2),
            Reply(id: 11, ok: false, kind: .sleep, pool: .process, error: WireError(.poisoned, "sleep 1 killed 3 workers"), attempts: 3),
            Reply(id: 12, ok: true, detail: "resized the process pool from 2 to 3"),
            Reply(id: 13, ok: true, metrics: "concd_uptime_seconds 1.5\n"),
            Reply(id: 14, ok: true, detail: "stored; concctl wait 5 gives its result", jobID: 5),
            Reply(id: 15, ok: false, error: WireError(.cancelled, "job 3 was cancelled"), jobID: Int64.max),
            Reply(id: nil, ok: true, kind: .noop, pool: .thread, worker: "thread-2", wallMicroseconds: 3, jobID: 1),
        ]
        for text in awkwardStrings {
            replies.append(Reply(id: 4, ok: false, kind: .io, pool: .thread, worker: text, error: WireError(.httpFailed, text)))
            replies.append(Reply(id: 16, ok: true, detail: text, jobID: -1))
        }
        return replies
    }

    @Test func replyTextIsFoundationsText() throws {
        for reply in Self.replies {
            #expect(String(decoding: ReplyCodec.encode(reply), as: UTF8.self) == (try Self.foundationText(reply)))
        }
    }

    /// The in-place writer (room reserved for the worst case, then written through a pointer) gives
    /// the array writer's text, line after line, escapes included, and long outputs take the array path.
    @Test func replyLinesWrittenInPlaceAreTheSameText() throws {
        var replies = Self.replies
        let escapes = String(repeating: "\u{01}\"\\", count: 5_000)
        for text in Self.awkwardStrings + [escapes, String(repeating: "x", count: 70_000)] {
            let result = CommandResult(exitCode: 1, signal: nil, stdout: text, stderr: text, stdoutDropped: 3, stderrDropped: 0, timeMicroseconds: 9)
            replies.append(Reply(id: 17, ok: true, value: .command(result), kind: .exec, pool: .process, worker: text))
            replies.append(Reply(id: 18, ok: false, error: WireError(.httpFailed, text), attempts: 2))
        }
        replies.append(Reply(id: 19, ok: true, value: .json(try #require(JSONText(parsing: #"{"a": [1, "x\u00e9"]}"#))), kind: .call, pool: PoolName(rawValue: "py")))
        for reply in replies {
            let text = ReplyCodec.encode(reply) + [UInt8(ascii: "\n")]
            var buffer = ByteBufferAllocator().buffer(capacity: 0)
            ReplyCodec.encode(reply, appendingLineTo: &buffer)
            ReplyCodec.encode(reply, appendingLineTo: &buffer)
            #expect(Array(buffer.readableBytesView) == text + text)
        }
    }

    @Test func replyReadingAgreesWithFoundation() throws {
        var frames = try Self.replies.map { Array(try Self.foundationText($0).utf8) }
        frames += [
            #"{"ok":true,"id":5,"value":null,"kind":null}"#, #" { "id" : 6 , "ok" : false } "#, #"{"id":7,"ok":true,"extra":[1,2]}"#,
            #"{"id":-1,"ok":true}"#, #"{"id":1.5,"ok":true}"#, #"{"ok":"yes"}"#, #"{"id":1}"#, #"{"id":1,"ok":true,"kind":"warp"}"#,
            #"{"id":1,"ok":true,"value":18446744073709551615}"#, #"{"id":1,"ok":true,"worker_pid":4294967296}"#,
            #"{"id":1,"ok":true,"id":2}"#, #"{"id":01,"ok":true}"#, #"{"id":1,"ok":true}x"#, #"{"id":1,"ok":tru}"#,
            #"{"id":1,"ok":true,"error":{"code":"busy"}}"#, #"{"id":1,"ok":true,"value":{"status":200,"bytes":1}}"#,
            #"{"id":1,"ok":true,"job_id":"7"}"#, #"{"id":1,"ok":true,"job_id":1.5}"#, #"{"id":1,"ok":true,"detail":7}"#,
            #"{"id":1,"ok":true,"job_id":9223372036854775808}"#,
        ].map { Array($0.utf8) }
        for frame in frames {
            let ours = try? ReplyCodec.decode(frame)
            let theirs = try? JSONDecoder().decode(Reply.self, from: Data(frame))
            #expect(ours == theirs, "\(String(decoding: frame, as: UTF8.self))")
        }
    }

    /// An unknown key sends a frame down Foundation's path; the answer must not change.
    @Test(arguments: [
        #"{"v":1,"id":4242,"op":"submit","kind":"noop","pool":"thread"}"#,
        #"{"v":1,"id":1,"op":"submit","kind":"cpu","n":10000000,"pool":"process","timeout_ms":5000}"#,
        #"{"op":"ping"}"#, #"{"id":null,"op":"status","v":null}"#, #" {"id" : 7 , "op":"ping" } "#,
        #"{"op":"submit","kind":"cpu","n":-5}"#, #"{"op":"submit","kind":"cpu","n":"ten"}"#,
        #"{"op":"submit","kind":"cpu","n":1.5}"#, #"{"op":"submit","kind":"cpu","n":1e3}"#,
        #"{"op":"submit","kind":"cpu","n":99999999999999999999999999}"#, #"{"op":"submit","kind":"cpu","n":9223372036854775808}"#,
        #"{"op":"submit","kind":"cpu","n":-9223372036854775808}"#, #"{"op":"submit","kind":"cpu","n":4294967297}"#,
        #"{"op":"submit","kind":"teleport","n":1}"#, #"{"op":"dance"}"#, #"{"id":1}"#, #"{"op":"ping","v":2}"#,
        #"{"op":"ping","v":-1}"#, #"{"op":"ping","id":-1}"#, #"{"op":"ping","id":18446744073709551615}"#,
        #"{"op":"ping","id":18446744073709551616}"#, #"{"op":"submit","kind":"io","url":"http://127.0.0.1/","pool":"async"}"#,
        #"{"op":"submit","kind":"io","url":"http:\/\/127.0.0.1\/"}"#, #"{"op":"submit","kind":"sleep","ms":1,"timeout_ms":0}"#,
        #"{"op":"ping","id":1,"id":2}"#, #"{"op":"ping","id":01}"#, #"{"op":true}"#, #"{"op":"ping","kind":{"a":1}}"#,
        #"{"op":"submit","kind":"noop","pool":"thread","timeout_ms":-0}"#,
        #"{"op":"submit","kind":"cpu","n":1,"retries":3}"#, #"{"op":"submit","kind":"cpu","n":1,"retries":11}"#,
        #"{"op":"resize","pool":"thread","size":4}"#, #"{"op":"resize","pool":"thread","size":"4"}"#,
        #"{"op":"kill_worker","pid":42}"#, #"{"op":"kill_worker","pid":-1}"#, #"{"op":"metrics"}"#, #"{"op":"reload"}"#,
        #"{"v":1,"id":3,"op":"submit","kind":"noop","durable":true,"detach":true}"#,
        #"{"op":"submit","kind":"cpu","n":5,"durable":true,"attempts":3,"pool":"process"}"#,
        #"{"op":"submit","kind":"noop","durable":"yes"}"#, #"{"op":"submit","kind":"noop","durable":1}"#,
        #"{"op":"submit","kind":"noop","durable":true,"attempts":0}"#, #"{"op":"submit","kind":"noop","detach":true}"#,
        #"{"op":"submit","kind":"noop","durable":false,"attempts":2}"#, #"{"op":"submit","kind":"noop","durable":null,"detach":false}"#,
        #"{"op":"job","job":12}"#, #"{"op":"wait","job":0}"#, #"{"op":"cancel","job":"12"}"#, #"{"op":"cancel"}"#,
        #"{"op":"jobs","state":"queued","limit":5}"#, #"{"op":"jobs","state":"asleep"}"#, #"{"op":"jobs","limit":0}"#,
        #"{"op":"jobs","state":3}"#,
        // Every op, kind and built-in pool name the fast reader matches as bytes, and near misses.
        #"{"op":"status"}"#, #"{"op":"shutdown"}"#, #"{"op":"wait","job":3}"#, #"{"op":"resize","pool":"process","size":2}"#,
        #"{"op":"resize","pool":"async","size":2}"#, #"{"op":"resize","pool":"mine","size":2}"#, #"{"op":"resize","size":2}"#,
        #"{"op":"statux"}"#, #"{"op":"submiT"}"#, #"{"op":"reloadd"}"#, #"{"op":"resizx"}"#, #"{"op":"kill_workers"}"#, #"{"op":""}"#,
        #"{"op":"jbo","job":1}"#, #"{"op":"pong"}"#, #"{"op":"wait"}"#, #"{"op":"cancel","job":4}"#,
        #"{"op":"submit","kind":"cpu","n":3}"#, #"{"op":"submit","kind":"io","url":"u"}"#, #"{"op":"submit","kind":"async","url":"u"}"#,
        #"{"op":"submit","kind":"sleep","ms":2}"#, #"{"op":"submit","kind":"exec","argv":["true"]}"#,
        #"{"op":"submit","kind":"call","fn":"f","pool":"py"}"#, #"{"op":"submit","fn":"f","pool":"py"}"#,
        #"{"op":"submit","kind":"cpx","n":3}"#, #"{"op":"submit","kind":"nope"}"#, #"{"op":"submit","kind":"asyncs","url":"u"}"#,
        #"{"op":"submit","kind":"i","url":"u"}"#, #"{"op":"submit"}"#,
        #"{"op":"submit","kind":"noop","pool":"process"}"#, #"{"op":"submit","kind":"noop","pool":"thread"}"#,
        #"{"op":"submit","kind":"noop","pool":"threads"}"#, #"{"op":"submit","kind":"noop","pool":"Async"}"#,
        #"{"op":"submit","kind":"noop","pool":"proces"}"#, #"{"op":"submit","kind":"call","fn":"f","pool":"async"}"#,
    ])
    func requestReadingDoesNotDependOnThePath(text: String) {
        let plain = Self.outcome(text)
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        let widened = "{\"zz_unknown\":0," + trimmed.dropFirst()
        #expect(plain == Self.outcome(widened), "\(text)")
    }

    /// Thousands of keys go to Foundation's reader (the fast one takes 20 at most) and still decode.
    @Test func aFrameOfManyKeysIsStillRead() throws {
        let filler = (0..<3000).map { "\"k\($0)\":\($0)" }.joined(separator: ",")
        let request = try RequestCodec.decode(Array("{\"id\":5,\"op\":\"ping\",\(filler)}".utf8))
        #expect(request == Request(id: 5, operation: .ping))
    }

    private static func outcome(_ text: String) -> Result<Request, RequestDecodingError> {
        Result { () throws(RequestDecodingError) -> Request in try RequestCodec.decode(Array(text.utf8)) }
    }

    @Test func requestsRoundTripThroughBothCoders() throws {
        let requests: [Request] = [
            Request(id: 1, operation: .ping),
            Request(id: nil, operation: .status),
            Request(id: UInt64.max, operation: .submit(try Submission(workload: .cpu(n: 0), pool: .thread, timeoutMilliseconds: 1))),
            Request(id: 3, operation: .submit(try Submission(workload: .io(url: "http://[::1]:8080/a?b=c"), pool: .process))),
            Request(id: 4, operation: .submit(try Submission(workload: .noop, durability: try Durability(detach: true, maxAttempts: 2)))),
            Request(id: 5, operation: .jobs(state: .running, limit: 7)),
            Request(id: 6, operation: .cancelJob(id: 99)),
        ]
        for request in requests {
            let frame = RequestCodec.encode(request)
            #expect(try RequestCodec.decode(frame) == request)
            #expect((try? JSONSerialization.jsonObject(with: Data(frame))) != nil)
        }
    }
}
