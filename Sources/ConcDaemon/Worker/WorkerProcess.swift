import CConcShims
import ConcProtocol
import Glibc
import NIOCore

/// The body of a worker process: `concd --worker-fd 3`. It greets the daemon, then runs one task
/// at a time from the channel until the daemon closes it or exits.
public enum WorkerProcess {
    /// Serves tasks on `descriptor`; never returns. `parent` is the daemon's pid, checked once so
    /// that a worker whose daemon died before it started does not linger.
    public static func run(descriptor: Int32, parent: Int32?) -> Never {
        _ = concd_set_parent_death_signal(SIGKILL)
        if let parent, getppid() != parent { exit(0) }
        // libcurl is loaded and initialised by the first GET (BlockingHTTP), not here: a worker
        // that only ever runs cpu or sleep tasks keeps none of it resident.
        send(descriptor, WorkerMessage.encode(.hello(pid: getpid())))
        var buffer = [UInt8](repeating: 0, count: WorkerMessage.maxBytes)
        while true {
            let count = Syscall.retryingEINTR {
                buffer.withUnsafeMutableBytes { recv(descriptor, $0.baseAddress, $0.count, 0) }
            }
            // 0 is the daemon closing the channel; an error means it is gone: either way, stop.
            guard count > 0 else { exit(0) }
            let result: Result<TaskValue, WireError>
            if let task = WorkerMessage.decodeTask(buffer[..<count]) {
                let remaining = task.remainingMilliseconds > 0 ? TimeAmount.milliseconds(task.remainingMilliseconds) : nil
                result = BlockingWorkload.run(task.workload, remaining: remaining)
            } else {
                result = .failure(WireError(.internal, "the worker could not read the task it was sent"))
            }
            send(descriptor, WorkerMessage.encode(.result(result)))
        }
    }

    private static func send(_ descriptor: Int32, _ message: [UInt8]) {
        let sent = Syscall.retryingEINTR {
            message.withUnsafeBytes { Glibc.send(descriptor, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        }
        if sent < 0 { exit(0) }
    }
}
