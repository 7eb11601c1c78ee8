import ConcBench
import Foundation
import Testing

extension BinaryLevelTests {
    /// What concd tells systemd, read from a datagram socket standing in for NOTIFY_SOCKET.
    @Suite struct SystemdProtocolTests {
        private func poolSizes(_ daemon: ConcdProcess) throws -> [Int] {
            let status = try #require(json(try daemon.concctl("status", "--json").stdout))
            return (status["pools"] as? [[String: Any]] ?? []).compactMap { $0["size"] as? Int }
        }

        /// The first two pools' sizes once they are `expected`, or as they are after five seconds:
        /// surplus threads and workers leave between tasks, just after the reload's READY=1.
        private func poolSizes(_ daemon: ConcdProcess, settlingOn expected: [Int]) throws -> [Int] {
            var sizes = Array(try poolSizes(daemon).prefix(2))
            for _ in 0..<100 where sizes != expected {
                usleep(50_000)
                sizes = Array(try poolSizes(daemon).prefix(2))
            }
            return sizes
        }

        /// A thread pool of a fixed size (max_threads = threads), so that a reload's shrink is
        /// immediate rather than after the idle time (ThreadPoolTests cover the elastic pool's).
        private func writeConfig(_ path: String, workers: Int, threads: Int) throws {
            let yaml = """
                pools:
                  process:
                    workers: \(workers)
                  thread:
                    threads: \(threads)
                    max_threads: \(threads)
                queue_limit: 500
                """
            try yaml.write(toFile: path, atomically: true, encoding: .utf8)
        }

        @Test func sighupReloadsAndResizesWithoutDroppingTasks() async throws {
            try await blocking {
                let directory = NSTemporaryDirectory() + "concd-reload-\(getpid())"
                try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
                defer { try? FileManager.default.removeItem(atPath: directory) }
                let config = directory + "/concd.yaml"
                try writeConfig(config, workers: 3, threads: 5)
                let daemon = try ConcdProcess(arguments: ["--config", config])
                defer { daemon.stop() }
                #expect(try poolSizes(daemon).prefix(2) == [3, 5])

                // Tasks in flight on every worker while the pool shrinks: each must still be answered.
                let inFlight = Thread.detachedResult {
                    try? daemon.concctl("submit", "sleep", "800", "--pool", "process", "--count", "6", "--json")
                }
                usleep(200_000)
                try writeConfig(config, workers: 1, threads: 2)
                kill(daemon.pid, SIGHUP)
                #expect(daemon.notifications.waitFor("RELOADING=1", seconds: 10))
                let reloading = daemon.notifications.messages.last { $0.contains("RELOADING=1") } ?? ""
                #expect(reloading.contains("MONOTONIC_USEC="))
                #expect(daemon.notifications.waitFor("READY=1", seconds: 10, after: reloading))
                #expect(try poolSizes(daemon, settlingOn: [1, 2]) == [1, 2])
                let summary = try #require(json(inFlight.value?.stdout))
                #expect(summary["ok"] as? Int == 6, "tasks were lost while the pool shrank")

                // A broken file keeps the running configuration.
                try "pools: [".write(toFile: config, atomically: true, encoding: .utf8)
                kill(daemon.pid, SIGHUP)
                let second = daemon.notifications.messages.count
                #expect(daemon.notifications.waitFor("READY=1", seconds: 10, afterIndex: second))
                #expect(try poolSizes(daemon, settlingOn: [1, 2]) == [1, 2])
                #expect(daemon.log.contains("reload failed; keeping the running configuration"))

                // And growing works too.
                try writeConfig(config, workers: 4, threads: 3)
                kill(daemon.pid, SIGHUP)
                let third = daemon.notifications.messages.count
                #expect(daemon.notifications.waitFor("READY=1", seconds: 10, afterIndex: third))
                #expect(try poolSizes(daemon, settlingOn: [4, 3]) == [4, 3])
                #expect(try daemon.concctl("submit", "cpu", "1000", "--count", "8").status == 0)
            }
        }

        @Test func aBadConfigurationStopsStartWithExit78() async throws {
            try await blocking {
                let path = NSTemporaryDirectory() + "concd-bad-\(getpid()).yaml"
                try "pools:\n  process:\n    workers: lots\n".write(toFile: path, atomically: true, encoding: .utf8)
                defer { try? FileManager.default.removeItem(atPath: path) }
                let result = try runCommand(binaryDirectory + "/concd", ["--config", path, "--socket", "/tmp/concd-never.sock"])
                #expect(result.status == 78)
                #expect(result.stderr.contains("pools.process.workers must be a whole number, got 'lots'"))
            }
        }

        @Test func watchdogPingsStopWhenTheDaemonIsFrozen() async throws {
            try await blocking {
                let daemon = try ConcdProcess(environment: ["WATCHDOG_USEC": "400000"])
                defer {
                    kill(daemon.pid, SIGCONT)
                    daemon.stop()
                }
                #expect(daemon.notifications.waitFor("WATCHDOG=1", seconds: 5))
                kill(daemon.pid, SIGSTOP)
                usleep(300_000)
                // Whatever was sent before the stop is read and set aside first.
                _ = daemon.notifications.waitFor(containing: "\u{0}", seconds: 0.2)
                let before = daemon.notifications.messages.count
                #expect(!daemon.notifications.waitFor("WATCHDOG=1", seconds: 1.5, afterIndex: before))
                kill(daemon.pid, SIGCONT)
                #expect(daemon.notifications.waitFor("WATCHDOG=1", seconds: 5, afterIndex: daemon.notifications.messages.count))
            }
        }

