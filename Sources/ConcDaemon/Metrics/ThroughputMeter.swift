import ConcProtocol
import NIOCore

/// Turns the Dispatcher's ever-growing counters into rates: each call reports tasks per second
/// since the previous call. Each reporter owns one, so they do not disturb each other's intervals.
package struct ThroughputMeter {
    private var last: [PoolKind: UInt64] = [:]
    private var lastTime = NIODeadline.now()

    package init() {}

    /// Tasks per second for each pool since the previous call (0 on the first).
    package mutating func sample(_ counters: [PoolKind: PoolCounters]) -> [PoolKind: Double] {
        let now = NIODeadline.now()
        let seconds = max(Double((now - lastTime).nanoseconds) / 1e9, 1e-3)
        var rates: [PoolKind: Double] = [:]
        for (kind, counter) in counters {
            let finished = counter.finished
            let previous = last[kind] ?? finished
            rates[kind] = Double(finished &- previous) / seconds
            last[kind] = finished
        }
        lastTime = now
        return rates
    }
}
