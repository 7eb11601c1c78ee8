/// A task as a worker process sees it. The daemon's `Workload` converts to it; the types here
/// stay free of ConcProtocol so that the worker binary links neither Foundation nor NIO.
public struct WorkerTask: Sendable, Equatable {
    /// What to run.
    public enum Kind: Sendable, Equatable {
        /// Sum of 0..<n, one checked addition at a time.
        case cpu(n: Int64)
        /// A wait of this many milliseconds.
        case sleep(milliseconds: Int64)
        /// A blocking HTTP GET of the URL (libcurl).
        case io(url: String)
        /// Nothing.
        case noop
    }

    /// What to run.
    public var kind: Kind
    /// The milliseconds left before the deadline, or 0 for none.
    public var remainingMilliseconds: Int64

    /// Creates a task.
    public init(kind: Kind, remainingMilliseconds: Int64) {
        self.kind = kind
        self.remainingMilliseconds = remainingMilliseconds
    }
}

/// The value a task produced.
public enum WorkerValue: Sendable, Equatable {
    /// The sum for `cpu`, the milliseconds waited for `sleep`.
    case integer(Int64)
    /// The summary of an HTTP GET.
    case http(status: Int, bytes: UInt64, timeMicroseconds: UInt64)
    /// No value (`noop`).
    case empty
}

/// Why a task failed: the wire error code (ConcProtocol's `ErrorCode` raw value) and a sentence.
public struct WorkerFailure: Error, Sendable, Equatable {
    /// The error code's raw value, e.g. "timeout".
    public var code: String
    /// A sentence that says what went wrong.
    public var message: String

    /// Creates a failure.
    public init(code: String, message: String) {
        self.code = code
        self.message = message
    }

    /// The raw values of the `ErrorCode`s a worker produces; ConcDaemon's tests check they match.
    public enum Code {
        /// `ErrorCode.timeout`.
        public static let timeout = "timeout"
        /// `ErrorCode.httpFailed`.
        public static let httpFailed = "http_failed"
        /// `ErrorCode.internal`.
        public static let `internal` = "internal"
    }
}

/// What a task came to.
public typealias WorkerResult = Result<WorkerValue, WorkerFailure>
