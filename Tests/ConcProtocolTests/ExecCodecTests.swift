import ConcProtocol
import Foundation
import Testing

/// `exec`: the request's argument vector and the command's result, written by the fast writers and
/// read back by the readers (Foundation's for both), and the shapes refused.
@Suite struct ExecCodecTests {
    @Test func anExecRequestRoundTrips() throws {
        let argv = ["convert", "a b.png", "ünïcode \"quoted\"", "\n", ""]
        let submission = try Submission(workload: .exec(argv: argv), timeoutMilliseconds: 5000)
        #expect(submission.resolvedPool == .thread)
        let frame = RequestCodec.encode(Request(id: 9, operation: .submit(submission)))
        let decoded = try RequestCodec.decode(frame)
        #expect(decoded == Request(id: 9, operation: .submit(submission)))
        #expect(decoded.operation.needsCaller && !decoded.operation.isAdmin)
        #expect(!Request.Operation.submit(try Submission(workload: .noop)).needsCaller)
    }

    @Test(arguments: [
        (#"{"op":"submit","kind":"exec"}"#, ErrorCode.badRequest),
        (#"{"op":"submit","kind":"exec","argv":[]}"#, .invalidArgument),
        (#"{"op":"submit","kind":"exec","argv":[""]}"#, .invalidArgument),
        (#"{"op":"submit","kind":"exec","argv":"ls -l"}"#, .badRequest),
        (#"{"op":"submit","kind":"exec","argv":["ls",1]}"#, .badRequest),
        (#"{"op":"submit","kind":"exec","argv":["ls","a\u0000b"]}"#, .invalidArgument),
        (#"{"op":"submit","kind":"exec","argv":["ls"],"pool":"process"}"#, .unsupportedPool),
        (#"{"op":"submit","kind":"exec","argv":["ls"],"pool":"async"}"#, .unsupportedPool),
    ])
    func badExecRequestsAreRefusedWithTheirCode(frame: String, code: ErrorCode) {
        do {
            let request = try RequestCodec.decode(Array(frame.utf8))
            Issue.record("\(frame) was read as \(request)")
        } catch {
            #expect(error.error.code == code, "\(frame): \(error.error)")
        }
    }

    @Test func aCommandsResultRoundTripsThroughBothReaders() throws {
        for result in [
            CommandResult(exitCode: 0, signal: nil, stdout: "out\n\"x\"", stderr: "", stdoutDropped: 12, timeMicroseconds: 345),
            CommandResult(exitCode: nil, signal: 9, stdout: "", stderr: "killed\u{1}", stderrDropped: 3, timeMicroseconds: 1),
        ] {
            let reply = Reply(id: 4, ok: true, value: .command(result), kind: .exec, pool: .thread, worker: "thread-1", wallMicroseconds: 400)
            let fast = ReplyCodec.encode(reply)
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
            // The fast writer writes what JSONEncoder writes, field for field.
            let viaFoundation = try JSONSerialization.jsonObject(with: encoder.encode(reply)) as? NSDictionary
            let viaFast = try JSONSerialization.jsonObject(with: Data(fast)) as? NSDictionary
            #expect(viaFast == viaFoundation)
            #expect(try ReplyCodec.decode(fast) == reply)
            #expect(result.shellStatus == (result.exitCode ?? 128 + 9))
        }
    }

    @Test func aFunctionsValueThatOnlyLooksLikeACommandsStaysJSON() throws {
        // Keys beyond a command's: a call's own value, not a command's result.
        let text = #"{"id":1,"ok":true,"value":{"exit_code":0,"stdout":"","stderr":"","mine":1}}"#
        let reply = try ReplyCodec.decode(Array(text.utf8))
        guard case .json = reply.value else {
            Issue.record("read as \(String(describing: reply.value))")
            return
        }
    }
}
