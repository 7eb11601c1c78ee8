import Logging
import ServiceLifecycle

/// Keeps systemd's STATUS= line current: every two seconds, sent only when it changed.
struct StatusReporter: Service {
    let dispatcher: Dispatcher
    let notifier: SystemdNotifier

    func run() async throws {
        guard notifier.isActive else {
            // A service that returns early would stop the whole group: wait like the others.
            try? await gracefulShutdown()
            return
        }
        try? await cancelWhenGracefulShutdown {
            var meter = ThroughputMeter()
            _ = meter.sample(dispatcher.registry)
            var last = ""
            while !Task.isCancelled {
                try await Task.sleep(for: .seconds(2))
                let rate = meter.sample(dispatcher.registry).values.reduce(0, +)
                let line = StatusLine.render(dispatcher.status(), tasksPerSecond: rate)
                if line != last {
                    notifier.status(line)
                    last = line
                }
            }
        }
    }
}
