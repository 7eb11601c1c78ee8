import CConcShims
import Glibc

/// The body of a worker process (`concd-worker --worker-fd 3`, or `concd` in worker mode). It
/// greets the daemon, then runs one task at a time from the channel until the daemon closes it or exits.
public enum WorkerLoop {
    /// Serves tasks on `descriptor`; never returns. `parent` is the daemon's pid, checked once so
    /// that a worker whose daemon died before it started does not linger.
    public static func run(descriptor: Int32, parent: Int32?) -> Never {
        _ = concd_set_parent_death_signal(SIGKILL)
        if let parent, getppid() != parent { exit(0) }
        // libcurl is loaded and initialised by the first GET (BlockingHTTP), not here: a worker
        // that only ever runs cpu or sleep tasks keeps none of it resident.
        send(descriptor, WorkerCodec.encode(.hello(pid: getpid())))
        var buffer = [UInt8](repeating: 0, count: WorkerCodec.maxBytes)
        while true {
            let count = Syscall.retryingEINTR {
                buffer.withUnsafeMutableBytes { recv(descriptor, $0.baseAddress, $0.count, 0) }
            }
            // 0 is the daemon closing the channel; an error means it is gone: either way, stop.
            guard count > 0 else { exit(0) }
            let result: WorkerResult
            if let task = WorkerCodec.decodeTask(buffer[..<count]) {
                let remaining = task.remainingMilliseconds > 0 ? task.remainingMilliseconds : nil
                result = BlockingTask.run(task.kind, remainingMilliseconds: remaining)
            } else {
                result = .failure(WorkerFailure(
                    code: WorkerFailure.Code.internal, message: "the worker could not read the task it was sent"
                ))
            }
            send(descriptor, WorkerCodec.encode(.result(result)))
        }
    }

    /// Parses exactly `--worker-fd N --worker-parent P` (what the daemon passes), or nil.
    public static func parseArguments(_ arguments: [String]) -> (descriptor: Int32, parent: Int32)? {
        guard arguments.count == 5, arguments[1] == "--worker-fd", let descriptor = Int32(arguments[2]),
            arguments[3] == "--worker-parent", let parent = Int32(arguments[4])
        else { return nil }
        return (descriptor, parent)
    }

    private static func send(_ descriptor: Int32, _ message: [UInt8]) {
        let sent = Syscall.retryingEINTR {
            message.withUnsafeBytes { Glibc.send(descriptor, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        }
        if sent < 0 { exit(0) }
    }
}
