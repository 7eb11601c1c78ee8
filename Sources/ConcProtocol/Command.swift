/// What a command run on a thread pool (`exec`) left behind: how it ended, and the start of what it
/// wrote. Each stream keeps at most the daemon's `exec.output_kib`; the rest is counted, not kept.
public struct CommandResult: Codable, Sendable, Equatable {
    /// The status it passed to exit, or nil when a signal ended it.
    public var exitCode: Int32?
    /// The signal that ended it, or nil when it exited.
    public var signal: Int32?
    /// The start of its standard output, as text (bytes that are not UTF-8 become U+FFFD).
    public var stdout: String
    /// The start of its standard error, as text.
    public var stderr: String
    /// Bytes of standard output past the bound, read and thrown away.
    public var stdoutDropped: UInt64
    /// Bytes of standard error past the bound, read and thrown away.
    public var stderrDropped: UInt64
    /// Microseconds from its start to its end.
    public var timeMicroseconds: UInt64

    enum CodingKeys: String, CodingKey {
        case exitCode = "exit_code"
        case signal, stdout, stderr
        case stdoutDropped = "stdout_dropped"
        case stderrDropped = "stderr_dropped"
        case timeMicroseconds = "time_us"
    }

    /// The keys a command's result has on the wire (both `exit_code` and `signal` are optional).
    static let keys: Set<String> = ["exit_code", "signal", "stdout", "stderr", "stdout_dropped", "stderr_dropped", "time_us"]

    /// Creates a result.
    public init(
        exitCode: Int32?, signal: Int32?, stdout: String, stderr: String, stdoutDropped: UInt64 = 0,
        stderrDropped: UInt64 = 0, timeMicroseconds: UInt64
    ) {
        self.exitCode = exitCode
        self.signal = signal
        self.stdout = stdout
        self.stderr = stderr
        self.stdoutDropped = stdoutDropped
        self.stderrDropped = stderrDropped
        self.timeMicroseconds = timeMicroseconds
    }

    /// The status a shell would show: the exit code, or 128 + the signal.
    public var shellStatus: Int32 {
        exitCode ?? (128 + (signal ?? 0))
    }
}
