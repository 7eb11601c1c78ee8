import ConcClient
import ConcProtocol

/// Pipelined no-ops sent to a running concd, `window` in flight at once: the load
/// `concctl bench-load` puts on a daemon for scripts/profile.sh.
package struct NoopLoad: Sendable {
    /// The daemon's control socket.
    package var socketPath: String
    /// The pool the no-ops run on.
    package var pool: PoolName
    /// No-ops to send.
    package var count: Int
    /// No-ops in flight at once.
    package var window: Int
    /// On a pool that runs a program: the function called (with no arguments) instead of `noop`.
    package var function: String?

    /// A load of `count` no-ops on `pool`, `window` at a time; with `function`, calls of it.
    package init(socketPath: String, pool: PoolName, count: Int, window: Int, function: String? = nil) {
        self.socketPath = socketPath
        self.pool = pool
        self.count = count
        self.window = window
        self.function = function
    }

    /// What each request submits.
    private func submission() throws -> Submission {
        try Submission(workload: function.map { .call(function: $0, arguments: .null) } ?? .noop, pool: pool)
    }

    /// Sends them over one blocking socket (`RawConnection`); returns the seconds it took.
    package func runOnRawSocket() throws -> Double {
        let noop = try submission()
        let start = monotonicNanoseconds()
        let frame = RequestCodec.encode(Request(id: 1, operation: .submit(noop))) + [UInt8(ascii: "\n")]
        try RawConnection(socketPath: socketPath).pipeline(frame, total: count, window: window)
        return Double(monotonicNanoseconds() - start) / 1e9
    }

    /// Sends them through ConcClient (NIO, one task per request, `window` lanes); returns the
    /// seconds it took, connecting included.
    package func runThroughConcClient() async throws -> Double {
        let noop = try submission()
        let start = monotonicNanoseconds()
        let client = try await ConcClient.connect(socketPath: socketPath)
        let total = count
        let lanes = window
        try await withThrowingTaskGroup(of: Void.self) { group in
            for lane in 0..<lanes {
                group.addTask {
                    for _ in stride(from: lane, to: total, by: lanes) {
                        let reply = try await client.submit(noop)
                        if !reply.ok { throw BenchError("a no-op failed: \(reply.error?.message ?? "?")") }
                    }
                }
            }
            try await group.waitForAll()
        }
        await client.close()
        return Double(monotonicNanoseconds() - start) / 1e9
    }
}
