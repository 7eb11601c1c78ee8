import ConcProtocol
import Logging
import NIOCore
import NIOPosix

/// What the package-benchmark suite (Benchmarks/, a package of its own) needs from the daemon's
/// `package` types, which another package cannot see. Behind `@_spi(Benchmarks)`: not API, and
/// invisible to an `import ConcDaemon` without the attribute. Kept here so that the root package's
/// build fails, not only the suite's, when the types it wraps change shape.
@_spi(Benchmarks) public enum BenchmarkHooks {
    /// A `Dispatcher` with no pools: ping, status and the reply path, nothing behind them.
    public struct PoollessDispatcher: Sendable {
        private let dispatcher: Dispatcher

        /// A dispatcher that reports `socketPath` in its status.
        public init(socketPath: String) {
            dispatcher = Dispatcher(pools: [], socketPath: socketPath)
        }

        /// `Dispatcher.handle` without peer credentials.
        public func handle(_ request: Request, reply: @escaping @Sendable (Reply) -> Void) {
            dispatcher.handle(request, reply: reply)
        }
    }

    /// One pool of each model, started, for the no-op hand-off benchmarks.
    public final class RunningPool: Sendable {
        /// Which pool to build.
        public enum Model: Sendable {
            /// A `ThreadPool` of `size` threads.
            case thread(size: Int)
            /// An `AsyncPool` allowing `limit` tasks at once.
            case async(limit: Int)
            /// A `ProcessPool` of `size` workers running `executable`.
            case process(size: Int, executable: String)
        }

        private let pool: any Pool

        private init(pool: any Pool) {
            self.pool = pool
        }

        /// Builds the pool and waits until it is warm.
        public static func start(_ model: Model) async throws -> RunningPool {
            let pool: any Pool
            switch model {
            case .thread(let size):
                pool = ThreadPool(size: size, queueLimit: 10_000)
            case .async(let limit):
                pool = AsyncPool(limit: limit, connectionsPerHost: 8, eventLoopGroup: MultiThreadedEventLoopGroup.singleton)
            case .process(let size, let executable):
                pool = ProcessPool(size: size, queueLimit: 10_000, executable: executable, logger: Logger(label: "bench"))
            }
            try await pool.start()
            return RunningPool(pool: pool)
        }

        /// The pool's name.
        public var name: PoolName { pool.name }

        /// Submits a no-op; `completion` runs when it has finished, whatever its outcome.
        public func submitNoop(_ completion: @escaping @Sendable () -> Void) throws {
            try pool.submit(Job(workload: .noop, deadline: nil) { _ in completion() })
        }

        /// Drains and stops the pool.
        public func shutdown() async {
            await pool.shutdown()
        }
    }
}
