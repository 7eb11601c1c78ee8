import ConcBench
import Foundation
import Testing

extension BinaryLevelTests {
    /// Floods, idle crowds, malformed frames and unprivileged callers: each gets a clear outcome,
    /// memory stays bounded, and the daemon keeps serving everyone else.
    @Suite struct AdversityTests {
        /// 100× (and more) the submissions a pool can hold: each is answered, at once with `busy`
        /// when the queue is full, and memory does not grow with the flood.
        @Test func aFloodOfSubmissionsIsAnsweredBusyWithBoundedMemory() async throws {
            try await blocking {
                let daemon = try ConcdProcess(
                    arguments: ["--process-workers", "2", "--threads", "4", "--queue-limit", "16", "--async-limit", "20"],
                    // A thread pool that does not grow, so that what it can hold is known.
                    environment: ["CONCD_POOLS_THREAD_MAX_THREADS": "4"]
                )
                defer { daemon.stop() }
                let floods: [(pool: String, count: Int, capacity: Int)] = [
                    ("thread", 100_000, 4 + 16), ("process", 20_000, 2 + 16), ("async", 20_000, 20),
                ]
                let rssBefore = residentKiB(of: daemon.pid)
                for flood in floods {
                    let connection = try RawConnection(path: daemon.socketPath)
                    var frames = [UInt8]()
                    frames.reserveCapacity(flood.count * 80)
                    for id in 0..<flood.count {
                        frames += Array(#"{"id":\#(id),"op":"submit","kind":"sleep","ms":500,"pool":"\#(flood.pool)"}"#.utf8) + [10]
                    }
                    let sent = connection.sendInBackground(frames)
                    defer { sent.wait() }
                    var ok = 0
                    var busy = 0
                    var other: [String] = []
                    while ok + busy + other.count < flood.count, let line = connection.readLine(seconds: 30) {
                        let reply = json(line)
                        if reply?["ok"] as? Bool == true {
                            ok += 1
                        } else if errorCode(line) == "busy" {
                            busy += 1
                        } else {
                            other.append(line)
                        }
                    }
                    #expect(ok + busy == flood.count, "\(flood.pool): \(ok) ok, \(busy) busy, unexpected: \(other.prefix(3))")
                    // Everything the pool could hold ran; the rest was refused, not queued.
                    #expect(ok >= flood.capacity && ok <= flood.capacity * 3, "\(flood.pool): \(ok) ran")
                }
                let rssAfter = residentKiB(of: daemon.pid)
                #expect(rssAfter < rssBefore + 200 * 1024, "RSS grew from \(rssBefore) KiB to \(rssAfter) KiB")
                print("flood: daemon RSS \(rssBefore) KiB before, \(rssAfter) KiB after 140,000 submissions")
                let status = try #require(json(try daemon.concctl("status", "--json").stdout))
                let pools = try #require(status["pools"] as? [[String: Any]])
                #expect(pools.allSatisfy { $0["queued"] as? Int == 0 && $0["busy"] as? Int == 0 }, "\(pools)")
            }
        }

        /// Thousands of connections that never send anything cost the daemon little and block no one.
        @Test func thousandsOfIdleConnectionsDoNotStopOthers() async throws {
            try await blocking {
                var limit = rlimit()
                getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
                limit.rlim_cur = limit.rlim_max
                setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
                let wanted = min(5000, Int(limit.rlim_cur) - 200)
                let daemon = try ConcdProcess()
                defer { daemon.stop() }
                let rssBefore = residentKiB(of: daemon.pid)
                var idle: [RawConnection] = []
                for _ in 0..<wanted { idle.append(try RawConnection(path: daemon.socketPath)) }
                let ping = try daemon.concctl("ping")
                #expect(ping.status == 0, "\(ping.stderr)")
                let work = try daemon.concctl("submit", "cpu", "1000", "--count", "10")
                #expect(work.status == 0, "\(work.stderr)")
                let rssAfter = residentKiB(of: daemon.pid)
                print("idle: \(wanted) idle connections cost the daemon \(max(0, rssAfter - rssBefore)) KiB")
                #expect(rssAfter - rssBefore < wanted * 64, "more than 64 KiB per idle connection")
                // They are still served when they finally speak.
                idle[wanted / 2].send(#"{"id":5,"op":"ping"}"# + "\n")
                #expect(json(idle[wanted / 2].readLine())?["ok"] as? Bool == true)
                idle.removeAll()
                #expect(try daemon.concctl("ping").status == 0)
            }
        }

        @Test func malformedFramesEachGetAClearOutcome() async throws {
            try await blocking {
                let daemon = try ConcdProcess()
                defer { daemon.stop() }
                let connection = try RawConnection(path: daemon.socketPath)
                let nested = String(repeating: "[", count: 20_000) + String(repeating: "]", count: 20_000)
                let cases: [([UInt8], String)] = [
                    // Invalid UTF-8 inside a string.
                    (Array(#"{"id":1,"op":"submit","kind":"io","url":"http://127.0.0.1/"#.utf8) + [0xFF, 0xFE] + Array(#""}"#.utf8), "invalid_json"),
                    // Deeply nested arrays, as a field and as the whole frame.
                    (Array((#"{"id":2,"op":"ping","x":"# + nested + "}").utf8), "invalid_json"),
                    (Array(nested.utf8), "invalid_json"),
                    // Numbers too big for any integer type.
                    (Array(#"{"id":3,"op":"submit","kind":"cpu","n":1e400}"#.utf8), "bad_request"),
                    (Array(#"{"id":4,"op":"submit","kind":"cpu","n":123456789012345678901234567890}"#.utf8), "invalid_argument"),
                    (Array(#"{"id":5,"op":"submit","kind":"sleep","ms":-9223372036854775809}"#.utf8), "invalid_argument"),
                    (Array(#"{"id":18446744073709551616,"op":"ping"}"#.utf8), "bad_request"),
                    // A frame cut short, then a newline.
                    (Array(#"{"id":6,"op":"subm"#.utf8), "invalid_json"),
                    // Admin operations with bad arguments.
                    (Array(#"{"id":7,"op":"resize","pool":"process","size":0}"#.utf8), "invalid_argument"),
                    (Array(#"{"id":8,"op":"kill_worker","pid":"all"}"#.utf8), "bad_request"),
                    (Array(#"{"id":9,"op":"submit","kind":"cpu","n":1,"retries":11}"#.utf8), "invalid_argument"),
                ]
                for (frame, expected) in cases {
                    connection.send(frame + [10])
                    let reply = connection.readLine()
                    #expect(errorCode(reply) == expected, "\(String(decoding: frame.prefix(80), as: UTF8.self)) -> \(reply ?? "nothing")")
                }
                // A final frame without its newline is never answered, and costs nothing.
                let truncated = try RawConnection(path: daemon.socketPath)
                truncated.send(#"{"id":1,"op":"ping"}"#)
                #expect(truncated.readLine(seconds: 0.5) == nil)
                connection.send(#"{"id":10,"op":"submit","kind":"cpu","n":10}"# + "\n")
                #expect(json(connection.readLine())?["value"] as? Int == 45)
            }
        }

        @Test func adminCommandsNeedRootOrTheDaemonsUserAndAreAudited() async throws {
            try await blocking {
                let daemon = try ConcdProcess(arguments: ["--process-workers", "2"])
                defer { daemon.stop() }
                let resized = try daemon.concctl("resize", "process", "3")
                #expect(resized.status == 0 && resized.stdout.contains("from 2 to 3"), "\(resized.stderr)")
                #expect(try processWorkers(daemon).count == 3)
                let victim = try #require(try processWorkers(daemon).first)
                let killed = try daemon.concctl("kill-worker", "\(victim.pid)")
                #expect(killed.status == 0 && killed.stdout.contains("SIGKILL"), "\(killed.stderr)")
                try waitForFullPool(daemon, size: 3, excluding: victim.pid)
                let unknown = try daemon.concctl("kill-worker", "1")
                #expect(unknown.status == 4 && unknown.stderr.contains("[not_found]"), "\(unknown.stderr)")
                #expect(daemon.log.contains("event=admin") && daemon.log.contains("caller_uid=\(geteuid())"))

                // Someone else who can open the socket may submit, but not administer.
                if geteuid() == 0, FileManager.default.isExecutableFile(atPath: "/usr/bin/setpriv") {
                    chmod(daemon.directory, 0o711)
                    chmod(daemon.socketPath, 0o666)
                    let asNobody = ["--reuid=65534", "--regid=65534", "--clear-groups", binaryDirectory + "/concctl", "--socket", daemon.socketPath]
                    let submit = try runCommand("/usr/bin/setpriv", asNobody + ["submit", "cpu", "100"])
                    if submit.status == 0 {
                        let refused = try runCommand("/usr/bin/setpriv", asNobody + ["resize", "process", "1"])
                        #expect(refused.status == 7, "\(refused.stderr)")
                        #expect(refused.stderr.contains("[permission_denied]") && refused.stderr.contains("uid 65534"))
                        #expect(try processWorkers(daemon).count == 3, "a refused resize changed nothing")
                        #expect(daemon.log.contains("outcome=refused") && daemon.log.contains("caller_uid=65534"))
                    } else {
                        // The build folder is not readable by nobody here; the refusal is then not testable.
                        print("admin: skipped the unprivileged caller: \(submit.stderr)")
                    }
                }

                let shutdown = try daemon.concctl("shutdown")
                #expect(shutdown.status == 0, "\(shutdown.stderr)")
                #expect(daemon.waitForExit(seconds: 20) == 0)
            }
        }
    }
}

