import ConcProtocol
import NIOCore

/// Turns the Dispatcher's ever-growing counters into rates: each call reports tasks per second
/// since the previous call. Each reporter owns one, so they do not disturb each other's intervals.
package struct ThroughputMeter {
    private var last: [PoolName: UInt64] = [:]
    private var lastTime = NIODeadline.now()

    package init() {}

    /// Tasks per second for each pool since the previous call (0 on the first).
    package mutating func sample(_ registry: PoolRegistry) -> [PoolName: Double] {
        let now = NIODeadline.now()
        let seconds = max(Double((now - lastTime).nanoseconds) / 1e9, 1e-3)
        var rates: [PoolName: Double] = [:]
        for entry in registry.entries {
            let kind = entry.name
            let finished = entry.counters.finished
            let previous = last[kind] ?? finished
            rates[kind] = Double(finished &- previous) / seconds
            last[kind] = finished
        }
        lastTime = now
        return rates
    }
}
