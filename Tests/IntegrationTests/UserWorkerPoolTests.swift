import Foundation
import Testing

/// A pool that runs the user's own program (a Python worker through share/python/concd_worker.py):
/// calls with JSON arguments, the function's errors with their traceback, and a worker that dies,
/// answers garbage or answers the wrong task being replaced while the pool keeps serving.
extension BinaryLevelTests {
    @Suite struct UserWorkerPoolTests {
        /// The repository, for the Python module and examples.
        static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().path

        static let worker = """
            import json, os, time
            import concd_worker

            STARTED = os.getpid()

            @concd_worker.task
            def echo(value):
                return value

            @concd_worker.task
            def add(a, b):
                return a + b

            @concd_worker.task
            def fail():
                raise ValueError("boom")

            @concd_worker.task
            def crash():
                os._exit(3)

            @concd_worker.task
            def garbage():
                os.write(int(os.environ["CONCD_WORKER_FD"]), b"this is not json\\n")
                return 1

            @concd_worker.task
            def wrong_task():
                os.write(int(os.environ["CONCD_WORKER_FD"]), b'{"id": 999999, "ok": true, "result": 1}\\n')
                return 1

            @concd_worker.task
            def nap(seconds):
                time.sleep(seconds)
                return seconds

            @concd_worker.task
            def spawn_child():
                import subprocess
                return subprocess.Popen(["sleep", "60"]).pid

            @concd_worker.task
            def hog(megabytes):
                # Written, not only reserved: the pages count against a cgroup's limit.
                block = b"x" * (megabytes << 20)
                return len(block) >> 20

            @concd_worker.task
            def whoami():
                return {"pid": STARTED, "pool": os.environ["CONCD_POOL"], "worker": os.environ["CONCD_WORKER"], "cwd": os.getcwd()}

            print("this line goes to concd's log, not the protocol", flush=True)
            concd_worker.run()
            """

        /// A configuration with a one-worker built-in process pool and the pool `py` running this
        /// suite's worker with `workers` workers, plus `settings` (YAML lines of `py`'s section).
        private func writePythonPool(_ directory: String, workers: Int, settings: [String]) throws -> String {
            let extra = settings.map { "\n    \($0)" }.joined()
            return try write(directory, config: """
                pools:
                  process: {workers: 1}
                  py:
                    model: process
                    workers: \(workers)
                    command: ["python3", "\(directory)/worker.py"]
                    environment: {PYTHONPATH: \(Self.repository)/share/python}\(extra)
                """)
        }

        private func write(_ directory: String, config: String) throws -> String {
            try Self.worker.write(toFile: directory + "/worker.py", atomically: true, encoding: .utf8)
            let path = directory + "/concd.yaml"
            try config.write(toFile: path, atomically: true, encoding: .utf8)
            return path
        }

        private func temporaryDirectory(_ name: String) throws -> String {
            let directory = NSTemporaryDirectory() + "concd-\(name)-\(getpid())"
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            return directory
        }

        /// memory_limit_mb, both ways the kernel can enforce it here: a cgroup per worker (the OOM
        /// killer stops it) and RLIMIT_DATA (the program's allocation fails). Either way the task is
        /// answered out_of_memory, the worker is replaced and the next task succeeds.
        @Test(arguments: ["cgroup", "rlimit"])
        func aTaskPastTheMemoryLimitIsAnsweredOutOfMemoryAndTheNextSucceeds(mechanism: String) async throws {
            try await blocking {
                if mechanism == "cgroup" && !Self.memoryCgroupIsWritable() {
                    // Where concd may not make memory cgroups (no v1 controller, no delegation), the
                    // daemon falls back to RLIMIT_DATA, which the other argument covers.
                    print("memory limit: no writable cgroup v1 memory controller here; the cgroup path is not run")
                    return
                }
                let directory = try temporaryDirectory("memory-\(mechanism)")
                defer { try? FileManager.default.removeItem(atPath: directory) }
                let config = try writePythonPool(directory, workers: 1, settings: ["memory_limit_mb: 96", "memory_limit_by: \(mechanism)"])
                let daemon = try ConcdProcess(arguments: ["--config", config])
                defer { daemon.stop() }
                #expect(daemon.log.contains(mechanism == "cgroup" ? "run in memory cgroups of 96 MiB" : "get RLIMIT_DATA of 96 MiB"), "\(daemon.log)")
                let before = try #require(json(try daemon.concctl("submit", "py", "whoami", "--json").stdout)?["worker_pid"] as? Int)
                let small = try daemon.concctl("submit", "py", "hog", "[16]")
                #expect(small.status == 0 && small.stdout.hasPrefix("16 "), "\(small.stdout) \(small.stderr)")
                let started = Date()
                let big = try daemon.concctl("submit", "py", "hog", "[400]")
                let took = Date().timeIntervalSince(started)
                print("memory limit (\(mechanism)): out_of_memory answered in \(Int(took * 1000)) ms")
                #expect(big.status == 1 && big.stderr.contains("[out_of_memory]"), "\(big.stderr)")
                let after = try #require(json(try daemon.concctl("submit", "py", "whoami", "--json").stdout)?["worker_pid"] as? Int)
                #expect(after != before, "the worker that passed its limit was not replaced")
                #expect(try daemon.concctl("submit", "py", "hog", "[16]").status == 0)
            }
        }

