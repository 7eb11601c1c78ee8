import ConcProtocol
import Foundation
import NIOCore
import Testing

import ConcDaemon

/// The parts of issue 6 that live in the daemon: the recent window, CPU clocks, the Prometheus exposition.
@Suite struct VisibilityTests {
    @Test func recentTasksGivesNearestRankPercentilesOfTheWindow() {
        let recent = RecentTasks(seconds: 5)
        let start = NIODeadline.uptimeNanoseconds(1_000_000_000_000)
        for wall in 1...100 {
            recent.record(wallMicroseconds: UInt64(wall), now: start)
        }
        let summary = recent.summary(now: start + .seconds(1))
        #expect(summary.p50Microseconds == 50)
        #expect(summary.p99Microseconds == 99)
        // 100 tasks in one whole second of a five-second window.
        #expect(summary.tasksPerSecond == 20)
        let later = recent.summary(now: start + .seconds(7))
        #expect(later.p50Microseconds == 0 && later.p99Microseconds == 0 && later.tasksPerSecond == 0)
    }

    @Test func theCurrentPartialSecondIsNotCounted() {
        let recent = RecentTasks(seconds: 2)
        let start = NIODeadline.uptimeNanoseconds(500_000_000_000)
        recent.record(wallMicroseconds: 10, now: start)
        #expect(recent.summary(now: start).tasksPerSecond == 0)
        #expect(recent.summary(now: start + .seconds(1)).tasksPerSecond == 0.5)
    }

    @Test func percentilesOfNothingAreZero() {
        #expect(RecentTasks.percentile(50, of: []) == 0)
        #expect(RecentTasks.percentile(99, of: [7]) == 7)
        #expect(RecentTasks.percentile(50, of: [1, 2]) == 1)
    }

    @Test func procStatParsesUtimeAndStimeAfterAParenthesisedName() throws {
        let ticks = Double(sysconf(Int32(_SC_CLK_TCK)))
        let line = "4242 (a (weird) name) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 1 0 100 1000 10"
        let seconds = try #require(CPUClock.parseStat(line))
        #expect(abs(seconds - 300 / ticks) < 1e-9)
        #expect(CPUClock.parseStat("garbage") == nil)
        #expect(CPUClock.seconds(pid: getpid()) != nil)
        #expect(CPUClock.selfSeconds() > 0)
    }

    @Test func theExpositionHasEveryMetricPerPool() throws {
        let exporter = PrometheusExporter(pools: [.process, .thread])
        // One record per task feeds the Prometheus histogram too.
        let counters: [PoolName: PoolCounters] = [.process: PoolCounters(), .thread: PoolCounters()]
        counters[.thread]?.record(.success(.empty), wallMicroseconds: 1500)
        counters[.thread]?.record(.failure(WireError(.timeout, "late")), wallMicroseconds: 2_000_000)
        counters[.thread]?.rejected.add(4, ordering: .relaxed)
        var status = DaemonStatus(pid: 1, version: "t", uptimeSeconds: 12.5, socket: "/s", pools: [
            PoolStatus(kind: .process, size: 2, busy: 1, idle: 1, queued: 0, queueLimit: 10, completed: 0, failed: 0),
            PoolStatus(kind: .thread, size: 8, busy: 3, idle: 5, queued: 7, queueLimit: 10, completed: 1, failed: 1),
        ])
        status.cpu = CPUUsage(daemonSeconds: 0.5, workersSeconds: 2)
        let text = exporter.render(status: status, counters: counters)
        let samples = Self.samples(text)
        #expect(samples[#"concd_tasks_completed_total{pool="thread"}"#] == 1)
        #expect(samples[#"concd_tasks_failed_total{pool="thread"}"#] == 1)
        #expect(samples[#"concd_tasks_rejected_total{pool="thread"}"#] == 4)
        #expect(samples[#"concd_tasks_completed_total{pool="process"}"#] == 0)
        #expect(samples[#"concd_pool_size{pool="thread"}"#] == 8)
        #expect(samples[#"concd_pool_busy{pool="thread"}"#] == 3)
        #expect(samples[#"concd_pool_idle{pool="process"}"#] == 1)
        #expect(samples[#"concd_pool_queued{pool="thread"}"#] == 7)
        #expect(samples[#"concd_task_duration_seconds_count{pool="thread"}"#] == 2)
        #expect(samples[#"concd_task_duration_seconds_bucket{pool="thread",le="0.0025"}"#] == 1)
        #expect(samples[#"concd_task_duration_seconds_bucket{pool="thread",le="+Inf"}"#] == 2)
        #expect(samples["concd_uptime_seconds"] == 12.5)
        #expect(samples[#"concd_cpu_seconds{part="workers"}"#] == 2)
        #expect(text.contains("# TYPE concd_tasks_completed_total counter"))
        #expect(text.contains("# TYPE concd_task_duration_seconds histogram"))

        // A second scrape adds only what happened in between.
        counters[.thread]?.record(.success(.empty), wallMicroseconds: 10)
        let again = Self.samples(exporter.render(status: status, counters: counters))
        #expect(again[#"concd_tasks_completed_total{pool="thread"}"#] == 2)
        #expect(again[#"concd_tasks_rejected_total{pool="thread"}"#] == 4)
        #expect(again[#"concd_task_duration_seconds_count{pool="thread"}"#] == 3)
    }

    @Test func durationBucketsCountEachTaskInTheFirstBucketThatHoldsIt() {
        var buckets = DurationBuckets(bounds: [.microseconds(100), .milliseconds(1), .seconds(2)])
        #expect(buckets.bounds == [100, 1000, 2_000_000])
        for microseconds: UInt64 in [1, 100, 101, 1000, 5_000_000] { buckets.record(microseconds: microseconds) }
        // A bound is inclusive (Prometheus's `le`): 100 µs is in the first bucket, 101 µs in the second.
        #expect(buckets.cumulative == [2, 4, 4])
        #expect(buckets.count == 5)
        #expect(buckets.sumMicroseconds == 5_001_202)
        let samples = Self.samples(buckets.exposition(name: "t", labels: #"pool="p""#))
        #expect(samples[#"t_bucket{pool="p",le="0.0001"}"#] == 2)
        #expect(samples[#"t_bucket{pool="p",le="0.001"}"#] == 4)
        #expect(samples[#"t_bucket{pool="p",le="2.0"}"#] == 4)
        #expect(samples[#"t_bucket{pool="p",le="+Inf"}"#] == 5)
        #expect(samples[#"t_sum{pool="p"}"#] == 5.001202)
        #expect(samples[#"t_count{pool="p"}"#] == 5)
    }

    /// `name{labels} value` lines by series.
    static func samples(_ text: String) -> [String: Double] {
        var samples: [String: Double] = [:]
        for line in text.split(separator: "\n") where !line.hasPrefix("#") {
            guard let space = line.lastIndex(of: " "), let value = Double(line[line.index(after: space)...]) else { continue }
            samples[String(line[..<space])] = value
        }
        return samples
    }
}
