import Testing

import ConcDaemon
import ConcWorkerCore

@Suite struct CPULoopTests {
    @Test(arguments: [(0, 0), (1, 0), (2, 1), (10, 45), (10_000_000, 49_999_995_000_000)] as [(Int64, Int64)])
    func sumsZeroToNMinusOne(n: Int64, expected: Int64) {
        #expect(CPULoop.sum(upTo: n) == expected)
    }

    /// The loop must do O(n) work: a compiler that folded it to n(n-1)/2 would make both sizes take
    /// the same few nanoseconds. The sizes differ 100×; the best of several runs of each must
    /// differ by well over 10×. A ratio, not a time, so a slow or loaded machine does not matter.
    @Test func timeGrowsWithN() async {
        func best(_ n: Int64) async -> Duration {
            var fastest = Duration.seconds(Int64.max)
            for _ in 0..<5 {
                // Lend the thread back between runs: the cooperative pool has one thread per core.
                await Task.yield()
                let clock = ContinuousClock()
                var sink: Int64 = 0
                let elapsed = clock.measure { sink = CPULoop.sum(upTo: n) }
                #expect(sink == (n / 2) * (n - 1))
                fastest = min(fastest, elapsed)
            }
            return fastest
        }
        let small = await best(200_000)
        let large = await best(20_000_000)
        #expect(large > small * 10, "cpu 2e7 took \(large), cpu 2e5 took \(small)")
    }
}
