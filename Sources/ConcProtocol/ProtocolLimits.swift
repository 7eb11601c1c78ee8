/// Version and size limits of the control protocol (docs/protocol.md).
public enum ProtocolLimits {
    /// The protocol version this build speaks. A request may carry `"v"`; any other value is refused.
    public static let version = 1
    /// The longest frame (one JSON object, without its newline) either side accepts.
    public static let maxFrameBytes = 64 * 1024
    /// The largest deadline a request may ask for, in milliseconds (one day).
    public static let maxTimeoutMilliseconds: Int64 = 86_400_000
    /// The longest `sleep` a request may ask for, in milliseconds (one day).
    public static let maxSleepMilliseconds: Int64 = 86_400_000
    /// The largest `n` for `cpu` whose sum 0 + 1 + ... + (n-1) still fits a signed 64-bit integer.
    public static let maxCPUIterations: Int64 = 4_294_967_296
    /// The longest URL accepted, in bytes.
    public static let maxURLBytes = 4096
    /// The most times a task whose worker died may be run again (`retries`).
    public static let maxRetries = 10
    /// The most attempts a durable job may ask for (`attempts`).
    public static let maxJobAttempts = 100
    /// The most jobs one `jobs` request lists.
    public static let maxJobsListed = 10_000
    /// The longest function name a `call` may give.
    public static let maxFunctionNameBytes = 200
    /// The most arguments (the program included) an `exec` may give.
    public static let maxExecArguments = 4096
    /// The largest message a user's worker program may send (a result, an error and its traceback).
    public static let maxWorkerReplyBytes = 16 * 1024 * 1024
}
