import ConcProtocol

/// The lines `concctl top` shows for one status snapshot: the same on a terminal (redrawn) and in a pipe (once).
enum TopView {
    static let header = ["POOL", "SIZE", "BUSY", "IDLE", "QUEUED", "TASKS/S", "P50", "P99", "COMPLETED", "FAILED", "REJECTED"]

    static func lines(_ status: DaemonStatus, interval: Double, interactive: Bool) -> [String] {
        var title = "concd \(status.version)  pid \(status.pid)  up \(Format.duration(seconds: status.uptimeSeconds))  \(status.socket)"
        if let cpu = status.cpu {
            title += "  cpu \(Format.duration(seconds: cpu.daemonSeconds)) daemon + \(Format.duration(seconds: cpu.workersSeconds)) workers"
        }
        let rows = status.pools.map { pool in
            [
                pool.kind.rawValue, "\(pool.size)", "\(pool.busy)", "\(pool.idle)", "\(pool.queued)",
                pool.tasksPerSecond.map(Format.rounded) ?? "-",
                pool.p50Microseconds.map(latency) ?? "-",
                pool.p99Microseconds.map(latency) ?? "-",
                "\(pool.completed)", "\(pool.failed)", pool.rejected.map(String.init) ?? "-",
            ]
        }
        var lines = [title, ""] + Format.table([header] + rows).split(separator: "\n").map(String.init)
        lines.append("")
        let window = "tasks/s, p50 and p99: tasks finished in the last \(RecentWindow.seconds) s (wall time, queueing included)"
        lines.append(window)
        if interactive {
            lines.append("refreshing every \(Format.duration(seconds: interval)); q or Ctrl-C quits")
        }
        return lines
    }

    private static func latency(_ microseconds: UInt64) -> String {
        microseconds == 0 ? "-" : Format.microseconds(microseconds)
    }
}
