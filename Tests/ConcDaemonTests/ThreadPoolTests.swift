import ConcProtocol
import Foundation
import Testing

import ConcDaemon

@Suite struct ThreadPoolTests {
    @Test func runsEveryBlockingWorkload() async throws {
        let pool = ThreadPool(size: 2, queueLimit: 16)
        try await pool.start()
        try await withLoopbackServer { server in
            #expect(try await run(.cpu(n: 1000), on: pool).result.value == .integer(499_500))
            #expect(try await run(.sleep(milliseconds: 5), on: pool).result.value == .integer(5))
            #expect(try await run(.noop, on: pool).result.value == .empty)
            let get = try await run(.io(url: server.baseURL + "/bytes/1000"), on: pool)
            #expect(get.result.value == .http(HTTPSummary(status: 200, bytes: 1000, timeMicroseconds: 0)).withTime(of: get.result.value))
            #expect(get.worker.hasPrefix("thread-"))
        }
        await pool.shutdown()
    }

    @Test func poolThreadsCarryTheirNamesInTheKernel() async throws {
        let pool = ThreadPool(size: 2, queueLimit: 4)
        try await pool.start()
        // What top, ps -L and systemd-cgtop read: the kernel's comm, not Foundation's Thread.name.
        func names() -> Set<String> {
            let tasks = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/task")) ?? []
            return Set(tasks.compactMap { try? String(contentsOfFile: "/proc/self/task/\($0)/comm", encoding: .utf8) })
        }
        // A thread names itself first thing, which may be just after start() returns.
        #expect(await eventually { names().isSuperset(of: ["concd-thread-0\n", "concd-thread-1\n"]) }, "\(names())")
        await pool.shutdown()
    }

    @Test func allThreadsWorkAtOnce() async throws {
        let pool = ThreadPool(size: 4, queueLimit: 16)
        try await pool.start()
        async let outcomes = withThrowingTaskGroup(of: TaskOutcome.self) { group in
            for _ in 0..<4 { group.addTask { try await run(.sleep(milliseconds: 1500), on: pool) } }
            return try await group.reduce(into: [TaskOutcome]()) { $0.append($1) }
        }
        #expect(await eventually(within: 5) { pool.snapshot().busy == 4 })
        let workers = Set(try await outcomes.map(\.worker))
        #expect(workers.count == 4)
        await pool.shutdown()
    }

    @Test func aThreadStuckPastItsDeadlineIsAbandonedAndReplaced() async throws {
        let pool = ThreadPool(size: 2, queueLimit: 16)
        try await pool.start()
        // A cpu loop cannot be interrupted: about a second of work against a 50 ms deadline.
        let stuck = try await run(.cpu(n: 1_000_000_000), on: pool, timeoutMilliseconds: 50)
        #expect(stuck.result.error?.code == .timeout)
        #expect(stuck.result.error?.message.contains("abandoned and replaced") == true)
        #expect(pool.abandonedThreads == 1)
        #expect(pool.snapshot().size == 2 && pool.snapshot().busy == 0)
        // Both threads are free while the abandoned one still loops: two jobs run side by side.
        async let first = run(.sleep(milliseconds: 300), on: pool)
        async let second = run(.sleep(milliseconds: 300), on: pool)
        let workers = Set(try await [first, second].map(\.worker))
        #expect(workers.count == 2 && !workers.contains(stuck.worker))
        await pool.shutdown()
    }

