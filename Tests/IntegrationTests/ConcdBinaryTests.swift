import Foundation
import LoopbackHTTP
import Testing

/// The built concd and concctl binaries, as a user runs them.
extension BinaryLevelTests {
    @Suite struct ConcdBinaryTests {
        @Test func submitCPURunsOnAProcessWorker() async throws {
            try await blocking {
                let daemon = try ConcdProcess()
                defer { daemon.stop() }
                let result = try daemon.concctl("submit", "cpu", "10000000")
                #expect(result.status == 0, "\(result.stderr)")
                #expect(result.stdout.hasPrefix("49999995000000 "))
                #expect(result.stdout.contains("pool=process"))
                #expect(result.stdout.contains("worker=process-"))
                #expect(result.stdout.contains("pid="))
                #expect(result.stdout.contains("wall="))
            }
        }

        @Test func countFourRunsOnFourDistinctWorkersAtOnce() async throws {
            try await blocking {
                let daemon = try ConcdProcess(arguments: ["--process-workers", "4"])
                defer { daemon.stop() }
                // Each loop runs long enough (10^9 additions) that no worker can finish one and take a second.
                let cpu = try daemon.concctl("submit", "cpu", "1000000000", "--count", "4", "--json")
                #expect(cpu.status == 0, "\(cpu.stderr)")
                let summary = try #require(json(cpu.stdout))
                #expect(summary["ok"] as? Int == 4)
                let tasks = try #require(summary["tasks"] as? [[String: Any]])
                #expect(Set(tasks.compactMap { $0["worker_pid"] as? Int }).count == 4)
                #expect(tasks.allSatisfy { $0["value"] as? Int == 499_999_999_500_000_000 })

                // Overlap, not speed: four 600 ms waits on four workers end long before 4 × 600 ms.
                let sleeps = try daemon.concctl("submit", "sleep", "600", "--pool", "process", "--count", "4", "--json")
                let sleepSummary = try #require(json(sleeps.stdout))
                let wall = try #require(sleepSummary["wall_us"] as? Int)
                #expect(wall < 1_800_000, "four sleeps took \(wall) µs: they did not run in parallel")
            }
        }

        @Test func readyComesOnlyAfterEveryPoolIsWarm() async throws {
            try await blocking {
                let daemon = try ConcdProcess(arguments: ["--process-workers", "3"])
                defer { daemon.stop() }
                // READY=1 has been received: the workers must already exist and the socket accept.
                let status = try daemon.concctl("status", "--json")
                #expect(status.status == 0)
                let pools = try #require(json(status.stdout)?["pools"] as? [[String: Any]])
                let workers = try #require(pools.first?["workers"] as? [[String: Any]])
                #expect(workers.compactMap { $0["pid"] as? Int }.count == 3)
                let ready = daemon.notifications.messages.first { $0.contains("READY=1") } ?? ""
                #expect(ready.contains("STATUS=process 0/3 busy"))
            }
        }

        @Test func statusNamesEveryPoolAndWorker() async throws {
            try await blocking {
                let daemon = try ConcdProcess(arguments: ["--process-workers", "2", "--threads", "3"])
                defer { daemon.stop() }
                let text = try daemon.concctl("status")
                #expect(text.status == 0)
                for expected in ["POOL", "process", "thread", "async", "process-0 pid", "process-1 pid"] {
                    #expect(text.stdout.contains(expected), "\(expected) missing from:\n\(text.stdout)")
                }
                let status = try #require(json(try daemon.concctl("status", "--json").stdout))
                #expect(status["pid"] as? Int == Int(daemon.pid))
                #expect(status["version"] as? String != nil)
                #expect(status["uptime_s"] as? Double != nil)
                let pools = try #require(status["pools"] as? [[String: Any]])
                #expect(pools.map { $0["kind"] as? String } == ["process", "thread", "async"])
                for pool in pools {
                    for key in ["size", "busy", "idle", "queued", "completed", "failed"] {
                        #expect(pool[key] as? Int != nil, "\(key)")
                    }
                }
                #expect(pools[1]["size"] as? Int == 3)
            }
        }

        @Test func blockingAndAsyncGETsReachALoopbackServer() async throws {
            let server = try await LoopbackHTTPServer.start()
            let baseURL = server.baseURL
            try await blocking {
                let daemon = try ConcdProcess()
                defer { daemon.stop() }
                let io = try daemon.concctl("submit", "io", baseURL + "/bytes/512", "--json")
                #expect(io.status == 0, "\(io.stderr)")
                let ioReply = try #require(json(io.stdout))
                #expect(ioReply["pool"] as? String == "thread")
                #expect((ioReply["value"] as? [String: Any])?["bytes"] as? Int == 512)

                let onProcesses = try daemon.concctl("submit", "io", baseURL + "/", "--pool", "process", "--count", "4")
                #expect(onProcesses.status == 0, "\(onProcesses.stderr)")

                let many = try daemon.concctl("submit", "async", baseURL + "/delay/100", "--count", "1000", "--json")
                #expect(many.status == 0, "\(many.stderr)")
                let summary = try #require(json(many.stdout))
                #expect(summary["ok"] as? Int == 1000)
                #expect(summary["failed"] as? Int == 0)
            }
            await server.stop()
        }

        @Test func benchMeasuresEveryFigureAgainstItsFloor() async throws {
            try await blocking {
                let result = try runCommand(
                    binaryDirectory + "/concctl",
                    ["bench", "--json", "--rounds", "200", "--pipelined", "2000", "--iterations", "2000000"]
                )
                #expect(result.status == 0, "\(result.stderr)")
                let bench = try #require(json(result.stdout))
                #expect((bench["floor_rtt_us"] as? Double ?? 0) > 0)
                #expect((bench["ready_ms"] as? Double ?? 0) > 0)
                #expect((bench["rss_mb"] as? Double ?? 0) > 0)
                let pools = try #require(bench["pools"] as? [String: [String: Any]])
                #expect(Set(pools.keys) == ["process", "thread", "async"])
                for (name, pool) in pools {
                    for key in ["p50_us", "p99_us", "pipelined_per_s"] {
                        #expect((pool[key] as? Double ?? 0) > 0, "\(name).\(key)")
                    }
                }
                let cpu = try #require(bench["cpu"] as? [String: Any])
                #expect((cpu["ns_per_iter"] as? Double ?? 0) > 0)
                #expect((cpu["scaling"] as? Double ?? 0) > 0)
            }
        }

        @Test func sigtermDrainsAndExitsZero() async throws {
            try await blocking {
                let daemon = try ConcdProcess()
                let pids = try #require(
                    (json(try daemon.concctl("status", "--json").stdout)?["pools"] as? [[String: Any]])?.first?["workers"] as? [[String: Any]]
                ).compactMap { $0["pid"] as? Int32 }
                #expect(daemon.stop() == 0)
                #expect(daemon.notifications.waitFor("STOPPING=1", seconds: 1))
                for pid in pids { #expect(kill(pid, 0) == -1, "worker \(pid) outlived the daemon") }
                #expect(!FileManager.default.fileExists(atPath: daemon.socketPath))
            }
        }
    }
}
