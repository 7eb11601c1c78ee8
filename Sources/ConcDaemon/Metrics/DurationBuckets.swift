import Prometheus

/// The counts behind one pool's `concd_task_duration_seconds` histogram: how many finished tasks
/// took at most each bucket's upper bound, their sum and their count. A value type, kept under the
/// pool's latency lock (`PoolCounters`) and written out at each scrape.
///
/// Why not swift-prometheus's own histogram: its `record` takes a lock of its own and compares the
/// value with every bucket bound as a `Duration`, about 900 instructions per task, a twentieth of a
/// no-op's whole cost in the daemon (callgrind). Here a task costs a short scan over integers under
/// a lock already taken. swift-prometheus still writes the bounds (`Duration.bucketRepresentation`),
/// so the text is the same as before.
package struct DurationBuckets: Sendable, Equatable {
    /// The buckets' upper bounds in microseconds, ascending.
    package let bounds: [UInt64]
    /// Tasks in each bucket alone (not cumulative); one more entry than `bounds`, for `+Inf`.
    private var counts: [UInt64]
    /// The sum of every recorded wall time, in microseconds.
    package private(set) var sumMicroseconds: UInt64 = 0
    /// How many tasks were recorded.
    package private(set) var count: UInt64 = 0

    /// Empty buckets with these upper bounds (whole microseconds, ascending).
    package init(bounds: [Duration]) {
        self.bounds = bounds.map { UInt64($0.components.seconds) * 1_000_000 + UInt64($0.components.attoseconds / 1_000_000_000_000) }
        precondition(zip(self.bounds, self.bounds.dropFirst()).allSatisfy { $0 < $1 }, "bucket bounds must ascend")
        counts = Array(repeating: 0, count: bounds.count + 1)
    }

    /// Counts one task that took `microseconds`.
    package mutating func record(microseconds: UInt64) {
        var index = 0
        while index < bounds.count, bounds[index] < microseconds { index += 1 }
        counts[index] &+= 1
        sumMicroseconds &+= microseconds
        count &+= 1
    }

    /// Tasks that took at most each bound, in the order of `bounds` (Prometheus's `le` buckets).
    package var cumulative: [UInt64] {
        var total: UInt64 = 0
        return counts.dropLast().map { count in
            total &+= count
            return total
        }
    }

    /// The histogram's sample lines for `name` with `labels` (already rendered, e.g. `pool="async"`),
    /// as the Prometheus text format writes them: the buckets, `+Inf`, the sum in seconds, the count.
    package func exposition(name: String, labels: String) -> String {
        var text = ""
        for (bound, total) in zip(bounds, cumulative) {
            text += "\(name)_bucket{\(labels),le=\"\(Duration.microseconds(bound).bucketRepresentation)\"} \(total)\n"
        }
        text += "\(name)_bucket{\(labels),le=\"+Inf\"} \(count)\n"
        text += "\(name)_sum{\(labels)} \(Duration.microseconds(sumMicroseconds).bucketRepresentation)\n"
        text += "\(name)_count{\(labels)} \(count)\n"
        return text
    }
}
