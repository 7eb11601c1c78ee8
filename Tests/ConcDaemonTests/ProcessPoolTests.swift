import ConcProtocol
import Foundation
import Logging
import Testing

import ConcDaemon

@Suite struct ProcessPoolTests {
    private func makePool(size: Int = 2, executable: String = workerExecutable) async throws -> ProcessPool {
        let pool = ProcessPool(size: size, queueLimit: 64, executable: executable, logger: Logger(label: "test"))
        try await pool.start()
        return pool
    }

    private func pids(_ pool: ProcessPool) -> [Int32] {
        pool.snapshot().workers?.compactMap(\.pid) ?? []
    }

    @Test func theDefaultWorkerIsConcdWorkerBesideTheExecutable() {
        #expect(WorkerSpawner.defaultExecutable() == workerExecutable)
    }

    @Test func workersAreWarmBeforeStartReturns() async throws {
        let pool = try await makePool(size: 3)
        let pids = pids(pool)
        #expect(pids.count == 3)
        #expect(Set(pids).count == 3)
        for pid in pids { #expect(kill(pid, 0) == 0) }
        await pool.shutdown()
        for pid in pids { #expect(kill(pid, 0) == -1, "worker \(pid) outlived its pool") }
    }

    /// concd-worker, and concd's own worker mode (what runs when concd-worker is not installed).
    @Test(arguments: [workerExecutable, concdExecutable])
    func runsWorkloadsInItsWorkers(executable: String) async throws {
        let pool = try await makePool(executable: executable)
        let outcome = try await run(.cpu(n: 10_000_000), on: pool)
        #expect(outcome.result.value == .integer(49_999_995_000_000))
        #expect(outcome.worker.hasPrefix("process-"))
        #expect(pids(pool).contains(outcome.workerPID ?? -1))
        #expect(try await run(.sleep(milliseconds: 3), on: pool).result.value == .integer(3))
        #expect(try await run(.noop, on: pool).result.value == .empty)
        try await withLoopbackServer { server in
            let get = try await run(.io(url: server.baseURL + "/bytes/10"), on: pool)
            guard case .http(let summary)? = get.result.value else {
                Issue.record("io on a process worker failed: \(get.result)")
                return
            }
            #expect(summary.status == 200 && summary.bytes == 10)
        }
        await pool.shutdown()
    }

    @Test func aKilledWorkerFailsOnlyItsTaskAndIsReplaced() async throws {
        let pool = try await makePool(size: 2)
        async let doomed = run(.sleep(milliseconds: 10_000), on: pool)
        var victim: Int32 = 0
        #expect(await eventually { (pool.snapshot().workers ?? []).contains { $0.busy } })
        victim = pool.snapshot().workers!.first { $0.busy }!.pid!
        kill(victim, SIGKILL)
        let outcome = try await doomed
        guard case .failure(let error) = outcome.result else {
            Issue.record("a task whose worker was killed succeeded")
            return
        }
        #expect(error.code == .workerDied)
        #expect(error.message.contains("pid \(victim)"))
        #expect(error.message.contains("SIGKILL"))
        #expect(error.message.contains("sleep 10000"))
        #expect(await eventually { pids(pool).count == 2 && !pids(pool).contains(victim) })
        #expect(try await run(.cpu(n: 100), on: pool).result.value == .integer(4950))
        await pool.shutdown()
    }

    @Test func aWorkerThatDiesIdleIsReplaced() async throws {
        let pool = try await makePool(size: 1)
        let victim = pids(pool)[0]
        kill(victim, SIGKILL)
        #expect(await eventually { pids(pool).count == 1 && pids(pool)[0] != victim })
        #expect(try await run(.noop, on: pool).result.value == .empty)
        await pool.shutdown()
    }

    @Test func aTaskPastItsDeadlineIsStoppedAndItsWorkerReplaced() async throws {
        let pool = try await makePool(size: 1)
        let before = pids(pool)
        // cpu cannot be interrupted from inside, so the deadline has to kill the worker.
        let outcome = try await run(.cpu(n: 4_000_000_000), on: pool, timeoutMilliseconds: 200)
        #expect(outcome.result.errorCode == .timeout)
        #expect(await eventually { pids(pool).count == 1 && pids(pool) != before })
        #expect(try await run(.cpu(n: 10), on: pool).result.value == .integer(45))
        await pool.shutdown()
    }

    @Test func aWorkerThatExitsBeforeGreetingFailsStartWithAReason() async throws {
        // /bin/true runs and exits: the channel closes before any greeting.
        let pool = ProcessPool(size: 1, queueLimit: 4, executable: "/bin/true", logger: Logger(label: "test"))
        await #expect {
            try await pool.start()
        } throws: { error in
            "\(error)".contains("did not greet the daemon") && "\(error)".contains("exited with status 0")
        }
        await pool.shutdown()
    }

    @Test func shutdownRunsEveryQueuedTaskThenStopsTheWorkers() async throws {
        let pool = try await makePool(size: 2)
        let workers = pids(pool)
        // Six tasks on two workers: four wait in the queue when shutdown begins.
        let submitted = try submitAll(Array(repeating: .sleep(milliseconds: 100), count: 6), on: pool)
        #expect(pool.snapshot().queued == 4)
        await pool.shutdown()
        let outcomes = await submitted.all()
        #expect(outcomes.count == 6)
        #expect(outcomes.allSatisfy { $0.result.value == .integer(100) }, "\(outcomes.map(\.result))")
        for pid in workers { #expect(kill(pid, 0) == -1, "worker \(pid) outlived its pool") }
        #expect(throws: WireError.self) { try pool.submit(Job(workload: .noop, deadline: nil) { _ in }) }
    }

    @Test func shrinkingLetsABusyWorkerFinishItsTaskFirst() async throws {
        let pool = try await makePool(size: 2)
        let retiring = pool.snapshot().workers!.first { $0.name == "process-1" }!.pid!
        // Both workers busy, so the one the shrink retires is in the middle of a task.
        let submitted = try submitAll([.sleep(milliseconds: 300), .sleep(milliseconds: 300)], on: pool)
        #expect(pool.snapshot().busy == 2)
        try await pool.resize(size: 1, queueLimit: 64)
        #expect(pool.snapshot().workers!.map(\.name) == ["process-0"])
        let outcomes = await submitted.all()
        #expect(outcomes.allSatisfy { $0.result.value == .integer(300) }, "accepted tasks survive a shrink")
        #expect(await eventually { kill(retiring, 0) == -1 }, "the retired worker stops once its task is done")
        try await pool.resize(size: 2, queueLimit: 64)
        #expect(pool.snapshot().workers!.map(\.name) == ["process-0", "process-2"], "names are never reused")
        #expect(try await run(.cpu(n: 10), on: pool).result.value == .integer(45))
        await pool.shutdown()
    }

    /// Many short tasks on few workers: each waits in a worker's socket behind the one it runs, and
    /// every reply still goes to its own task (distinct n, so a reply given to the wrong task shows).
    @Test func prefetchedTasksGetTheirOwnResults() async throws {
        let pool = try await makePool(size: 2)
        let sizes = (1...60).map { Int64($0 * 99_991) }
        var expected: [Int64: Int] = [:]
        for n in sizes { expected[n * (n - 1) / 2, default: 0] += 1 }
        let outcomes = try await submitAll(sizes.map { .cpu(n: $0) }, on: pool).all()
        var got: [Int64: Int] = [:]
        for outcome in outcomes {
            guard case .integer(let sum)? = outcome.result.value else {
                Issue.record("a task failed: \(outcome.result)")
                continue
            }
            got[sum, default: 0] += 1
        }
        #expect(got == expected)
        #expect(pool.prefetchedTasks > 0, "60 tasks queued on 2 workers and none was sent ahead")
        await pool.shutdown()
    }

    /// A task sent behind one its worker dies under never started: it runs on the replacement,
    /// and only the running task fails.
    @Test func aPrefetchedTaskSurvivesItsWorkersDeath() async throws {
        let pool = ProcessPool(
            size: 1, queueLimit: 8, executable: workerExecutable, prefetchBehind: .seconds(100), logger: Logger(label: "test")
        )
        try await pool.start()
        let victim = pids(pool)[0]
        let submitted = try submitAll([.sleep(milliseconds: 10_000), .cpu(n: 100)], on: pool)
        #expect(pool.prefetchedTasks == 1)
        #expect(pool.snapshot().queued == 1, "a prefetched task counts as queued")
        kill(victim, SIGKILL)
        let outcomes = await submitted.all()
        let sleep = outcomes.first { $0.result.value != .integer(4950) }
        let cpu = outcomes.first { $0.result.value == .integer(4950) }
        #expect(sleep?.result.errorCode == .workerDied)
        #expect(sleep?.workerPID == victim)
        #expect(cpu != nil && cpu?.workerPID != victim, "\(outcomes.map(\.result))")
        await pool.shutdown()
    }

    /// The deadline of the running task stops its worker; the task waiting behind it runs elsewhere.
    @Test func aPrefetchedTaskSurvivesTheDeadlineOfTheOneAhead() async throws {
        let pool = ProcessPool(
            size: 1, queueLimit: 8, executable: workerExecutable, prefetchBehind: .seconds(100), logger: Logger(label: "test")
        )
        try await pool.start()
        async let slow = run(.cpu(n: 4_000_000_000), on: pool, timeoutMilliseconds: 200)
        #expect(await eventually { pool.snapshot().busy == 1 })
        let behind = try submitAll([.cpu(n: 10)], on: pool)
        #expect(pool.prefetchedTasks == 1)
        #expect(try await slow.result.errorCode == .timeout)
        #expect(await behind.all().first?.result.value == .integer(45))
        await pool.shutdown()
    }

    /// Prefetching never lets a worker run past its task limit.
    @Test func recyclingHoldsWithPrefetch() async throws {
        let pool = ProcessPool(
            size: 1, queueLimit: 64, executable: workerExecutable, recycling: RecyclePolicy(maxTasks: 3),
            logger: Logger(label: "test")
        )
        try await pool.start()
        let outcomes = try await submitAll(Array(repeating: .noop, count: 20), on: pool).all()
        #expect(outcomes.allSatisfy { $0.result.value == .empty }, "\(outcomes.map(\.result))")
        let perWorker = Dictionary(grouping: outcomes.compactMap(\.workerPID), by: { $0 }).mapValues(\.count)
        #expect(perWorker.values.allSatisfy { $0 <= 3 }, "\(perWorker)")
        #expect(perWorker.count >= 7)
        #expect(pool.prefetchedTasks > 0)
        await pool.shutdown()
    }

    @Test func aMissingWorkerBinaryFailsStartWithAReason() async throws {
        let pool = ProcessPool(size: 1, queueLimit: 4, executable: "/nonexistent/concd", logger: Logger(label: "test"))
        await #expect(throws: WorkerSpawner.Failure.self) { try await pool.start() }
        await pool.shutdown()
    }
}

/// A driver that waits for its worker's answer looks, between slices of its wait, whether the worker
/// has died: here is the look, on a real child that is running, then dead but not yet reaped.
@Suite struct WorkerExitCheckTests {
    @Test func aZombieCountsAsExitedAndARunningChildDoesNot() throws {
        var pid: pid_t = 0
        let arguments = ["/bin/sleep", "0.3"]
        var argv: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) }
        argv.append(nil)
        defer { for pointer in argv { free(pointer) } }
        #expect(posix_spawn(&pid, "/bin/sleep", nil, nil, argv, nil) == 0)
        #expect(!ProcFS.hasExited(pid))
        var exited = false
        for _ in 0..<300 where !exited {
            usleep(10_000)
            exited = ProcFS.hasExited(pid)
        }
        #expect(exited, "a child that has exited but is not yet reaped is a zombie")
        var status: Int32 = 0
        #expect(waitpid(pid, &status, 0) == pid)
        #expect(ProcFS.hasExited(pid), "a reaped pid has no /proc entry")
    }
}