        /// Whether this process may make a cgroup in the v1 memory hierarchy, as concd would.
        static func memoryCgroupIsWritable() -> Bool {
            guard let text = try? String(contentsOfFile: "/proc/self/cgroup", encoding: .utf8),
                let line = text.split(separator: "\n").first(where: { $0.split(separator: ":").dropFirst().first?.split(separator: ",").contains("memory") == true })
            else { return false }
            let path = line.split(separator: ":", maxSplits: 2).last.map(String.init) ?? "/"
            let probe = "/sys/fs/cgroup/memory" + (path == "/" ? "" : path) + "/concd-probe-\(getpid())"
            guard mkdir(probe, 0o755) == 0 else { return false }
            rmdir(probe)
            return true
        }

        @Test func callsRunOnTheUsersProgramAndMisbehavingWorkersAreReplaced() async throws {
            try await blocking {
                let directory = try temporaryDirectory("user-pool")
                defer { try? FileManager.default.removeItem(atPath: directory) }
                let config = try writePythonPool(directory, workers: 2, settings: ["working_directory: \(directory)"])
                let daemon = try ConcdProcess(arguments: ["--config", config])
                defer { daemon.stop() }
                let ready = daemon.notifications.messages.first { $0.contains("READY=1") } ?? ""
                #expect(ready.contains("py 0/2 busy q=0"), "\(ready)")

                let echo = try daemon.concctl("submit", "py", "echo", #"{"value": {"a": [1, 2, "three"], "b": null}}"#, "--json")
                #expect(echo.status == 0, "\(echo.stderr)")
                let value = json(echo.stdout)?["value"] as? [String: Any]
                #expect((value?["a"] as? [Any])?.count == 3 && value?["b"] is NSNull, "\(echo.stdout)")
                let add = try daemon.concctl("submit", "py", "add", "[2, 40]")
                #expect(add.stdout.hasPrefix("42  pool=py worker=py-"), "\(add.stdout)")
                let whoami = try #require(json(try daemon.concctl("submit", "py", "whoami", "--json").stdout)?["value"] as? [String: Any])
                #expect(whoami["pool"] as? String == "py" && (whoami["worker"] as? String)?.hasPrefix("py-") == true)
                #expect((whoami["cwd"] as? String).map { URL(fileURLWithPath: $0).resolvingSymlinksInPath().path }
                    == URL(fileURLWithPath: directory).resolvingSymlinksInPath().path)

                // The function's error, with its type and traceback; the worker lives on.
                let failed = try daemon.concctl("submit", "py", "fail")
                #expect(failed.status == 1)
                #expect(failed.stderr.contains("ValueError: boom [task_failed]"), "\(failed.stderr)")
                #expect(failed.stderr.contains("Traceback (most recent call last)"), "\(failed.stderr)")
                let unknown = try daemon.concctl("submit", "py", "nosuch")
                // The workers listed their functions when they said they were ready: concd refuses any other itself.
                #expect(unknown.status == 4 && unknown.stderr.contains("no function 'nosuch'; it has: add, crash"), "\(unknown.stderr)")
                #expect(unknown.stderr.contains("[unknown_function]"), "\(unknown.stderr)")

                // Each way of breaking the protocol fails only its own task, and the worker is replaced.
                let pids = Set(try (0..<6).map { _ in
                    try #require(json(try daemon.concctl("submit", "py", "whoami", "--json").stdout)?["worker_pid"] as? Int)
                })
                let crash = try daemon.concctl("submit", "py", "crash")
                #expect(crash.status == 1 && crash.stderr.contains("[worker_died]"), "\(crash.stderr)")
                let garbage = try daemon.concctl("submit", "py", "garbage")
                #expect(garbage.stderr.contains("sent a line that is not a JSON object of the worker protocol"), "\(garbage.stderr)")
                #expect(garbage.stderr.contains("[bad_worker_reply]"), "\(garbage.stderr)")
                let wrong = try daemon.concctl("submit", "py", "wrong_task")
                #expect(wrong.stderr.contains("it answered task 999999, which it was not running [bad_worker_reply]"), "\(wrong.stderr)")
                let late = try daemon.concctl("submit", "py", "nap", "5", "--timeout", "0.5")
                #expect(late.status == 2, "\(late.stderr)")
                var after: Set<Int> = []
                for _ in 0..<40 where after.count < 2 {
                    let reply = json(try daemon.concctl("submit", "py", "whoami", "--json").stdout)
                    #expect(reply?["ok"] as? Bool == true)
                    if let pid = reply?["worker_pid"] as? Int { after.insert(pid) }
                }
                #expect(after.count == 2 && after.isDisjoint(with: pids), "\(pids) then \(after)")

                // Calls go only to a program's pool, and built-in workloads only elsewhere.
                let cpu = try daemon.concctl("submit", "cpu", "10", "--pool", "py")
                #expect(cpu.status == 4 && cpu.stderr.contains("runs a program"), "\(cpu.stderr)")
                let onProcess = try daemon.concctl("submit", "process", "echo", "1")
                #expect(onProcess.status == 64 && onProcess.stderr.contains("the built-in process pool runs concd's own workloads"), "\(onProcess.stderr)")
                let notJSON = try daemon.concctl("submit", "py", "echo", "{nope")
                #expect(notJSON.status == 64 && notJSON.stderr.contains("the arguments are not JSON"), "\(notJSON.stderr)")
                // What the program prints is logged line by line, with the worker it came from.
                let printed = daemon.log.split(separator: "\n").first { $0.contains("this line goes to concd's log, not the protocol") }
                #expect(printed?.contains("worker=py-") == true && printed?.contains("stream=stdout") == true, "\(daemon.log)")

                let status = try #require(json(try daemon.concctl("status", "--json").stdout)?["pools"] as? [[String: Any]])
                #expect(status.last?["kind"] as? String == "py" && status.last?["size"] as? Int == 2)

                // A worker's own subprocesses end with it: the signals go to its process group.
                let spawned = try #require(json(try daemon.concctl("submit", "py", "spawn_child", "--json").stdout))
                let child = try #require(spawned["value"] as? Int)
                let parent = try #require(spawned["worker_pid"] as? Int)
                #expect(kill(pid_t(child), 0) == 0)
                #expect(try daemon.concctl("kill-worker", "\(parent)").status == 0)
                var ended = false
                for _ in 0..<300 where !ended {
                    let state = (try? String(contentsOfFile: "/proc/\(child)/stat", encoding: .utf8))?.split(separator: ")").last?.split(separator: " ").first
                    ended = state == nil || state == "Z"
                    if !ended { usleep(10_000) }
                }
                #expect(ended, "the killed worker's subprocess \(child) outlived it")
            }
        }

