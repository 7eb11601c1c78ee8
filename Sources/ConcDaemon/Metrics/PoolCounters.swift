import ConcProtocol
import Histogram
import Synchronization

/// One pool's telemetry: its outcomes, the latency histogram of the journal's interval, the recent
/// window of `status`, and the buckets of its Prometheus duration histogram, all fed by one
/// ``record(_:wallMicroseconds:)`` per finished task, made by the Dispatcher and nowhere else. The
/// counters are lock-free; the latency histogram (HdrHistogram, two significant digits) and the
/// Prometheus buckets share one short lock per task.
package final class PoolCounters: Sendable {
    /// Tasks finished with a value.
    package let completed = Atomic<UInt64>(0)
    /// Tasks finished with an error.
    package let failed = Atomic<UInt64>(0)
    /// Submissions the pool refused (busy, shutting down).
    package let rejected = Atomic<UInt64>(0)
    /// Tasks run again because their worker died (`retries`).
    package let retried = Atomic<UInt64>(0)
    private let latencies: Mutex<Latencies>
    /// The last few seconds, for `status` (never reset by a reader).
    package let recent = RecentTasks()

    private struct Latencies {
        /// The journal's interval, reset by each `takeLatencies`.
        var interval = PoolCounters.emptyHistogram()
        /// Since the start, for Prometheus (never reset).
        var durations: DurationBuckets
    }

    private static let highestMicroseconds: UInt64 = 86_400_000_000

    private static func emptyHistogram() -> Histogram<UInt64> {
        Histogram(highestTrackableValue: highestMicroseconds, numberOfSignificantValueDigits: .two)
    }

    /// Creates counters whose Prometheus histogram has buckets up to each of `durationBuckets`.
    package init(durationBuckets: [Duration] = PrometheusExporter.durationBuckets) {
        latencies = Mutex(Latencies(durations: DurationBuckets(bounds: durationBuckets)))
    }

    /// Counts a finished task and its wall time.
    package func record(_ result: Result<TaskValue, WireError>, wallMicroseconds: UInt64) {
        switch result {
        case .success: completed.add(1, ordering: .relaxed)
        case .failure: failed.add(1, ordering: .relaxed)
        }
        let value = min(max(wallMicroseconds, 1), Self.highestMicroseconds)
        latencies.withLock { latencies in
            _ = latencies.interval.record(value)
            latencies.durations.record(microseconds: value)
        }
        recent.record(wallMicroseconds: value)
    }

    /// The Prometheus duration histogram's counts so far.
    package var durations: DurationBuckets {
        latencies.withLock { $0.durations }
    }

    /// Wall-time percentiles since the last call, which starts a new interval.
    package func takeLatencies() -> LatencySummary {
        latencies.withLock { latencies in
            defer { latencies.interval.reset() }
            guard latencies.interval.totalCount > 0 else { return LatencySummary(count: 0, p50: 0, p99: 0) }
            return LatencySummary(
                count: latencies.interval.totalCount,
                p50: latencies.interval.valueAtPercentile(50),
                p99: latencies.interval.valueAtPercentile(99)
            )
        }
    }

    /// Tasks finished either way.
    package var finished: UInt64 {
        completed.load(ordering: .relaxed) &+ failed.load(ordering: .relaxed)
    }
}

/// Percentiles of one interval, in microseconds.
package struct LatencySummary: Sendable, Equatable {
    package var count: UInt64
    package var p50: UInt64
    package var p99: UInt64
}
