/// The range of every number the configuration takes, in one table: the daemon's configuration
/// loader, `concd`'s flags, the admin `resize` and `concctl resize` all check against it.
public enum ConfigurationLimits {
    /// A pool's size: worker processes, threads, or the async pool's in-flight limit.
    public static func size(of model: PoolModel) -> ClosedRange<Int> {
        switch model {
        case .process: return 1...1024
        case .thread: return 1...4096
        case .async: return 1...10_000_000
        }
    }

    /// The largest size of any model: what `resize` of a pool whose model the client cannot know may ask.
    public static let largestSize = PoolModel.allCases.map { size(of: $0).upperBound }.max() ?? 1

    /// Tasks that may wait in one queue (`queue_limit`).
    public static let queueLimit = 1...10_000_000
    /// Keep-alive connections an async pool opens to one HTTP server.
    public static let connectionsPerHost = 1...65_536
    /// Tasks before a process worker is recycled (0 never), and its per-worker jitter.
    public static let maxTasks = 0...1_000_000_000
    /// Resident memory (MiB) above which a process worker is recycled (0 never).
    public static let maxRSSMegabytes = 0...1_048_576
    /// Seconds between the journal's metrics records.
    public static let metricsIntervalSeconds = 0.1...86_400.0
    /// KiB of replies a connection may leave unread before the daemon stops reading it.
    public static let sendBufferKiB = 16...1_048_576
    /// Seconds a connection may stay stalled (`connections.stall_timeout`) or a metrics connection idle.
    public static let connectionSeconds = 0.1...86_400.0
    /// Connections a second a peer may open and leave without a request (0: no limit).
    public static let vanishingPerSecond = 0...1_000_000
    /// Rejected frames in a row before a control connection is closed (0: never).
    public static let rejectedInARow = 0...1_000_000
    /// Metrics connections open at once.
    public static let metricsConnections = 1...65_536
    /// KiB of each output stream of a command (`exec`) kept in its reply.
    public static let execOutputKiB = 1...1024
    /// Seconds a thread above its pool's minimum may wait for work before it exits.
    public static let idleTimeoutSeconds = 0.1...86_400.0
    /// Seconds a new worker of a process pool may take to say it is ready.
    public static let startTimeoutSeconds = 0.1...3_600.0

    /// `range` as a person writes it: `0.1...86400`.
    public static func text(_ range: ClosedRange<Double>) -> String {
        func number(_ value: Double) -> String {
            value == value.rounded() && abs(value) < 1e15 ? String(Int(value)) : String(value)
        }
        return "\(number(range.lowerBound))...\(number(range.upperBound))"
    }
}
