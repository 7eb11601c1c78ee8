import ConcProtocol
import CoreMetrics
import Prometheus
import Synchronization

/// The daemon's metrics in the Prometheus text format, made with swift-metrics types over a
/// swift-prometheus registry that belongs to this daemon alone. The global MetricsSystem is left
/// untouched: tests run several daemons in one process, and it may be bootstrapped only once.
///
/// Task durations are counted as tasks finish, by each pool's `PoolCounters` (`DurationBuckets`),
/// and that histogram is written out after the registry's metrics at each scrape; the pool gauges
/// and the task counters are brought up to date from those counters at each scrape, so they cannot
/// drift from `status`.
package final class PrometheusExporter: Sendable {
    /// The metric names, documented in docs/operations.md.
    package enum Name {
        package static let completed = "concd_tasks_completed_total"
        package static let failed = "concd_tasks_failed_total"
        package static let rejected = "concd_tasks_rejected_total"
        package static let retried = "concd_tasks_retried_total"
        package static let duration = "concd_task_duration_seconds"
        package static let size = "concd_pool_size"
        package static let sizeMinimum = "concd_pool_size_min"
        package static let sizeMaximum = "concd_pool_size_max"
        package static let busy = "concd_pool_busy"
        package static let idle = "concd_pool_idle"
        package static let queued = "concd_pool_queued"
        package static let uptime = "concd_uptime_seconds"
        package static let cpu = "concd_cpu_seconds"
        package static let queueJobs = "concd_queue_jobs"
        package static let queueConnected = "concd_queue_connected"
        package static let queueHosts = "concd_queue_hosts"
        package static let queueRunning = "concd_queue_running"
        package static let queueClaimed = "concd_queue_claimed_total"
        package static let queueCompleted = "concd_queue_completed_total"
        package static let queueFenced = "concd_queue_fenced_total"
        package static let queueRescued = "concd_queue_rescued_total"
        package static let queueClaims = "concd_queue_claims_total"
        package static let queueClaimSeconds = "concd_queue_claim_seconds_total"
    }

    /// The fleet's queue, created at its first report (a daemon without a queue exports none).
    private struct QueueMetrics: Sendable {
        var jobs: [String: CoreMetrics.Gauge]
        var connected: CoreMetrics.Gauge
        var hosts: CoreMetrics.Gauge
        var running: CoreMetrics.Gauge
        var counters: [String: CoreMetrics.Counter]
        var claimSeconds: CoreMetrics.FloatingPointCounter
        var last: [String: Double] = [:]
    }

    private struct PoolMetrics: Sendable {
        var completed: CoreMetrics.Counter
        var failed: CoreMetrics.Counter
        var rejected: CoreMetrics.Counter
        var retried: CoreMetrics.Counter
        var size: CoreMetrics.Gauge
        var sizeMinimum: CoreMetrics.Gauge
        var sizeMaximum: CoreMetrics.Gauge
        var busy: CoreMetrics.Gauge
        var idle: CoreMetrics.Gauge
        var queued: CoreMetrics.Gauge
    }

    /// What each counter held at the last scrape, so the next one adds only the difference.
    private struct Exported {
        var completed: UInt64 = 0
        var failed: UInt64 = 0
        var rejected: UInt64 = 0
        var retried: UInt64 = 0
    }

    private let registry = PrometheusCollectorRegistry()
    private let pools: [PoolName: PoolMetrics]
    private let uptime: CoreMetrics.Gauge
    private let daemonCPU: CoreMetrics.Gauge
    private let workersCPU: CoreMetrics.Gauge
    private let exported = Mutex<[PoolName: Exported]>([:])
    private let factory: PrometheusMetricsFactory
    private let queue = Mutex<QueueMetrics?>(nil)

    /// Upper bounds of the duration histogram's buckets: from 100 µs (a no-op's round trip) to a
    /// minute (a slow GET), roughly ×2.5 apart.
    package static let durationBuckets: [Duration] = [
        .microseconds(100), .microseconds(250), .microseconds(500), .milliseconds(1), .milliseconds(2) + .microseconds(500),
        .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100),
        .milliseconds(250), .milliseconds(500), .seconds(1), .milliseconds(2500), .seconds(5), .seconds(10),
        .seconds(30), .seconds(60),
    ]

    /// Creates the metrics of the pools named `kinds`.
    package init(pools kinds: [PoolName]) {
        let factory = PrometheusMetricsFactory(registry: registry)
        var pools: [PoolName: PoolMetrics] = [:]
        for kind in kinds {
            let label = [("pool", kind.rawValue)]
            pools[kind] = PoolMetrics(
                completed: CoreMetrics.Counter(label: Name.completed, dimensions: label, factory: factory),
                failed: CoreMetrics.Counter(label: Name.failed, dimensions: label, factory: factory),
                rejected: CoreMetrics.Counter(label: Name.rejected, dimensions: label, factory: factory),
                retried: CoreMetrics.Counter(label: Name.retried, dimensions: label, factory: factory),
                size: CoreMetrics.Gauge(label: Name.size, dimensions: label, factory: factory),
                sizeMinimum: CoreMetrics.Gauge(label: Name.sizeMinimum, dimensions: label, factory: factory),
                sizeMaximum: CoreMetrics.Gauge(label: Name.sizeMaximum, dimensions: label, factory: factory),
                busy: CoreMetrics.Gauge(label: Name.busy, dimensions: label, factory: factory),
                idle: CoreMetrics.Gauge(label: Name.idle, dimensions: label, factory: factory),
                queued: CoreMetrics.Gauge(label: Name.queued, dimensions: label, factory: factory)
            )
        }
        self.pools = pools
        self.factory = factory
        uptime = CoreMetrics.Gauge(label: Name.uptime, factory: factory)
        daemonCPU = CoreMetrics.Gauge(label: Name.cpu, dimensions: [("part", "daemon")], factory: factory)
        workersCPU = CoreMetrics.Gauge(label: Name.cpu, dimensions: [("part", "workers")], factory: factory)
    }

    /// Brings every gauge and counter up to `status` and the pools' counters, and returns the exposition.
    package func render(status: DaemonStatus, counters: [PoolName: PoolCounters]) -> String {
        exported.withLock { exported in
            for pool in status.pools {
                guard let metrics = pools[pool.kind], let counter = counters[pool.kind] else { continue }
                metrics.size.record(pool.size)
                // A pool of a fixed size is its own minimum and maximum.
                metrics.sizeMinimum.record(pool.minimum ?? pool.size)
                metrics.sizeMaximum.record(pool.maximum ?? pool.size)
                metrics.busy.record(pool.busy)
                metrics.idle.record(pool.idle)
                metrics.queued.record(pool.queued)
                var last = exported[pool.kind] ?? Exported()
                let now = Exported(
                    completed: counter.completed.load(ordering: .relaxed),
                    failed: counter.failed.load(ordering: .relaxed),
                    rejected: counter.rejected.load(ordering: .relaxed),
                    retried: counter.retried.load(ordering: .relaxed)
                )
                metrics.completed.increment(by: Int64(clamping: now.completed &- last.completed))
                metrics.failed.increment(by: Int64(clamping: now.failed &- last.failed))
                metrics.rejected.increment(by: Int64(clamping: now.rejected &- last.rejected))
                metrics.retried.increment(by: Int64(clamping: now.retried &- last.retried))
                last = now
                exported[pool.kind] = last
            }
            uptime.record(status.uptimeSeconds)
            if let cpu = status.cpu {
                daemonCPU.record(cpu.daemonSeconds)
                workersCPU.record(cpu.workersSeconds)
            }
            if let status = status.queue { record(status) }
            var text = registry.emitToString()
            // The task wall times (queueing included), one histogram per pool, after the rest.
            var typed = false
            for pool in status.pools {
                guard pools[pool.kind] != nil, let counter = counters[pool.kind] else { continue }
                if !typed {
                    text += "# TYPE \(Name.duration) histogram\n"
                    typed = true
                }
                text += counter.durations.exposition(name: Name.duration, labels: "pool=\"\(pool.kind.rawValue)\"")
            }
            return text
        }
    }

    /// Queue depth per state, the fleet's hosts, and this host's claims (count and time: their ratio
    /// is the mean claim latency), completions, fenced completions and rescues.
    private func record(_ status: QueueStatus) {
        queue.withLock { queue in
            if queue == nil {
                let factory = self.factory
                var jobs: [String: CoreMetrics.Gauge] = [:]
                for state in JobState.allCases {
                    jobs[state.rawValue] = CoreMetrics.Gauge(label: Name.queueJobs, dimensions: [("state", state.rawValue)], factory: factory)
                }
                var counters: [String: CoreMetrics.Counter] = [:]
                for name in [Name.queueClaimed, Name.queueCompleted, Name.queueFenced, Name.queueRescued, Name.queueClaims] {
                    counters[name] = CoreMetrics.Counter(label: name, factory: factory)
                }
                queue = QueueMetrics(
                    jobs: jobs,
                    connected: CoreMetrics.Gauge(label: Name.queueConnected, factory: factory),
                    hosts: CoreMetrics.Gauge(label: Name.queueHosts, factory: factory),
                    running: CoreMetrics.Gauge(label: Name.queueRunning, factory: factory),
                    counters: counters,
                    claimSeconds: CoreMetrics.FloatingPointCounter(label: Name.queueClaimSeconds, factory: factory)
                )
            }
            guard var metrics = queue else { return }
            for (state, gauge) in metrics.jobs { gauge.record(status.jobs[state] ?? 0) }
            metrics.connected.record(status.connected ? 1 : 0)
            metrics.hosts.record(status.hosts.count)
            metrics.running.record(status.running)
            let totals: [String: Double] = [
                Name.queueClaimed: Double(status.claimed), Name.queueCompleted: Double(status.completed),
                Name.queueFenced: Double(status.fenced), Name.queueRescued: Double(status.rescued),
                Name.queueClaims: Double(status.claims ?? 0),
            ]
            for (name, total) in totals {
                let step = total - (metrics.last[name] ?? 0)
                if step > 0 { metrics.counters[name]?.increment(by: Int64(step)) }
                metrics.last[name] = total
            }
            let seconds = status.claimSeconds ?? 0
            if seconds > metrics.last[Name.queueClaimSeconds] ?? 0 {
                metrics.claimSeconds.increment(by: seconds - (metrics.last[Name.queueClaimSeconds] ?? 0))
                metrics.last[Name.queueClaimSeconds] = seconds
            }
            queue = metrics
        }
    }
}
