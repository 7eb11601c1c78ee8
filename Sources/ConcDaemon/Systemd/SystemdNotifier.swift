import CSystemd
import Dispatch
import Glibc
import NIOCore

/// Tells systemd how the daemon is doing (sd_notify). Without `NOTIFY_SOCKET` every call is a no-op,
/// so the daemon runs the same in a developer's shell.
public struct SystemdNotifier: Sendable {
    /// Creates a notifier for the socket systemd names in the environment.
    public init() {}

    /// Whether a service manager is listening.
    public var isActive: Bool { getenv("NOTIFY_SOCKET") != nil }

    /// Sends newline-separated `KEY=VALUE` assignments, in order, without blocking the caller:
    /// sd_notify blocks while the manager's socket buffer is full, and a caller on Swift's small
    /// cooperative pool must never wait for the service manager to read.
    public func notify(_ assignments: String) {
        guard isActive else { return }
        Self.queue.async { _ = sd_notify(0, assignments) }
    }

    /// Waits up to `seconds` for the notifications sent so far to go out (before the process exits).
    public static func flush(seconds: Double = 1) {
        let done = DispatchSemaphore(value: 0)
        queue.async { done.signal() }
        _ = done.wait(timeout: .now() + seconds)
    }

    private static let queue = DispatchQueue(label: "concd.sd-notify")

    /// READY=1 with a STATUS line.
    public func ready(status: String) {
        notify("READY=1\nSTATUS=\(status)\nMAINPID=\(getpid())")
    }

    /// STOPPING=1 with a STATUS line.
    public func stopping(status: String) {
        notify("STOPPING=1\nSTATUS=\(status)")
    }

    /// Half of WATCHDOG_USEC when systemd expects watchdog pings from this process; nil otherwise.
    public var watchdogPeriod: TimeAmount? {
        var microseconds: UInt64 = 0
        guard sd_watchdog_enabled(0, &microseconds) > 0, microseconds > 0 else { return nil }
        return .microseconds(Int64(microseconds / 2))
    }

    /// CLOCK_MONOTONIC in microseconds, as RELOADING=1 wants it in MONOTONIC_USEC.
    public static func monotonicMicroseconds() -> UInt64 {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        return UInt64(now.tv_sec) * 1_000_000 + UInt64(now.tv_nsec) / 1000
    }

    /// Replaces the STATUS line.
    public func status(_ status: String) {
        notify("STATUS=\(status)")
    }
}
