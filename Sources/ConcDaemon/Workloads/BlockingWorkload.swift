import ConcProtocol
import ConcWorkerCore
import NIOCore

/// Runs a workload to completion on the calling OS thread: the thread pool's side of
/// ConcWorkerCore's `BlockingTask`, which process workers run too.
package enum BlockingWorkload {
    /// The longest an HTTP GET may take when the task has no deadline.
    package static let defaultHTTPTimeoutMilliseconds = BlockingTask.defaultHTTPTimeoutMilliseconds

    /// Runs `workload`, bounding waits by `remaining` when it is given.
    package static func run(_ workload: Workload, remaining: TimeAmount?) -> Result<TaskValue, WireError> {
        guard let kind = workload.workerKind else {
            return .failure(WireError(.unsupportedPool, "\(workload.kind) does not run on a blocking worker: \(workload.kind.supportedModels.map(\.rawValue).joined(separator: ", ")) only"))
        }
        let remainingMilliseconds = remaining.map { max(1, $0.nanoseconds / 1_000_000) }
        return BlockingTask.run(kind, remainingMilliseconds: remainingMilliseconds).wireResult
    }
}

extension Workload {
    /// Whether running it stops by itself at the deadline it is given (sleep and the blocking GET
    /// cut their waits short); a cpu loop cannot be interrupted.
    package var boundsItsOwnWaits: Bool {
        switch self {
        case .sleep, .io, .exec: return true
        case .cpu, .async, .noop, .call: return false
        }
    }

    /// The task a worker runs for it; nil for the async GET, which only the async pool runs, and for
    /// a call, which only a pool running a program runs.
    package var workerKind: WorkerTask.Kind? {
        switch self {
        case .cpu(let n): return .cpu(n: n)
        case .sleep(let milliseconds): return .sleep(milliseconds: milliseconds)
        case .io(let url): return .io(url: url)
        case .noop: return .noop
        case .async, .call, .exec: return nil
        }
    }
}

extension Result where Success == WorkerValue, Failure == WorkerFailure {
    /// The result in ConcProtocol's terms; a code the protocol does not know becomes `internal`.
    package var wireResult: Result<TaskValue, WireError> {
        switch self {
        case .success(.integer(let value)): return .success(.integer(value))
        case .success(.empty): return .success(.empty)
        case .success(.http(let status, let bytes, let time)):
            return .success(.http(HTTPSummary(status: status, bytes: bytes, timeMicroseconds: time)))
        case .failure(let failure):
            return .failure(WireError(ErrorCode(rawValue: failure.code) ?? .internal, failure.message))
        }
    }
}
