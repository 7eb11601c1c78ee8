import Foundation
import Testing

extension BinaryLevelTests {
    /// Bad input gets a typed error (or, for garbage, a closed connection), and the daemon keeps serving.
    @Suite struct BadInputTests {
        private func stillServes(_ daemon: ConcdProcess) throws {
            let result = try daemon.concctl("submit", "cpu", "100")
            #expect(result.status == 0 && result.stdout.hasPrefix("4950 "), "the daemon stopped serving: \(result.stderr)")
        }

        @Test func eachBadRequestGetsItsTypedErrorOnTheSameConnection() async throws {
            try await blocking {
                let daemon = try ConcdProcess()
                defer { daemon.stop() }
                let connection = try RawConnection(path: daemon.socketPath)
                let cases: [(String, String)] = [
                    (#"{"id":1,"op":"submit","kind":"teleport","n":1}"#, "unknown_kind"),
                    (#"{"id":2,"op":"submit","kind":"cpu","n":-1}"#, "invalid_argument"),
                    (#"{"id":3,"op":"submit","kind":"cpu","n":"many"}"#, "bad_request"),
                    (#"{"id":4,"op":"submit","kind":"io","url":"http//oops"}"#, "invalid_argument"),
                    (#"{"id":5,"op":"submit","kind":"cpu","n":5000000000}"#, "overflow"),
                    (#"{"id":6,"op":"fly"}"#, "unknown_op"),
                    (#"{"id":7,"op":"ping","v":99}"#, "unsupported_version"),
                    (#"{this is not json"#, "invalid_json"),
                    (#"{"id":8,"op":"submit","kind":"io","url":"http://127.0.0.1:1/"}"#, "http_failed"),
                    (#"{"id":9,"op":"submit","kind":"async","url":"http://127.0.0.1:1/"}"#, "http_failed"),
                ]
                for (request, expected) in cases {
                    connection.send(request + "\n")
                    let reply = connection.readLine()
                    #expect(errorCode(reply) == expected, "\(request) -> \(reply ?? "nothing")")
                    #expect(json(reply)?["ok"] as? Bool == false)
                }
                // The same connection still works after all of that.
                connection.send(#"{"id":10,"op":"submit","kind":"cpu","n":10}"# + "\n")
                #expect(json(connection.readLine())?["value"] as? Int == 45)
                try stillServes(daemon)
            }
        }

        @Test func anOversizedFrameIsRefusedAndTheConnectionClosed() async throws {
            try await blocking {
                let daemon = try ConcdProcess()
                defer { daemon.stop() }
                let connection = try RawConnection(path: daemon.socketPath)
                connection.send(#"{"op":"submit","kind":"io","url":"http://x/"# + String(repeating: "a", count: 70_000) + "\"}\n")
                #expect(errorCode(connection.readLine()) == "frame_too_large")
                #expect(connection.isClosedByPeer())
                try stillServes(daemon)
            }
        }

        @Test func aConnectionThatSendsNothingButRejectedFramesIsClosedAfterAHundredInARow() async throws {
            try await blocking {
                let daemon = try ConcdProcess()
                defer { daemon.stop() }
                let connection = try RawConnection(path: daemon.socketPath)
                // 99 bad frames, a good one, 99 bad: the count starts again, the connection serves on.
                connection.send(String(repeating: "nope\n", count: 99) + #"{"id":1,"op":"ping"}"# + "\n")
                connection.send(String(repeating: "[1]\n", count: 99))
                var codes: [String: Int] = [:]
                for _ in 0..<199 { codes[errorCode(connection.readLine()) ?? "ok", default: 0] += 1 }
                #expect(codes == ["invalid_json": 198, "ok": 1], "\(codes)")
                connection.send(#"{"id":2,"op":"ping"}"# + "\n")
                #expect(json(connection.readLine())?["ok"] as? Bool == true)
                // A hundred in a row: each answered, then too_many_rejected without an id, and closed.
                connection.send(String(repeating: "nope\n", count: 100) + #"{"id":3,"op":"ping"}"# + "\n")
                for index in 0..<100 { #expect(errorCode(connection.readLine()) == "invalid_json", "reply \(index)") }
                let last = connection.readLine()
                #expect(errorCode(last) == "too_many_rejected" && json(last)?["id"] == nil, "\(last ?? "nothing")")
                #expect(connection.isClosedByPeer())
                try stillServes(daemon)
            }
        }

        @Test func randomBytesAreAnsweredOrCutOffAndHarmNoOne() async throws {
            try await blocking {
                let daemon = try ConcdProcess()
                defer { daemon.stop() }
                let bystander = try RawConnection(path: daemon.socketPath)
                var generator = SystemRandomNumberGenerator()
                for round in 0..<20 {
                    let connection = try RawConnection(path: daemon.socketPath)
                    let length = round == 0 ? 200_000 : Int.random(in: 1...4096, using: &generator)
                    connection.send((0..<length).map { _ in UInt8.random(in: 0...255, using: &generator) })
                    connection.send("\n")
                    // Every line that comes back is a typed error; then the daemon may close the connection.
                    while let line = connection.readLine(seconds: 0.5) {
                        #expect(errorCode(line) != nil, "garbage got a non-error reply: \(line)")
                    }
                }
                bystander.send(#"{"id":1,"op":"ping"}"# + "\n")
                #expect(json(bystander.readLine())?["ok"] as? Bool == true)
                try stillServes(daemon)
            }
        }

        @Test func aClientThatDisconnectsMidRequestLosesOnlyItsOwnReply() async throws {
            try await blocking {
                let daemon = try ConcdProcess(arguments: ["--process-workers", "1"])
                defer { daemon.stop() }
                do {
                    let leaving = try RawConnection(path: daemon.socketPath)
                    leaving.send(#"{"id":1,"op":"submit","kind":"sleep","ms":300,"pool":"process"}"# + "\n")
                    leaving.send(#"{"id":2,"op":"submit","kind":"sleep","ms":300}"# + "\n")
                    leaving.send(#"{"id":3,"op":"submit","kind":"sleep","ms":300,"pool":"async"}"# + "\n")
                }
                try stillServes(daemon)
                usleep(500_000)
                let status = try #require(json(try daemon.concctl("status", "--json").stdout))
                let pools = try #require(status["pools"] as? [[String: Any]])
                #expect(pools.allSatisfy { $0["busy"] as? Int == 0 })
                let completed = pools.compactMap { $0["completed"] as? Int }.reduce(0, +)
                #expect(completed == 4, "the abandoned tasks still ran to completion")
            }
        }

        @Test func concctlMapsErrorsToSentencesAndExitCodes() async throws {
            try await blocking {
                let daemon = try ConcdProcess()
                defer { daemon.stop() }
                let timeout = try daemon.concctl("submit", "sleep", "5000", "--timeout", "0.2")
                #expect(timeout.status == 2)
                #expect(timeout.stderr.contains("[timeout]"))
                let refused = try daemon.concctl("submit", "io", "http://127.0.0.1:1/")
                #expect(refused.status == 1)
                #expect(refused.stderr.contains("[http_failed]"))
                let badPool = try daemon.concctl("submit", "async", "http://127.0.0.1:1/", "--pool", "thread")
                #expect(badPool.status == 64)
                #expect(badPool.stderr.contains("cannot run on the thread pool"))
                let badURL = try daemon.concctl("submit", "io", "not-a-url")
                #expect(badURL.status == 64)
                #expect(badURL.stderr.contains("is not an http:// or https:// URL"))
            }
        }

        @Test func anUnreachableDaemonIsNamedWithHowToStartIt() async throws {
            try await blocking {
                let missing = "/tmp/concd-nowhere-\(getpid()).sock"
                let result = try runCommand(binaryDirectory + "/concctl", ["--socket", missing, "ping"])
                #expect(result.status == 5)
                #expect(result.stderr.contains("cannot reach concd at \(missing)"))
                #expect(result.stderr.contains("systemctl start concd"))
                var environment = ProcessInfo.processInfo.environment
                environment["CONCD_SOCKET"] = missing
                let fromEnvironment = try runCommand(binaryDirectory + "/concctl", ["status"], environment: environment)
                #expect(fromEnvironment.status == 5)
                #expect(fromEnvironment.stderr.contains(missing))
            }
        }
    }
}
