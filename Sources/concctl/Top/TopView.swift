import ConcProtocol

/// The lines `concctl top` shows for one status snapshot: the same on a terminal (redrawn) and in a
/// pipe (once). Numbers are right-aligned one space apart, so the table fits 80 columns.
enum TopView {
    static let header = ["POOL", "SIZE", "BUSY", "IDLE", "QUEUED", "TASKS/S", "P50", "P99", "DONE", "FAILED", "REJECTED"]

    static func lines(_ status: DaemonStatus, interval: Double, interactive: Bool) -> [String] {
        var title = "concd \(status.version), pid \(status.pid), up \(Format.duration(seconds: status.uptimeSeconds))"
        if let cpu = status.cpu {
            title += ", CPU: daemon \(Format.duration(seconds: cpu.daemonSeconds)), workers \(Format.duration(seconds: cpu.workersSeconds))"
        }
        let rows = status.pools.map { pool in
            [
                pool.kind.rawValue, pool.sizeText, "\(pool.busy)", "\(pool.idle)", "\(pool.queued)",
                pool.tasksPerSecond.map(Format.rounded) ?? "-",
                pool.p50Microseconds.map(latency) ?? "-",
                pool.p99Microseconds.map(latency) ?? "-",
                "\(pool.completed)", "\(pool.failed)", pool.rejected.map(String.init) ?? "-",
            ]
        }
        var lines = [title, ""] + table([header] + rows)
        if let queue = status.queue { lines.append(QueueView.summary(queue)) }
        lines.append("")
        lines.append("TASKS/S, P50, P99: tasks finished in the last \(RecentWindow.seconds) s (wall time, queueing included)")
        lines.append("DONE: completed since start; socket \(status.socket)")
        if interactive {
            lines.append("refreshing every \(Format.duration(seconds: interval)); q or Ctrl-C quits")
        }
        return lines
    }

    /// The first column left-aligned, the others right-aligned, one space apart.
    static func table(_ rows: [[String]]) -> [String] {
        var widths: [Int] = []
        for row in rows {
            for (index, cell) in row.enumerated() {
                if index >= widths.count { widths.append(0) }
                widths[index] = max(widths[index], cell.count)
            }
        }
        return rows.map { row in
            row.enumerated().map { index, cell in
                let padding = String(repeating: " ", count: widths[index] - cell.count)
                return index == 0 ? cell + padding : " " + padding + cell
            }.joined()
        }
    }

    private static func latency(_ microseconds: UInt64) -> String {
        microseconds == 0 ? "-" : Format.microseconds(microseconds)
    }
}
