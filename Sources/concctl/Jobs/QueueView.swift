import ConcProtocol

/// How `concctl status` and `concctl top` show the fleet's queue (`status.queue`).
enum QueueView {
    /// `concctl status`: the connection, this host's pools and counters, jobs per state, and a table of hosts.
    static func lines(_ queue: QueueStatus) -> [String] {
        var lines: [String] = []
        if queue.connected {
            lines.append("queue: connected, host \(queue.host), pools \(pools(queue))")
        } else {
            lines.append("queue: NOT connected (\(queue.problem ?? "no reason given")), host \(queue.host), pools \(pools(queue))")
        }
        // Counted every few seconds: without the database the counts are the last ones read.
        lines.append("  jobs\(queue.connected ? "" : " (as last counted)"): \(counts(queue.jobs))")
        lines.append(
            "  this host: \(queue.running) running, \(queue.claimed) claimed, \(queue.completed) completed, "
                + "\(queue.fenced) fenced, \(queue.rescued) rescued"
        )
        guard !queue.hosts.isEmpty else {
            lines.append("  hosts: none has sent a heartbeat")
            return lines
        }
        let rows = queue.hosts.map { host in
            [host.name, Format.duration(seconds: host.heartbeatAge), "\(host.free)", "\(host.running)"]
        }
        lines += Format.table([["HOST", "HEARTBEAT", "FREE", "RUNNING"]] + rows).split(separator: "\n").map { "  " + $0 }
        return lines
    }

    /// `concctl top`: one line.
    static func summary(_ queue: QueueStatus) -> String {
        guard queue.connected else { return "QUEUE (\(queue.host)): not connected: \(queue.problem ?? "no reason given")" }
        let hosts = queue.hosts.count == 1 ? "1 host" : "\(queue.hosts.count) hosts"
        return "QUEUE (\(queue.host)): \(counts(queue.jobs, skippingZeros: true)); \(hosts); \(queue.running) running here"
    }

    /// `3 queued, 2 running, 10 succeeded, 1 failed, 0 cancelled`: the known states in their order,
    /// then any other the daemon counts.
    static func counts(_ jobs: [String: Int], skippingZeros: Bool = false) -> String {
        let known = JobState.allCases.map(\.rawValue)
        let others = jobs.keys.filter { !known.contains($0) }.sorted()
        let parts = (known + others).compactMap { state -> String? in
            let number = jobs[state] ?? 0
            return skippingZeros && number == 0 ? nil : "\(number) \(state)"
        }
        return parts.isEmpty ? "no jobs" : parts.joined(separator: ", ")
    }

    private static func pools(_ queue: QueueStatus) -> String {
        queue.pools.isEmpty ? "none" : queue.pools.joined(separator: ", ")
    }
}
