import ConcProtocol
import ConcWorkerCore

/// The daemon's side of the daemon↔worker channel: ConcWorkerCore's `WorkerCodec` in
/// ConcProtocol's terms.
package enum WorkerMessage {
    /// The largest message either side sends.
    package static let maxBytes = WorkerCodec.maxBytes

    /// A request the daemon sends.
    package struct Task: Equatable {
        package var workload: Workload
        /// The milliseconds left before the deadline, or 0 for none.
        package var remainingMilliseconds: Int64

        package init(workload: Workload, remainingMilliseconds: Int64) {
            self.workload = workload
            self.remainingMilliseconds = remainingMilliseconds
        }
    }

    /// Encodes a task for a worker.
    package static func encode(_ task: Task) -> [UInt8] {
        // Never async in practice: the Submission check keeps async GETs off the process pool.
        let kind = task.workload.workerKind ?? {
            if case .async(let url) = task.workload { return .io(url: url) }
            return .noop
        }()
        return WorkerCodec.encode(WorkerTask(kind: kind, remainingMilliseconds: task.remainingMilliseconds))
    }

    /// Decodes a task as a worker would; nil when the bytes are not a task.
    package static func decodeTask(_ bytes: ArraySlice<UInt8>) -> Task? {
        guard let task = WorkerCodec.decodeTask(bytes) else { return nil }
        let workload: Workload
        switch task.kind {
        case .cpu(let n): workload = .cpu(n: n)
        case .sleep(let milliseconds): workload = .sleep(milliseconds: milliseconds)
        case .io(let url): workload = .io(url: url)
        case .noop: workload = .noop
        }
        return Task(workload: workload, remainingMilliseconds: task.remainingMilliseconds)
    }

    /// A message a worker sends.
    package enum Reply: Equatable {
        /// The worker is up and ready.
        case hello(pid: Int32)
        /// The task's result.
        case result(Result<TaskValue, WireError>)
    }

    /// Encodes a reply as a worker would.
    package static func encode(_ reply: Reply) -> [UInt8] {
        switch reply {
        case .hello(let pid):
            return WorkerCodec.encode(.hello(pid: pid))
        case .result(.success(let value)):
            let workerValue: WorkerValue
            switch value {
            case .integer(let integer): workerValue = .integer(integer)
            case .empty: workerValue = .empty
            case .http(let summary):
                workerValue = .http(status: summary.status, bytes: summary.bytes, timeMicroseconds: summary.timeMicroseconds)
            }
            return WorkerCodec.encode(.result(.success(workerValue)))
        case .result(.failure(let error)):
            return WorkerCodec.encode(.result(.failure(WorkerFailure(code: error.code.rawValue, message: error.message))))
        }
    }

    /// Decodes a worker's reply; nil when the bytes are not a reply or carry an unknown error code.
    package static func decodeReply(_ bytes: ArraySlice<UInt8>) -> Reply? {
        switch WorkerCodec.decodeReply(bytes) {
        case nil: return nil
        case .hello(let pid)?: return .hello(pid: pid)
        case .result(let result)?:
            if case .failure(let failure) = result, ErrorCode(rawValue: failure.code) == nil { return nil }
            return .result(result.wireResult)
        }
    }
}
