import ConcProtocol

/// What `status` and `metrics` add for people watching the daemon: each pool's recent rate and
/// percentiles and refusals, the CPU time used, and the Prometheus exposition.
extension Dispatcher {
    /// `status` with the fields `concctl top` and `concctl compare` read.
    func withVisibility(_ status: DaemonStatus) -> DaemonStatus {
        var status = status
        var workersSeconds = 0.0
        for index in status.pools.indices {
            guard let counters = registry.entry(status.pools[index].kind)?.counters else { continue }
            let recent = counters.recent.summary()
            status.pools[index].rejected = counters.rejected.load(ordering: .relaxed)
            status.pools[index].retried = counters.retried.load(ordering: .relaxed)
            status.pools[index].tasksPerSecond = recent.tasksPerSecond
            status.pools[index].p50Microseconds = recent.p50Microseconds
            status.pools[index].p99Microseconds = recent.p99Microseconds
            for worker in status.pools[index].workers ?? [] {
                if let pid = worker.pid, let seconds = CPUClock.seconds(pid: pid) { workersSeconds += seconds }
            }
        }
        status.cpu = CPUUsage(daemonSeconds: CPUClock.selfSeconds(), workersSeconds: workersSeconds)
        status.queue = fleet.withLock { $0 }?.status()
        return status
    }

    /// The Prometheus text exposition (format 0.0.4) of this daemon now.
    package func metricsExposition() -> String {
        let counters = Dictionary(uniqueKeysWithValues: registry.entries.map { ($0.name, $0.counters) })
        return prometheus.render(status: status(), counters: counters)
    }
}
