import Glibc

/// How a child process ended, decoded from the status `waitpid` fills in.
package enum WaitStatus: Sendable, Hashable, CustomStringConvertible {
    /// It called exit (or returned from main) with this status.
    case exited(Int32)
    /// A signal ended it.
    case killed(signal: Int32)

    /// Decodes a raw `waitpid` status (the WIFEXITED / WEXITSTATUS / WTERMSIG macros, which Swift
    /// cannot import).
    package init(_ raw: Int32) {
        let signal = raw & 0x7f
        self = signal == 0 ? .exited((raw >> 8) & 0xff) : .killed(signal: signal)
    }

    /// The status a shell would show: the exit status, or 128 + the signal.
    package var shellStatus: Int32 {
        switch self {
        case .exited(let status): return status
        case .killed(let signal): return 128 + signal
        }
    }

    /// "exited with status 3", "was killed by signal 9 (SIGKILL)".
    package var description: String {
        switch self {
        case .exited(let status): return "exited with status \(status)"
        case .killed(let signal): return "was killed by signal \(signal) (\(Syscall.signalName(signal)))"
        }
    }

    /// Waits for child `pid` to end (retrying EINTR); nil if it is not this process's child or was
    /// already reaped.
    package static func wait(for pid: pid_t) -> WaitStatus? {
        var raw: Int32 = 0
        let result = Syscall.retryingEINTR { waitpid(pid, &raw, 0) }
        return result == pid ? WaitStatus(raw) : nil
    }

    /// Whether child `pid` has ended (it is a zombie), without reaping it: its pid, and the id of the
    /// process group it leads, stay reserved until it is reaped.
    package static func hasEnded(_ pid: pid_t) -> Bool {
        var info = siginfo_t()
        return waitid(P_PID, id_t(pid), &info, WEXITED | WNOHANG | WNOWAIT) == 0 && info._sifields._sigchld.si_pid == pid
    }

    /// How child `pid` ended, if it has; nil while it runs. Reaps it when it has ended.
    package static func poll(_ pid: pid_t) -> WaitStatus? {
        var raw: Int32 = 0
        let result = Syscall.retryingEINTR { waitpid(pid, &raw, WNOHANG) }
        return result == pid ? WaitStatus(raw) : nil
    }
}
