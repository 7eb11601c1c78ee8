import ConcProtocol
import NIOPosix
import Synchronization
import Testing

import ConcDaemon

@Suite struct AsyncPoolTests {
    private func makePool(limit: Int = 10_000) -> AsyncPool {
        AsyncPool(limit: limit, connectionsPerHost: 1024, eventLoopGroup: MultiThreadedEventLoopGroup.singleton)
    }

    @Test func runsItsWorkloads() async throws {
        let pool = makePool()
        #expect(try await run(.cpu(n: 1000), on: pool).result.value == .integer(499_500))
        #expect(try await run(.sleep(milliseconds: 5), on: pool).result.value == .integer(5))
        #expect(try await run(.noop, on: pool).result.value == .empty)
        try await withLoopbackServer { server in
            let get = try await run(.async(url: server.baseURL + "/bytes/123"), on: pool)
            guard case .http(let summary)? = get.result.value else {
                Issue.record("async GET failed: \(get.result)")
                return
            }
            #expect(summary.status == 200 && summary.bytes == 123)
        }
        await pool.shutdown()
    }

    @Test func aTaggedJobIsStoppedByItsTagAndOthersRunOn() async throws {
        let pool = makePool()
        let (outcomes, continuation) = AsyncStream.makeStream(of: (String, TaskOutcome).self)
        for (name, tag) in [("stopped", UInt64(7)), ("other", UInt64(8))] {
            try pool.submit(Job(workload: .sleep(milliseconds: 3000), deadline: nil, tag: tag) { continuation.yield((name, $0)) })
        }
        try await Task.sleep(for: .milliseconds(50))
        let started = ContinuousClock.now
        #expect(pool.stop(tag: 7))
        #expect(!pool.stop(tag: 7), "a stopped job is stopped once")
        #expect(!pool.stop(tag: 99))
        var iterator = outcomes.makeAsyncIterator()
        let first = try #require(await iterator.next())
        #expect(first.0 == "stopped")
        #expect(first.1.result.error != nil, "a cancelled sleep does not succeed")
        #expect(ContinuousClock.now - started < .seconds(1))
        #expect(pool.snapshot().busy == 1, "the other job still runs")
        await pool.shutdown()
    }

    @Test func aThousandGETsWaitTogether() async throws {
        let pool = makePool()
        try await withLoopbackServer { server in
            let done = Atomic(false)
            async let peak = Task.detached {
                var peak = 0
                while !done.load(ordering: .relaxed) {
                    peak = max(peak, pool.snapshot().busy)
                    try? await Task.sleep(for: .milliseconds(5))
                }
                return peak
            }.value
            let outcomes = try await withThrowingTaskGroup(of: TaskOutcome.self) { group in
                for _ in 0..<1000 {
                    group.addTask { try await run(.async(url: server.baseURL + "/delay/200"), on: pool) }
                }
                return try await group.reduce(into: [TaskOutcome]()) { $0.append($1) }
            }
            done.store(true, ordering: .relaxed)
            let peakInFlight = await peak
            let failures = outcomes.filter { $0.result.value == nil }
            #expect(failures.isEmpty, "\(failures.prefix(3).map(\.result))")
            #expect(outcomes.count == 1000)
            // Each GET waits 200 ms on the server; had they run a few at a time, far fewer would be in flight at once.
            #expect(peakInFlight >= 500, "at most \(peakInFlight) GETs were in flight together")
        }
        await pool.shutdown()
    }

    @Test func beyondItsLimitItAnswersBusy() async throws {
        let pool = makePool(limit: 2)
        for _ in 0..<2 {
            try pool.submit(Job(workload: .sleep(milliseconds: 300), deadline: nil, complete: { _ in }))
        }
        #expect(throws: WireError.self) {
            try pool.submit(Job(workload: .noop, deadline: nil, complete: { _ in }))
        }
        await pool.shutdown()
    }

    @Test func aDeadlineCancelsTheTask() async throws {
        let pool = makePool()
        let outcome = try await run(.sleep(milliseconds: 10_000), on: pool, timeoutMilliseconds: 100)
        #expect(outcome.result.errorCode == .timeout)
        await pool.shutdown()
    }

    @Test func anUnreachableURLIsAnHTTPFailure() async throws {
        let pool = makePool()
        let outcome = try await run(.async(url: "http://127.0.0.1:1/"), on: pool)
        #expect(outcome.result.errorCode == .httpFailed)
        await pool.shutdown()
    }
}
