import Logging
import NIOCore
import ServiceLifecycle
import Synchronization

/// The daemon's side of the conversation with systemd after READY=1. It is the last service in the
/// group, so on SIGTERM it is the first to hear of the shutdown: it says STOPPING=1 and starts the
/// drain extender before the control socket closes and the pools drain.
struct SystemdLifecycle: Service {
    let notifier: SystemdNotifier
    let drain: DrainExtender
    let logger: Logger

    func run() async throws {
        try? await gracefulShutdown()
        logger.info("stopping: no new tasks; draining in-flight tasks", metadata: ["event": "stopping"])
        notifier.stopping(status: "stopping: draining in-flight tasks")
        drain.start()
    }
}

/// While tasks are still draining, asks systemd for more time (EXTEND_TIMEOUT_USEC) so a long
/// drain is not cut off by TimeoutStopSec; it stops asking once nothing is left in flight, or after
/// ten minutes, when systemd's stop timeout takes over again.
final class DrainExtender: Sendable {
    private let dispatcher: Dispatcher
    private let notifier: SystemdNotifier
    private let task = Mutex<Task<Void, Never>?>(nil)
    private static let step: TimeAmount = .seconds(10)
    private static let longest: TimeAmount = .minutes(10)

    init(dispatcher: Dispatcher, notifier: SystemdNotifier) {
        self.dispatcher = dispatcher
        self.notifier = notifier
    }

    func start() {
        guard notifier.isActive else { return }
        let dispatcher = self.dispatcher
        let notifier = self.notifier
        task.withLock {
            $0 = Task {
                let giveUp = NIODeadline.now() + Self.longest
                while !Task.isCancelled && NIODeadline.now() < giveUp {
                    let pools = dispatcher.status().pools
                    let left = pools.reduce(0) { $0 + $1.busy + $1.queued }
                    guard left > 0 else { return }
                    notifier.notify(
                        "EXTEND_TIMEOUT_USEC=\(Self.step.nanoseconds / 1000)\nSTATUS=stopping: draining \(left) tasks"
                    )
                    try? await Task.sleep(for: .seconds(Self.step.nanoseconds / 2_000_000_000))
                }
            }
        }
    }

    func cancel() {
        task.withLock { $0?.cancel() }
    }
}
