import ConcProtocol
import Logging
import NIOCore

/// Every pool this daemon runs, in the order every report lists them: the built-in process, thread
/// and async pools, then those the configuration names, in its order. Each entry carries the pool's
/// telemetry, so a finished task is recorded once (`PoolCounters.record`) and every report reads
/// the same numbers. Nothing outside the registry lists pools by name.
package final class PoolRegistry: Sendable {
    /// One pool and its telemetry.
    package struct Entry: Sendable {
        /// The pool's name.
        package let name: PoolName
        /// The kind of pool it is.
        package let model: PoolModel
        /// The pool.
        package let pool: any Pool
        /// Its counts, latencies and Prometheus histogram.
        package let counters: PoolCounters
    }

    /// The pools in report order.
    package let entries: [Entry]
    /// The Prometheus metrics of these pools, fed by their counters.
    package let prometheus: PrometheusExporter

    /// A registry of `pools`, in this order; names must be unique.
    package init(pools: [any Pool]) {
        let names = pools.map(\.name)
        precondition(Set(names).count == names.count, "two pools share a name: \(names)")
        prometheus = PrometheusExporter(pools: names)
        entries = pools.map { pool in
            Entry(name: pool.name, model: pool.model, pool: pool, counters: PoolCounters())
        }
    }

    /// The pool named `name`. A scan, not a dictionary: there are a handful of pools, the built-in
    /// ones come first, and comparing short names is cheaper than hashing one.
    package func entry(_ name: PoolName) -> Entry? {
        entries.first { $0.name == name }
    }

    /// The pools' names in report order.
    package var names: [PoolName] {
        entries.map(\.name)
    }

    /// Creates the pool `configuration` describes (not started). The one place that turns a model
    /// into a type.
    package static func makePool(
        _ configuration: PoolConfiguration, queueLimit: Int, workerExecutable: String?,
        eventLoopGroup: any EventLoopGroup, logger: Logger
    ) -> any Pool {
        switch configuration.model {
        case .process:
            return ProcessPool(
                name: configuration.name,
                size: configuration.size,
                maximum: configuration.resolvedMaximum,
                idleTimeout: .nanoseconds(Int64(configuration.idleTimeoutSeconds * 1e9)),
                queueLimit: queueLimit,
                program: configuration.program(builtInExecutable: workerExecutable ?? WorkerSpawner.defaultExecutable()),
                startTimeout: .nanoseconds(Int64(configuration.startTimeoutSeconds * 1e9)),
                recycling: configuration.recycling,
                memoryLimit: configuration.memoryLimit,
                eventLoopGroup: eventLoopGroup,
                logger: logger
            )
        case .thread:
            return ThreadPool(
                name: configuration.name, size: configuration.size, maximum: configuration.resolvedMaximum,
                idleTimeout: .nanoseconds(Int64(configuration.idleTimeoutSeconds * 1e9)), queueLimit: queueLimit, logger: logger
            )
        case .async:
            return AsyncPool(
                name: configuration.name,
                limit: configuration.size,
                connectionsPerHost: configuration.connectionsPerHost,
                eventLoopGroup: eventLoopGroup
            )
        }
    }
}
