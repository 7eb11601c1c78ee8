/// What a client asks of the daemon: one JSON object a line (docs/protocol.md).
public struct Request: Sendable, Equatable {
    /// Chosen by the client and echoed in the reply, so one connection can carry many requests in flight.
    public var id: UInt64?
    /// What to do.
    public var operation: Operation

    /// The operations of protocol version 1.
    public enum Operation: Sendable, Equatable {
        /// Round-trips through the daemon without touching a pool.
        case ping
        /// Reports the daemon's pools and counters.
        case status
        /// Runs a workload on a pool.
        case submit(Submission)
        /// Reports the daemon's metrics in the Prometheus text format.
        case metrics
    }

    /// Creates a request.
    public init(id: UInt64?, operation: Operation) {
        self.id = id
        self.operation = operation
    }
}

/// A workload and where and how long to run it.
public struct Submission: Sendable, Equatable {
    /// The validated workload.
    public var workload: Workload
    /// The pool to run on; `nil` means the workload's natural pool.
    public var pool: PoolKind?
    /// The deadline in milliseconds; `nil` means none.
    public var timeoutMilliseconds: Int64?

    /// Creates a submission, checking that the pool can run the workload and the deadline is in range.
    public init(workload: Workload, pool: PoolKind? = nil, timeoutMilliseconds: Int64? = nil) throws(WireError) {
        if let pool, !workload.kind.supportedPools.contains(pool) {
            let allowed = workload.kind.supportedPools.map(\.rawValue).joined(separator: ", ")
            throw WireError(
                .unsupportedPool,
                "\(workload.kind) cannot run on the \(pool) pool; it runs on: \(allowed)"
            )
        }
        if let timeoutMilliseconds, timeoutMilliseconds <= 0 || timeoutMilliseconds > ProtocolLimits.maxTimeoutMilliseconds {
            throw WireError(
                .invalidArgument,
                "timeout_ms must be 1...\(ProtocolLimits.maxTimeoutMilliseconds), got \(timeoutMilliseconds)"
            )
        }
        self.workload = workload
        self.pool = pool
        self.timeoutMilliseconds = timeoutMilliseconds
    }

    /// The pool this submission runs on.
    public var resolvedPool: PoolKind { pool ?? workload.kind.naturalPool }
}
