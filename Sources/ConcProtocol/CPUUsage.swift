/// CPU time, user plus system, that the daemon's side has used since it started: what
/// `concctl compare` subtracts before and after a run to say how much CPU a workload cost.
public struct CPUUsage: Codable, Sendable, Equatable {
    /// The daemon process itself, all its threads: the thread and async pools' work, the control
    /// socket and the event loops that drive the process workers (CLOCK_PROCESS_CPUTIME_ID).
    public var daemonSeconds: Double
    /// The process pool's live workers (each one's CPU-time clock, or /proc/PID/stat). A worker that died or
    /// was retired takes its CPU time with it, so this can go down.
    public var workersSeconds: Double

    enum CodingKeys: String, CodingKey {
        case daemonSeconds = "daemon_s"
        case workersSeconds = "workers_s"
    }

    /// Creates a reading.
    public init(daemonSeconds: Double, workersSeconds: Double) {
        self.daemonSeconds = daemonSeconds
        self.workersSeconds = workersSeconds
    }

    /// Both together.
    public var totalSeconds: Double { daemonSeconds + workersSeconds }
}

/// The window the per-pool rates and percentiles in ``PoolStatus`` are computed over.
public enum RecentWindow {
    /// Seconds of history behind `tasks_per_s`, `p50_us` and `p99_us`.
    public static let seconds = 5
}
