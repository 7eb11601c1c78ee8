import ConcDaemon
import ConcProtocol
import Logging
import NIOCore
import Testing

/// An elastic process pool: the growth rule as a value, then a real pool growing under waiting work
/// and retiring its idle workers.
@Suite struct ProcessPoolGrowthTests {
    private let start = NIODeadline.uptimeNanoseconds(1_000_000_000)

    @Test func waitingWorkGrowsThePoolAtOnceUpToItsMaximum() {
        var growth = ProcessPoolGrowth(minimum: 2, maximum: 6, idleTimeout: .seconds(1))
        #expect(growth.isElastic)
        #expect(growth.tick(now: start, size: 2, busy: 2, queued: 3) == 5)
        // The three starting workers will take the three waiting tasks: no more growth for them.
        #expect(growth.tick(now: start, size: 5, starting: 3, busy: 2, queued: 3) == nil)
        #expect(growth.tick(now: start, size: 5, busy: 5, queued: 10) == 6)
        #expect(growth.tick(now: start, size: 6, busy: 6, queued: 10) == nil, "at its maximum, work waits")
        var fixed = ProcessPoolGrowth(minimum: 2, maximum: 2, idleTimeout: .seconds(1))
        #expect(!fixed.isElastic && fixed.tick(now: start, size: 2, busy: 2, queued: 9) == nil)
    }

    @Test func workersIdleForAWholeWindowRetireDownToTheMinimum() {
        var growth = ProcessPoolGrowth(minimum: 1, maximum: 6, idleTimeout: .seconds(1))
        // Six workers; during the window at least four were idle at every tick.
        #expect(growth.tick(now: start, size: 6, busy: 0, queued: 0) == nil)
        #expect(growth.tick(now: start + .milliseconds(500), size: 6, busy: 2, queued: 0) == nil)
        #expect(growth.tick(now: start + .seconds(1), size: 6, busy: 1, queued: 0) == 2)
        // Work that waits ends the window: nobody retires for it.
        #expect(growth.tick(now: start + .seconds(2), size: 2, busy: 0, queued: 0) == nil)
        #expect(growth.tick(now: start + .milliseconds(2500), size: 2, busy: 2, queued: 1) == 3)
        #expect(growth.tick(now: start + .seconds(3), size: 3, busy: 0, queued: 0) == nil)
        #expect(growth.tick(now: start + .seconds(4), size: 3, busy: 0, queued: 0) == 1)
        #expect(growth.tick(now: start + .seconds(9), size: 1, busy: 0, queued: 0) == nil, "never below the minimum")
    }

    @Test func resizeAndReloadMoveTheBounds() {
        var growth = ProcessPoolGrowth(minimum: 2, maximum: 4, idleTimeout: .seconds(1))
        growth.setBounds(minimum: 5, maximum: growth.maximum, idleTimeout: growth.idleTimeout)
        #expect(growth.minimum == 5 && growth.maximum == 5 && !growth.isElastic)
        growth.setBounds(minimum: 1, maximum: 3, idleTimeout: .milliseconds(100))
        #expect(growth.minimum == 1 && growth.maximum == 3 && growth.idleTimeout == .milliseconds(100))
    }

    @Test func aPoolGrowsWhileWorkWaitsAndIsBackAtItsMinimumAfterItsIdleTime() async throws {
        let pool = ProcessPool(
            size: 1, maximum: 3, idleTimeout: .milliseconds(300), queueLimit: 64, program: .builtIn(executable: workerExecutable),
            logger: Logger(label: "test")
        )
        try await pool.start()
        #expect(pool.snapshot().minimum == 1 && pool.snapshot().maximum == 3)
        async let outcomes = withThrowingTaskGroup(of: TaskOutcome.self) { group in
            for _ in 0..<3 { group.addTask { try await run(.sleep(milliseconds: 1500), on: pool) } }
            return try await group.reduce(into: [TaskOutcome]()) { $0.append($1) }
        }
        #expect(await eventually(within: 5) { pool.snapshot().busy == 3 }, "\(pool.snapshot())")
        let workers = Set(try await outcomes.map(\.worker))
        #expect(workers.count == 3, "\(workers)")
        // Idle for 300 ms (plus a tick), the two above the minimum retire.
        #expect(await eventually(within: 3) { pool.snapshot().size == 1 }, "\(pool.snapshot())")
        #expect(try await run(.noop, on: pool).result.value == .empty)
        await pool.shutdown()
    }
}