        @Test func aProgramThatNeverSaysReadyFailsStartWithItsCommandNamed() async throws {
            try await blocking {
                let directory = try temporaryDirectory("user-never-ready")
                defer { try? FileManager.default.removeItem(atPath: directory) }
                let config = try write(directory, config: """
                    pools:
                      process: {workers: 1}
                      sleepy:
                        model: process
                        workers: 1
                        command: ["python3", "-c", "print('loading the model', flush=True); import time; time.sleep(60)"]
                        start_timeout: 1
                    """)
                let result = try runCommand(
                    binaryDirectory + "/concd", ["--config", config, "--socket", directory + "/c.sock"], timeout: 60
                )
                #expect(result.status != 0)
                #expect(result.stderr.contains("python3 -c 'print('loading the model', flush=True); import time; time.sleep(60)'"), "\(result.stderr)")
                #expect(result.stderr.contains("did not greet the daemon"), "\(result.stderr)")
                #expect(result.stderr.contains("its last output: loading the model"), "\(result.stderr)")

                let missing = try write(directory, config: """
                    pools:
                      gone:
                        model: process
                        command: ["/nonexistent/worker"]
                    """)
                let absent = try runCommand(binaryDirectory + "/concd", ["--config", missing, "--socket", directory + "/c.sock"], timeout: 60)
                #expect(absent.status != 0)
                #expect(absent.stderr.contains("/nonexistent/worker"), "\(absent.stderr)")
            }
        }
    }
}
