import Foundation
import Testing

extension BinaryLevelTests {
    /// Workers die, tasks hang: each failure costs only its own task, with an error that names it,
    /// and the pools keep their size.
    @Suite struct ReliabilityTests {
        @Test func aKilledWorkerFailsOnlyItsOwnTaskAndIsReplaced() async throws {
            try await blocking {
                let daemon = try ConcdProcess(arguments: ["--process-workers", "2"])
                defer { daemon.stop() }
                let connection = try RawConnection(path: daemon.socketPath)
                connection.send(#"{"id":1,"op":"submit","kind":"sleep","ms":5000,"pool":"process"}"# + "\n")
                connection.send(#"{"id":2,"op":"submit","kind":"sleep","ms":300,"pool":"process"}"# + "\n")
                let victim = try #require(waitForBusyWorkers(daemon, count: 2).first)
                let before = try processWorkers(daemon)
                // Which task the victim runs is not known; kill it and check each reply on its own terms.
                let killedAt = Date()
                kill(victim.pid, SIGKILL)
                let after = try waitForFullPool(daemon, size: 2, excluding: victim.pid)
                print("respawn: the process pool was whole again \(Int(Date().timeIntervalSince(killedAt) * 1000)) ms after SIGKILL (polled through concctl status)")
                #expect(Set(after.map(\.name)) == Set(before.map(\.name)), "the replacement keeps the slot's name")
                var replies: [Int: [String: Any]] = [:]
                for _ in 0..<2 {
                    let reply = try #require(json(connection.readLine(seconds: 20)))
                    replies[reply["id"] as? Int ?? -1] = reply
                }
                let failed = replies.values.filter { $0["ok"] as? Bool == false }
                #expect(failed.count <= 1, "only the victim's task may fail: \(replies)")
                if let failure = failed.first {
                    let error = try #require(failure["error"] as? [String: Any])
                    let message = error["message"] as? String ?? ""
                    #expect(error["code"] as? String == "worker_died")
                    #expect(message.contains(victim.name) && message.contains("pid \(victim.pid)"), "\(message)")
                    #expect(message.contains("SIGKILL") && message.contains("while running sleep"), "\(message)")
                    #expect(failure["worker_pid"] as? Int == Int(victim.pid))
                }
            }
        }

        @Test func retriesRunTheTaskAgainAfterItsWorkerDies() async throws {
            try await blocking {
                let daemon = try ConcdProcess(arguments: ["--process-workers", "2"])
                defer { daemon.stop() }
                let connection = try RawConnection(path: daemon.socketPath)
                connection.send(#"{"id":1,"op":"submit","kind":"sleep","ms":1500,"pool":"process","retries":2}"# + "\n")
                let victim = try #require(waitForBusyWorkers(daemon, count: 1).first)
                kill(victim.pid, SIGKILL)
                let reply = try #require(json(connection.readLine(seconds: 20)))
                #expect(reply["ok"] as? Bool == true, "\(reply)")
                #expect(reply["attempts"] as? Int == 2)
                #expect(reply["worker_pid"] as? Int != Int(victim.pid))
                let status = try #require(json(try daemon.concctl("status", "--json").stdout))
                let process = (status["pools"] as? [[String: Any]])?.first { $0["kind"] as? String == "process" }
                #expect(process?["retried"] as? Int == 1)
                #expect(try daemon.concctl("metrics").stdout.contains(#"concd_tasks_retried_total{pool="process"} 1"#))
                // concctl passes --retries through.
                let cli = try daemon.concctl("submit", "cpu", "1000", "--retries", "3")
                #expect(cli.status == 0 && cli.stdout.hasPrefix("499500 "), "\(cli.stderr)")
                let refused = try daemon.concctl("submit", "sleep", "10", "--retries", "1")
                #expect(refused.status == 4 && refused.stderr.contains("retries apply only to the process pool"), "\(refused.stderr)")
            }
        }

        @Test func aTaskThatKeepsKillingWorkersIsReportedAsPoison() async throws {
            try await blocking {
                let daemon = try ConcdProcess(arguments: ["--process-workers", "1"])
                defer { daemon.stop() }
                let connection = try RawConnection(path: daemon.socketPath)
                connection.send(#"{"id":1,"op":"submit","kind":"sleep","ms":10000,"pool":"process","retries":10}"# + "\n")
                var killed: Set<Int32> = []
                for _ in 0..<3 {
                    let victim = try #require(waitForBusyWorkers(daemon, count: 1, excluding: killed).first)
                    killed.insert(victim.pid)
                    kill(victim.pid, SIGSEGV)
                }
                let reply = try #require(json(connection.readLine(seconds: 30)))
                let error = try #require(reply["error"] as? [String: Any], "\(reply)")
                #expect(error["code"] as? String == "poison_task")
                let message = error["message"] as? String ?? ""
                #expect(message.contains("killed 3 workers") && message.contains("SIGSEGV"), "\(message)")
                #expect(reply["attempts"] as? Int == 3)
                // The pool is whole again and serves the next task.
                _ = try waitForFullPool(daemon, size: 1, excluding: killed.first ?? 0)
                let next = try daemon.concctl("submit", "cpu", "10")
                #expect(next.status == 0, "\(next.stderr)")
                #expect(daemon.log.contains("event=task_retried"))
            }
        }

        /// 10,000 tasks while 50 workers are SIGKILLed at random: every task not on a killed
        /// worker succeeds, and every failure names its worker, the signal and the task.
        @Test func chaosTenThousandTasksWhileFiftyWorkersAreKilled() async throws {
            try await blocking {
                let daemon = try ConcdProcess(arguments: ["--process-workers", "4", "--queue-limit", "20000"])
                defer { daemon.stop() }
                let tasks = 10_000
                let connection = try RawConnection(path: daemon.socketPath)
                var frames = [UInt8]()
                // Odd ids ask for retries: those must all succeed, whatever is killed under them.
                for id in 0..<tasks {
                    let retries = id % 2 == 1 ? #","retries":3"# : ""
                    frames += Array(#"{"id":\#(id),"op":"submit","kind":"cpu","n":1000000,"pool":"process"\#(retries)}"#.utf8) + [10]
                }
                let sent = connection.sendInBackground(frames)
                defer { sent.wait() }
                let control = try RawConnection(path: daemon.socketPath)
                var killed: [Int32] = []
                let started = Date()
                var answers = 0
                var failures: [[String: Any]] = []
                var pause: useconds_t = 15_000
                while killed.count < 50 {
                    let workers = try processWorkers(via: control).filter { $0.pid > 0 && !killed.contains($0.pid) }
                    if let victim = workers.randomElement() {
                        kill(victim.pid, SIGKILL)
                        killed.append(victim.pid)
                    }
                    usleep(pause)
                    // Drain what has arrived so the daemon's writes never block on a full socket.
                    while let line = connection.readLine(seconds: 0) {
                        answers += 1
                        if let reply = json(line), reply["ok"] as? Bool == false { failures.append(reply) }
                    }
                    if answers >= tasks { pause = 30_000 }
                    #expect(Date().timeIntervalSince(started) < 300, "the chaos run is stuck")
                    if Date().timeIntervalSince(started) >= 300 { return }
                }
                let killedDuringRun = answers < tasks
                while answers < tasks, let line = connection.readLine(seconds: 60) {
                    answers += 1
                    if let reply = json(line), reply["ok"] as? Bool == false { failures.append(reply) }
                }
                #expect(answers == tasks)
                #expect(killedDuringRun, "all tasks finished before the 50 kills; the test needs longer tasks")
                #expect(failures.count <= killed.count)
                #expect(failures.allSatisfy { ($0["id"] as? Int ?? 1) % 2 == 0 }, "a task with retries failed")
                for failure in failures {
                    let error = failure["error"] as? [String: Any] ?? [:]
                    let message = error["message"] as? String ?? ""
                    #expect(error["code"] as? String == "worker_died", "\(failure)")
                    #expect(message.contains("SIGKILL") && message.contains("while running cpu 1000000"), "\(message)")
                    #expect(message.contains("process-") && killed.contains(Int32(failure["worker_pid"] as? Int ?? 0)), "\(message)")
                }
                _ = try waitForFullPool(daemon, size: 4, excluding: killed.last ?? 0)
                let summary = "chaos: \(tasks) tasks, \(killed.count) workers killed, \(failures.count) tasks failed (all without retries)"
                print(summary)
            }
        }

        @Test func aDeadlineIsKeptOnEveryPool() async throws {
            try await blocking {
                let daemon = try ConcdProcess(arguments: ["--process-workers", "1", "--threads", "2"])
                defer { daemon.stop() }
                // Thread pool: a cpu loop cannot be interrupted, so its thread is abandoned and replaced.
                let thread = try daemon.concctl("submit", "cpu", "4294967296", "--pool", "thread", "--timeout", "0.3", "--json")
                #expect(thread.status == 2, "\(thread.stdout) \(thread.stderr)")
                #expect(thread.stdout.contains("abandoned and replaced"))
                let status = try #require(json(try daemon.concctl("status", "--json").stdout))
                let pools = try #require(status["pools"] as? [[String: Any]])
                let threadPool = try #require(pools.first { $0["kind"] as? String == "thread" })
                #expect(threadPool["size"] as? Int == 2 && threadPool["busy"] as? Int == 0, "\(threadPool)")
                // Both threads are free: two tasks run at once, on two different threads.
                let pair = try daemon.concctl("submit", "sleep", "200", "--count", "2", "--json")
                let tasks = try #require(json(pair.stdout)?["tasks"] as? [[String: Any]])
                #expect(Set(tasks.compactMap { $0["worker"] as? String }).count == 2, "\(pair.stdout)")
                #expect(daemon.log.contains("event=thread_abandoned"))

                // Process pool: the worker is stopped and replaced.
                let before = try processWorkers(daemon)
                let process = try daemon.concctl("submit", "cpu", "4294967296", "--pool", "process", "--timeout", "0.3")
                #expect(process.status == 2 && process.stderr.contains("stopped and replaced"), "\(process.stderr)")
                _ = try waitForFullPool(daemon, size: 1, excluding: before.first?.pid ?? 0)

                // Async pool: the task is cancelled.
                let async = try daemon.concctl("submit", "sleep", "5000", "--pool", "async", "--timeout", "0.3")
                #expect(async.status == 2 && async.stderr.contains("[timeout]"), "\(async.stderr)")
            }
        }

        @Test func workersAreRecycledAfterTheirTaskLimitAndAboveTheirMemoryLimit() async throws {
            try await blocking {
                let byTasks = try ConcdProcess(
                    arguments: ["--process-workers", "1"], environment: ["CONCD_POOLS_PROCESS_MAX_TASKS": "3"]
                )
                defer { byTasks.stop() }
                var pids: [Int] = []
                for _ in 0..<7 {
                    let reply = try #require(json(try byTasks.concctl("submit", "noop", "--pool", "process", "--json").stdout))
                    pids.append(reply["worker_pid"] as? Int ?? 0)
                }
                #expect(Set(pids[0..<3]).count == 1 && Set(pids[3..<6]).count == 1 && pids[0] != pids[3] && pids[3] != pids[6], "\(pids)")
                #expect(byTasks.log.contains("event=worker_recycled"))

                let byMemory = try ConcdProcess(
                    arguments: ["--process-workers", "1"], environment: ["CONCD_POOLS_PROCESS_MAX_RSS_MB": "1"]
                )
                defer { byMemory.stop() }
                var memoryPIDs: Set<Int> = []
                for _ in 0..<3 {
                    let reply = try #require(json(try byMemory.concctl("submit", "noop", "--pool", "process", "--json").stdout))
                    memoryPIDs.insert(reply["worker_pid"] as? Int ?? 0)
                }
                #expect(memoryPIDs.count == 3, "a worker above 1 MiB is replaced after each task: \(memoryPIDs)")
                #expect(byMemory.log.contains("resident memory"))
            }
        }
    }
}

/// A process worker as `status` reports it.
struct ProcessWorker: Equatable {
    var name: String
    var pid: Int32
    var busy: Bool
}

func processWorkers(_ daemon: ConcdProcess) throws -> [ProcessWorker] {
    try processWorkers(status: try #require(json(try daemon.concctl("status", "--json").stdout)))
}

/// The process workers, asked over an open connection (faster than running concctl).
func processWorkers(via connection: RawConnection) throws -> [ProcessWorker] {
    connection.send(#"{"op":"status"}"# + "\n")
    let reply = try #require(json(connection.readLine(seconds: 10)))
    return try processWorkers(status: try #require(reply["status"] as? [String: Any]))
}

private func processWorkers(status: [String: Any]) throws -> [ProcessWorker] {
    let pools = try #require(status["pools"] as? [[String: Any]])
    let process = try #require(pools.first { $0["kind"] as? String == "process" })
    let workers = process["workers"] as? [[String: Any]] ?? []
    return workers.map {
        ProcessWorker(name: $0["name"] as? String ?? "", pid: Int32($0["pid"] as? Int ?? 0), busy: $0["busy"] as? Bool ?? false)
    }
}

/// Waits until `count` process workers are busy (and alive), none of them in `excluding`.
func waitForBusyWorkers(_ daemon: ConcdProcess, count: Int, excluding: Set<Int32> = []) throws -> [ProcessWorker] {
    for _ in 0..<500 {
        let busy = try processWorkers(daemon).filter { $0.busy && $0.pid > 0 && !excluding.contains($0.pid) }
        if busy.count >= count { return busy }
        usleep(10_000)
    }
    throw ConcdProcess.StartFailure(description: "\(count) busy process workers never showed up")
}

/// Waits until the process pool has `size` live workers again, none of them `excluding`.
@discardableResult
func waitForFullPool(_ daemon: ConcdProcess, size: Int, excluding: Int32) throws -> [ProcessWorker] {
    for _ in 0..<1000 {
        let workers = try processWorkers(daemon)
        if workers.count == size, workers.allSatisfy({ $0.pid > 0 && $0.pid != excluding && kill($0.pid, 0) == 0 }) {
            return workers
        }
        usleep(10_000)
    }
    throw ConcdProcess.StartFailure(description: "the process pool did not get back to \(size) workers")
}