    @Test func aBurstGrowsThePoolToItsMaximumAndIdleThreadsRetireToItsMinimum() async throws {
        let pool = ThreadPool(size: 1, maximum: 6, idleTimeout: .milliseconds(300), queueLimit: 64)
        try await pool.start()
        #expect(pool.snapshot().size == 1 && pool.snapshot().minimum == 1 && pool.snapshot().maximum == 6)
        // Eight blocking waits at once: six run side by side (the maximum), two wait in the queue.
        async let outcomes = withThrowingTaskGroup(of: TaskOutcome.self) { group in
            for _ in 0..<8 { group.addTask { try await run(.sleep(milliseconds: 800), on: pool) } }
            return try await group.reduce(into: [TaskOutcome]()) { $0.append($1) }
        }
        #expect(await eventually(within: 5) { pool.snapshot().busy == 6 }, "\(pool.snapshot())")
        let during = pool.snapshot()
        #expect(during.size == 6 && during.queued == 2, "\(during)")
        let workers = try await outcomes.map(\.worker)
        #expect(Set(workers).count == 6, "\(workers)")
        // Idle for 300 ms, the five above the minimum exit.
        #expect(await eventually(within: 3) { pool.snapshot().size == 1 }, "\(pool.snapshot())")
        #expect(try await run(.noop, on: pool).result.value == .empty)
        await pool.shutdown()
    }

    @Test func resizeSetsTheMinimumAndGrowthBoundsMoveTheMaximum() async throws {
        let pool = ThreadPool(size: 2, maximum: 4, idleTimeout: .milliseconds(200), queueLimit: 64)
        try await pool.start()
        try await pool.resize(size: 5, queueLimit: 64)
        var snapshot = pool.snapshot()
        #expect(snapshot.size == 5 && snapshot.minimum == 5 && snapshot.maximum == 5, "\(snapshot)")
        // A reload's bounds: back to a minimum of 1 and a maximum of 3; the two above 3 leave at
        // once, the two above 1 after their idle time.
        try await pool.resize(size: 1, queueLimit: 64)
        pool.setGrowth(maximum: 3, idleTimeout: .milliseconds(200))
        #expect(await eventually(within: 3) { pool.snapshot().size == 1 }, "\(pool.snapshot())")
        snapshot = pool.snapshot()
        #expect(snapshot.minimum == 1 && snapshot.maximum == 3)
        // A fixed pool (maximum = size) does not grow however much waits.
        let fixed = ThreadPool(size: 2, queueLimit: 64)
        try await fixed.start()
        for _ in 0..<6 { try fixed.submit(Job(workload: .sleep(milliseconds: 100), deadline: nil, complete: { _ in })) }
        #expect(fixed.snapshot().size == 2 && fixed.snapshot().queued >= 3)
        await fixed.shutdown()
        await pool.shutdown()
    }

    @Test func aFullQueueAnswersBusyAtOnce() async throws {
        let pool = ThreadPool(size: 1, queueLimit: 2)
        try await pool.start()
        var refusals: [WireError] = []
        var accepted = 0
        for _ in 0..<5 {
            do {
                try pool.submit(Job(workload: .sleep(milliseconds: 200), deadline: nil, complete: { _ in }))
                accepted += 1
            } catch {
                refusals.append(error)
            }
        }
        #expect(accepted <= 3)
        #expect(refusals.count >= 2)
        #expect(refusals.allSatisfy { $0.code == .busy && $0.message.contains("queue is full") })
        await pool.shutdown()
    }

    @Test func aDeadlineCutsASleepShort() async throws {
        let pool = ThreadPool(size: 1, queueLimit: 4)
        try await pool.start()
        let outcome = try await run(.sleep(milliseconds: 5000), on: pool, timeoutMilliseconds: 100)
        #expect(outcome.result.errorCode == .timeout)
        await pool.shutdown()
    }

    @Test func anUnreachableURLIsAnHTTPFailure() async throws {
        let pool = ThreadPool(size: 1, queueLimit: 4)
        try await pool.start()
        // Port 1 on loopback: nothing listens, so the connection is refused at once.
        let outcome = try await run(.io(url: "http://127.0.0.1:1/"), on: pool)
        #expect(outcome.result.errorCode == .httpFailed)
        await pool.shutdown()
    }
}

extension TaskValue {
    /// The same value with the HTTP time taken from `other`, for comparing everything but the time.
    func withTime(of other: TaskValue?) -> TaskValue {
        guard case .http(var summary) = self, case .http(let measured)? = other else { return self }
        summary.timeMicroseconds = measured.timeMicroseconds
        return .http(summary)
    }
}
