import ConcProtocol
import Logging
import NIOCore
import ServiceLifecycle
import Synchronization

/// Sends WATCHDOG=1 at half of WATCHDOG_USEC, but only while dispatch really works: each tick a
/// no-op probe is submitted to every pool, and a pool counts as healthy when its probe answered
/// within the half-period, it finished other tasks since the last tick, or every one of its workers
/// is busy (a pool busy with long tasks is working, not hung). When a pool stops making progress the pings stop and systemd
/// restarts the service.
struct Watchdog: Service {
    let dispatcher: Dispatcher
    let notifier: SystemdNotifier
    let period: TimeAmount
    let logger: Logger

    func run() async throws {
        try? await cancelWhenGracefulShutdown {
            var progress: [PoolName: UInt64] = [:]
            while !Task.isCancelled {
                let unhealthy = await probe(lastProgress: &progress)
                if unhealthy.isEmpty {
                    notifier.notify("WATCHDOG=1")
                } else {
                    logger.warning(
                        "watchdog: not pinging, pools make no progress",
                        metadata: ["pools": "\(unhealthy.map(\.rawValue).joined(separator: ","))"]
                    )
                }
                try await Task.sleep(for: .nanoseconds(period.nanoseconds))
            }
        }
    }

    private func probe(lastProgress: inout [PoolName: UInt64]) async -> [PoolName] {
        let entries = dispatcher.registry.entries
        let budget = period
        let answered = await withTaskGroup(of: (PoolName, Bool).self) { group in
            for entry in entries {
                group.addTask { (entry.name, await Self.noop(on: entry.pool, within: budget)) }
            }
            return await group.reduce(into: [PoolName: Bool]()) { $0[$1.0] = $1.1 }
        }
        var unhealthy: [PoolName] = []
        for entry in entries {
            let kind = entry.name
            let finished = entry.counters.finished
            let moved = finished != lastProgress[kind]
            lastProgress[kind] = finished
            // Every worker busy with a long task is a pool at work, not a hung one: its queue
            // (and the probe in it) waits for a free worker. Taking the snapshot also proves the
            // pool's lock is not stuck.
            let snapshot = entry.pool.snapshot()
            let saturated = snapshot.busy >= snapshot.size
            if answered[kind] != true && !moved && !saturated { unhealthy.append(kind) }
        }
        return unhealthy
    }

    /// Whether a no-op submitted to `pool` is answered within `budget`. The wait itself is bounded:
    /// a probe stuck behind long tasks in a saturated queue must not hold up the round.
    private static func noop(on pool: any Pool, within budget: TimeAmount) async -> Bool {
        let answer = ProbeAnswer()
        return await withCheckedContinuation { continuation in
            answer.install(continuation)
            let job = Job(workload: .noop, deadline: .now() + budget) { outcome in
                if case .success = outcome.result { answer.resolve(true) } else { answer.resolve(false) }
            }
            do {
                try pool.submit(job)
            } catch {
                answer.resolve(false)
                return
            }
            Task {
                try? await Task.sleep(for: .nanoseconds(budget.nanoseconds))
                answer.resolve(false)
            }
        }
    }
}

/// The first of "answered" and "timed out" wins; the other is ignored.
private final class ProbeAnswer: Sendable {
    private let continuation = Mutex<CheckedContinuation<Bool, Never>?>(nil)

    func install(_ waiting: CheckedContinuation<Bool, Never>) {
        continuation.withLock { $0 = waiting }
    }

    func resolve(_ answered: Bool) {
        continuation.withLock { $0.take() }?.resume(returning: answered)
    }
}
