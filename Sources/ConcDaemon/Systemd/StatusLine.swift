import ConcProtocol

/// The one-line summary systemd shows as STATUS= (`systemctl status concd`).
package enum StatusLine {
    package static func render(_ status: DaemonStatus) -> String {
        status.pools.map { pool in
            switch pool.kind {
            case .process, .thread:
                return "\(pool.kind) \(pool.busy)/\(pool.size) busy q=\(pool.queued)"
            case .async:
                return "async \(pool.busy) in flight"
            }
        }.joined(separator: " | ")
    }
}
