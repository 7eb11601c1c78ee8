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
    @Test func timeGrowsWithN() {
        func best(_ n: Int64) -> Duration {
            (0..<5).map { _ in
                let clock = ContinuousClock()
                var sink: Int64 = 0
                let elapsed = clock.measure { sink = CPULoop.sum(upTo: n) }
                #expect(sink == (n / 2) * (n - 1))
                return elapsed
            }.min()!
        }
        let small = best(200_000)
        let large = best(20_000_000)
        #expect(large > small * 10, "cpu 2e7 took \(large), cpu 2e5 took \(small)")
    }
}
