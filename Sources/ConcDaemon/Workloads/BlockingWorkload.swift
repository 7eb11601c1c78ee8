import ConcProtocol
import Glibc
import NIOCore

/// Runs a workload to completion on the calling OS thread: the body of a thread-pool thread and
/// of a process worker.
package enum BlockingWorkload {
    /// The longest an HTTP GET may take when the task has no deadline.
    package static let defaultHTTPTimeoutMilliseconds: Int64 = 30_000

    /// Runs `workload`, bounding waits by `remaining` when it is given.
    package static func run(_ workload: Workload, remaining: TimeAmount?) -> Result<TaskValue, WireError> {
        let remainingMilliseconds = remaining.map { max(1, $0.nanoseconds / 1_000_000) }
        switch workload {
        case .cpu(let n):
            return .success(.integer(CPULoop.sum(upTo: n)))
        case .sleep(let milliseconds):
            let budget = min(milliseconds, remainingMilliseconds ?? milliseconds)
            sleep(milliseconds: budget)
            if budget < milliseconds {
                return .failure(WireError(.timeout, "sleep \(milliseconds) was cut off by its deadline after \(budget) ms"))
            }
            return .success(.integer(milliseconds))
        case .io(let url):
            return BlockingHTTP.get(url, timeoutMilliseconds: remainingMilliseconds ?? defaultHTTPTimeoutMilliseconds)
        case .async:
            return .failure(WireError(.unsupportedPool, "async GETs run only on the async pool"))
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

extension Workload {
    /// Whether running it stops by itself at the deadline it is given (sleep and the blocking GET
    /// cut their waits short); a cpu loop cannot be interrupted.
    package var boundsItsOwnWaits: Bool {
        switch self {
        case .sleep, .io: return true
        case .cpu, .async, .noop: return false
        }
    }
}