        @Test func watchdogKeepsPingingWhileEveryWorkerIsBusy() async throws {
            try await blocking {
                let daemon = try ConcdProcess(
                    arguments: ["--process-workers", "1", "--threads", "1"], environment: ["WATCHDOG_USEC": "400000"]
                )
                defer { daemon.stop() }
                #expect(daemon.notifications.waitFor("WATCHDOG=1", seconds: 5))
                // Both blocking pools saturated for 2.5 s, with more work queued behind: busy, not hung.
                let thread = Thread.detachedResult { try? daemon.concctl("submit", "sleep", "2500", "--count", "2") }
                let process = Thread.detachedResult {
                    try? daemon.concctl("submit", "sleep", "2500", "--pool", "process", "--count", "2")
                }
                usleep(500_000)
                let before = daemon.notifications.messages.count
                #expect(daemon.notifications.waitFor("WATCHDOG=1", seconds: 1, afterIndex: before))
                usleep(1_000_000)
                let later = daemon.notifications.messages.count
                #expect(daemon.notifications.waitFor("WATCHDOG=1", seconds: 1, afterIndex: later))
                _ = thread.value
                _ = process.value
            }
        }

        @Test func statusLineFollowsTheLoad() async throws {
            try await blocking {
                let daemon = try ConcdProcess()
                defer { daemon.stop() }
                #expect(try daemon.concctl("submit", "cpu", "1000", "--count", "200").status == 0)
                let busy = Thread.detachedResult { try? daemon.concctl("submit", "sleep", "3000", "--count", "3") }
                #expect(daemon.notifications.waitFor(containing: "thread 3/", seconds: 8))
                let line = daemon.notifications.messages.last { $0.contains("STATUS=") } ?? ""
                #expect(line.contains("tasks/s"))
                _ = busy.value
            }
        }

        @Test func sigtermWithWorkInFlightExtendsTheTimeoutAndFinishesIt() async throws {
            try await blocking {
                let daemon = try ConcdProcess()
                let running = Thread.detachedResult { try? daemon.concctl("submit", "sleep", "2500", "--json") }
                usleep(300_000)
                kill(daemon.pid, SIGTERM)
                #expect(daemon.notifications.waitFor("STOPPING=1", seconds: 5))
                #expect(daemon.notifications.waitFor(containing: "EXTEND_TIMEOUT_USEC=", seconds: 5))
                let reply = try #require(json(running.value?.stdout))
                #expect(reply["ok"] as? Bool == true, "a task in flight at SIGTERM was not finished")
                #expect(daemon.waitForExit(seconds: 20) == 0)
            }
        }

        @Test func socketActivationTakesThePassedSocket() async throws {
            try await blocking {
                let activate = "/usr/bin/systemd-socket-activate"
                guard FileManager.default.isExecutableFile(atPath: activate) else {
                    print("skipping: \(activate) is not installed")
                    return
                }
                let directory = NSTemporaryDirectory() + "concd-activate-\(getpid())"
                try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
                defer { try? FileManager.default.removeItem(atPath: directory) }
                let socketPath = directory + "/activated.sock"
                // concd starts only on the first connection, with the socket passed as fd 3.
                let log = open(directory + "/concd.log", O_WRONLY | O_CREAT | O_CLOEXEC, 0o644)
                defer { close(log) }
                let process = try ChildProcess(
                    activate, ["-l", socketPath, binaryDirectory + "/concd", "--socket", directory + "/unused.sock"],
                    stderr: log
                )
                defer {
                    kill(process.pid, SIGTERM)
                    if process.wait(seconds: 20) == nil {
                        kill(process.pid, SIGKILL)
                        process.wait()
                    }
                }
                var ready = false
                for _ in 0..<100 where !ready {
                    ready = FileManager.default.fileExists(atPath: socketPath)
                    if !ready { usleep(50_000) }
                }
                let result = try runCommand(binaryDirectory + "/concctl", ["--socket", socketPath, "submit", "cpu", "100"])
                #expect(result.status == 0, "\(result.stderr)")
                #expect(result.stdout.hasPrefix("4950 "))
                #expect(!FileManager.default.fileExists(atPath: directory + "/unused.sock"), "concd bound its own socket instead")
            }
        }
    }
}

extension Thread {
    /// Runs `body` on a new thread; `.value` waits for its result.
    static func detachedResult<T: Sendable>(_ body: @escaping @Sendable () -> T) -> DetachedResult<T> {
        let result = DetachedResult<T>()
        Thread { result.set(body()) }.start()
        return result
    }
}

final class DetachedResult<T: Sendable>: @unchecked Sendable {
    private let condition = NSCondition()
    private var stored: T?
    private var done = false

    func set(_ value: T) {
        condition.lock()
        stored = value
        done = true
        condition.broadcast()
        condition.unlock()
    }

    var value: T {
        condition.lock()
        defer { condition.unlock() }
        while !done { condition.wait() }
        return stored!
    }
}
