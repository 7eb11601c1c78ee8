import ConcProtocol

/// The one-line summary systemd shows as STATUS= (`systemctl status concd`):
/// `process 3/4 busy q=0 | thread 2/16 busy (8-256) q=0 | async 120 in flight | 1.2k tasks/s`.
package enum StatusLine {
    package static func render(_ status: DaemonStatus, tasksPerSecond: Double? = nil) -> String {
        var parts = status.pools.map { pool in
            switch pool.resolvedModel {
            case .process, .thread, nil:
                return "\(pool.kind) \(pool.busy)/\(pool.size) busy\(pool.bounds.map { " \($0)" } ?? "") q=\(pool.queued)"
            case .async:
                return "\(pool.kind) \(pool.busy) in flight"
            }
        }
        if let tasksPerSecond { parts.append("\(rate(tasksPerSecond)) tasks/s") }
        if let queue = status.queue {
            if queue.connected {
                parts.append("queue \(queue.jobs["queued"] ?? 0) queued, \(queue.running) running here")
            } else {
                parts.append("queue unavailable: \(queue.problem ?? "connecting")")
            }
        }
        return parts.joined(separator: " | ")
    }

    /// 950, 1.2k, 35k, 1.5M.
    package static func rate(_ value: Double) -> String {
        switch value {
        case ..<1000: return String(Int(value.rounded()))
        case ..<10_000: return "\((value / 100).rounded() / 10)k"
        case ..<1_000_000: return "\(Int((value / 1000).rounded()))k"
        default: return "\((value / 100_000).rounded() / 10)M"
        }
    }
}
