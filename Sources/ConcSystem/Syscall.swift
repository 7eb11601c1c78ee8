import CConcShims
import Glibc

/// Every system call the pools, the spawners and the harnesses make goes through here, so EINTR is
/// retried in one place.
package enum Syscall {
    /// Calls `body` again while it fails with EINTR; returns its last result. Specialized for `Int`
    /// (what `send` and `recv` return): called generically from another module it cost about 280
    /// instructions a call, around a `send` of 60.
    @inlinable
    @_specialize(exported: true, where Result == Int)
    package static func retryingEINTR<Result: BinaryInteger>(_ body: () -> Result) -> Result {
        while true {
            let result = body()
            if result == -1 && errno == EINTR { continue }
            return result
        }
    }

    /// A pipe whose two ends are close-on-exec from the start, so neither leaks into a child another
    /// thread spawns meanwhile; nil with errno set when it cannot be made.
    package static func closeOnExecPipe() -> (read: Int32, write: Int32)? {
        var ends: [Int32] = [-1, -1]
        guard concd_pipe_cloexec(&ends) == 0 else { return nil }
        return (ends[0], ends[1])
    }

    /// The text of the current `errno`.
    package static var errnoDescription: String {
        String(cString: strerror(errno))
    }

    /// The conventional name of a signal, for messages people read.
    package static func signalName(_ signal: Int32) -> String {
        switch signal {
        case SIGKILL: return "SIGKILL"
        case SIGTERM: return "SIGTERM"
        case SIGSEGV: return "SIGSEGV"
        case SIGABRT: return "SIGABRT"
        case SIGILL: return "SIGILL"
        case SIGBUS: return "SIGBUS"
        case SIGFPE: return "SIGFPE"
        case SIGTRAP: return "SIGTRAP"
        case SIGINT: return "SIGINT"
        case SIGHUP: return "SIGHUP"
        case SIGPIPE: return "SIGPIPE"
        default: return "signal \(signal)"
        }
    }

    /// Describes a `waitpid` status: "exited with status 3", "was killed by signal 9 (SIGKILL)".
    package static func describeExit(_ status: Int32) -> String {
        WaitStatus(status).description
    }
}
