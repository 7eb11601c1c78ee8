import CSystemd
import Glibc

/// Tells systemd how the daemon is doing (sd_notify). Without `NOTIFY_SOCKET` every call is a no-op,
/// so the daemon runs the same in a developer's shell.
public struct SystemdNotifier: Sendable {
    /// Creates a notifier for the socket systemd names in the environment.
    public init() {}

    /// Whether a service manager is listening.
    public var isActive: Bool { getenv("NOTIFY_SOCKET") != nil }

    /// Sends newline-separated `KEY=VALUE` assignments.
    public func notify(_ assignments: String) {
        guard isActive else { return }
        _ = sd_notify(0, assignments)
    }

    /// READY=1 with a STATUS line.
    public func ready(status: String) {
        notify("READY=1\nSTATUS=\(status)\nMAINPID=\(getpid())")
    }

    /// STOPPING=1 with a STATUS line.
    public func stopping(status: String) {
        notify("STOPPING=1\nSTATUS=\(status)")
    }

    /// Replaces the STATUS line.
    public func status(_ status: String) {
        notify("STATUS=\(status)")
    }
}
