import ConcSystem
import ConcWorkerCore
import Glibc
import NIOCore

/// Stops a worker process in order: SIGTERM when asked, close the daemon's ends of its channel (it
/// exits on EOF), then collect it with `waitpid(WNOHANG)` from timers on its event loop, and
/// SIGKILL it if it outlives the grace period. Never blocks a thread. Each worker leads a process
/// group of its own, and the signals go to the group, so what a program started (its own
/// subprocesses) is stopped with it; a worker found dead has its group killed before it is reaped,
/// while the group's id cannot have been reused.
enum WorkerReaper {
    /// How long a worker asked to stop has before SIGKILL.
    static let grace: TimeAmount = .seconds(1)

    /// Stops the worker `pid` reached through `connection`; `tryReap` is called until it returns
    /// true: it runs `waitpid(WNOHANG)` where the pool decides (under its lock, so a pid is never
    /// signalled after it was collected and possibly reused).
    static func stop(
        pid: Int32, connection: WorkerConnection, terminate: Bool, tryReap: @escaping @Sendable () -> Bool
    ) {
        if terminate { Glibc.kill(-pid, SIGTERM) }
        connection.close()
        poll(pid: pid, loop: connection.eventLoop, since: .now(), killed: false, attempt: 0, tryReap: tryReap)
    }

    private static func poll(
        pid: Int32, loop: any EventLoop, since: NIODeadline, killed: Bool, attempt: Int,
        tryReap: @escaping @Sendable () -> Bool
    ) {
        if tryReap() { return }
        let kill = !killed && NIODeadline.now() - since >= grace
        if kill { Glibc.kill(-pid, SIGKILL) }
        // Most workers are gone within a millisecond of their socket closing: poll soon, then less often.
        let delay: TimeAmount = .milliseconds(Int64(min(50, 1 << min(attempt, 6))))
        loop.scheduleTask(in: delay) {
            poll(pid: pid, loop: loop, since: since, killed: killed || kill, attempt: attempt + 1, tryReap: tryReap)
        }
    }

    /// Collects `pid` if it has exited: how it ended, or nil while it runs.
    static func collect(_ pid: Int32) -> String? {
        if WaitStatus.hasEnded(pid) { Glibc.kill(-pid, SIGKILL) }
        var status: Int32 = 0
        let result = Syscall.retryingEINTR { waitpid(pid, &status, WNOHANG) }
        if result == pid { return Syscall.describeExit(status) }
        if result == -1 && errno == ECHILD { return "exited (its status was collected elsewhere)" }
        return nil
    }
}
