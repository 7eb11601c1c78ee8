import ConcProtocol
import NIOCore
import Synchronization

/// What `status` says about a pool's last few seconds: tasks finished per second and the wall-time
/// percentiles of those tasks. Unlike the journal's interval histogram it is never reset by a
/// reader, so any number of `concctl top` windows can watch at once without disturbing each other.
package final class RecentTasks: Sendable {
    /// Tasks finished in the window, per second, and the percentiles of their wall times.
    package struct Summary: Sendable, Equatable {
        package var tasksPerSecond: Double
        package var p50Microseconds: UInt64
        package var p99Microseconds: UInt64
    }

    private struct Sample {
        var finishedNanoseconds: Int64
        var wallMicroseconds: UInt64
    }

    private struct State {
        var samples: [Sample] = []
        var next = 0
        /// Tasks finished in each whole second, indexed by second modulo the ring's length.
        var perSecond: [UInt64]
        var secondOfSlot: [Int64]
    }

    /// At most this many of the newest tasks enter the percentiles, which keeps `status` cheap
    /// under heavy load; the rate counts every task.
    package static let sampleCapacity = 4096
    private let window: Int
    private let state: Mutex<State>

    /// Creates a window of `seconds` seconds.
    package init(seconds: Int = RecentWindow.seconds) {
        precondition(seconds > 0)
        window = seconds
        state = Mutex(State(perSecond: Array(repeating: 0, count: seconds + 1), secondOfSlot: Array(repeating: -1, count: seconds + 1)))
    }

    /// Counts a task that finished at `now` after `wallMicroseconds`.
    package func record(wallMicroseconds: UInt64, now: NIODeadline = .now()) {
        let nanoseconds = now.uptimeNanoseconds > UInt64(Int64.max) ? Int64.max : Int64(now.uptimeNanoseconds)
        let second = nanoseconds / 1_000_000_000
        state.withLock { state in
            let sample = Sample(finishedNanoseconds: nanoseconds, wallMicroseconds: wallMicroseconds)
            if state.samples.count < Self.sampleCapacity {
                state.samples.append(sample)
            } else {
                state.samples[state.next] = sample
            }
            state.next = (state.next + 1) % Self.sampleCapacity
            let slot = Int(second % Int64(state.perSecond.count))
            if state.secondOfSlot[slot] != second {
                state.secondOfSlot[slot] = second
                state.perSecond[slot] = 0
            }
            state.perSecond[slot] += 1
        }
    }

    /// The rate over the last `window` whole seconds (the current, partial second is left out, so
    /// the rate lags by up to a second) and the percentiles of the tasks finished in the last
    /// `window` seconds.
    package func summary(now: NIODeadline = .now()) -> Summary {
        let nanoseconds = now.uptimeNanoseconds > UInt64(Int64.max) ? Int64.max : Int64(now.uptimeNanoseconds)
        let second = nanoseconds / 1_000_000_000
        let since = nanoseconds - Int64(window) * 1_000_000_000
        let (finished, walls) = state.withLock { state -> (UInt64, [UInt64]) in
            var finished: UInt64 = 0
            for (slot, slotSecond) in state.secondOfSlot.enumerated() where slotSecond >= second - Int64(window) && slotSecond < second {
                finished += state.perSecond[slot]
            }
            let walls = state.samples.lazy.filter { $0.finishedNanoseconds >= since }.map(\.wallMicroseconds)
            return (finished, Array(walls))
        }
        let sorted = walls.sorted()
        return Summary(
            tasksPerSecond: Double(finished) / Double(window),
            p50Microseconds: Self.percentile(50, of: sorted),
            p99Microseconds: Self.percentile(99, of: sorted)
        )
    }

    /// The nearest-rank percentile of sorted values; 0 for none.
    package static func percentile(_ percent: Int, of sorted: [UInt64]) -> UInt64 {
        guard !sorted.isEmpty else { return 0 }
        let rank = (percent * sorted.count + 99) / 100
        return sorted[min(max(rank, 1), sorted.count) - 1]
    }
}
