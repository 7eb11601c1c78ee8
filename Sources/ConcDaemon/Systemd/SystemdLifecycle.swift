import Logging
import ServiceLifecycle

/// The daemon's side of the conversation with systemd after READY=1. It is the last service in the
/// group, so on SIGTERM it is the first to hear of the shutdown and says STOPPING=1 before the
/// control socket closes and the pools drain.
struct SystemdLifecycle: Service {
    let notifier: SystemdNotifier
    let logger: Logger

    func run() async throws {
        try? await gracefulShutdown()
        logger.info("stopping: no new connections; draining in-flight tasks")
        notifier.stopping(status: "stopping: draining in-flight tasks")
    }
}
