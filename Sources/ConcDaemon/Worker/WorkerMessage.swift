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
        WorkerCodec.encode(WorkerTask(kind: workerKind(task.workload), remainingMilliseconds: task.remainingMilliseconds))
    }

    private static func workerKind(_ workload: Workload) -> WorkerTask.Kind {
        // Never async in practice: the Submission check keeps async GETs off the process pool.
        if let kind = workload.workerKind { return kind }
        if case .async(let url) = workload { return .io(url: url) }
        // Never a call in practice: the Dispatcher sends calls only to pools that run a program.
        return .noop
    }

    /// Encodes a task for a worker into memory that lives only during `body` (see
    /// `WorkerCodec.withEncoded`); the bytes are those of `encode(_:)`.
    package static func withEncoded<Result>(_ task: Task, _ body: (UnsafeRawBufferPointer) -> Result) -> Result {
        WorkerCodec.withEncoded(WorkerTask(kind: workerKind(task.workload), remainingMilliseconds: task.remainingMilliseconds), body)
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
            case .empty, .json, .command: workerValue = .empty
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
        bytes.withUnsafeBytes { decodeReply($0) }
    }

    /// Decodes a worker's reply from the bytes a read left in memory.
    package static func decodeReply(_ bytes: UnsafeRawBufferPointer) -> Reply? {
        switch WorkerCodec.decodeReply(bytes) {
        case nil: return nil
        case .hello(let pid)?: return .hello(pid: pid)
        case .result(let result)?:
            if case .failure(let failure) = result, ErrorCode(rawValue: failure.code) == nil { return nil }
            return .result(result.wireResult)
        }
    }
}
