import Glibc

/// Runs a worker task to completion on the calling OS thread: the body of a thread-pool thread
/// and of a process worker.
public enum BlockingTask {
    /// The longest an HTTP GET may take when the task has no deadline.
    public static let defaultHTTPTimeoutMilliseconds: Int64 = 30_000

    /// Runs `kind`, bounding waits by `remainingMilliseconds` when it is given.
    public static func run(_ kind: WorkerTask.Kind, remainingMilliseconds: Int64?) -> WorkerResult {
        switch kind {
        case .cpu(let n):
            return .success(.integer(CPULoop.sum(upTo: n)))
        case .sleep(let milliseconds):
            let budget = min(milliseconds, remainingMilliseconds ?? milliseconds)
            sleep(milliseconds: budget)
            if budget < milliseconds {
                return .failure(WorkerFailure(
                    code: WorkerFailure.Code.timeout,
                    message: "sleep \(milliseconds) was cut off by its deadline after \(budget) ms"
                ))
            }
            return .success(.integer(milliseconds))
        case .io(let url):
            return BlockingHTTP.get(url, timeoutMilliseconds: remainingMilliseconds ?? defaultHTTPTimeoutMilliseconds)
        case .noop:
            return .success(.empty)
        }
    }

    private static func sleep(milliseconds: Int64) {
        var request = timespec(tv_sec: Int(milliseconds / 1000), tv_nsec: Int(milliseconds % 1000) * 1_000_000)
        var left = timespec()
        while nanosleep(&request, &left) == -1 && errno == EINTR {
            request = left
        }
    }
}
