/// What `concctl bench --json` prints. Times in microseconds unless a name says otherwise.
package struct BenchResults: Encodable {
    package var floorP50Microseconds: Double
    package var floorP99Microseconds: Double
    /// The floor with both ends pinned to one core, and to two different cores.
    package var floorSameCoreMicroseconds: Double?
    package var floorCrossCoreMicroseconds: Double?
    package var readyMilliseconds: Double
    package var pools: [String: PoolResult] = [:]
    package var cpu: CPUResult?
    package var rssMegabytes: Double = 0
    package var pssMegabytes: Double = 0
    /// The anonymous part of the RSS (heap, stacks): the rest is pages of the binaries, which the
    /// kernel maps more or less of depending on how they sit in the page cache.
    package var anonymousRSSMegabytes: Double = 0
    /// The 1-minute load average when the run started: other work on the machine skews every figure.
    package var loadAverage: Double?

    enum CodingKeys: String, CodingKey {
        case floorP50Microseconds = "floor_rtt_us"
        case floorP99Microseconds = "floor_rtt_p99_us"
        case floorSameCoreMicroseconds = "floor_same_core_us"
        case floorCrossCoreMicroseconds = "floor_cross_core_us"
        case readyMilliseconds = "ready_ms"
        case pools, cpu
        case rssMegabytes = "rss_mb"
        case pssMegabytes = "pss_mb"
        case anonymousRSSMegabytes = "rss_anon_mb"
        case loadAverage = "loadavg_1m"
    }
}

package struct PoolResult: Encodable {
    package var p50Microseconds: Double
    package var p99Microseconds: Double
    package var pipelinedPerSecond: Double
    package var pipelinedFourConnectionsPerSecond: Double
    /// The same no-op through ConcClient (NIO, one continuation per request), for comparison.
    package var clientP50Microseconds: Double

    enum CodingKeys: String, CodingKey {
        case clientP50Microseconds = "concclient_p50_us"
        case p50Microseconds = "p50_us"
        case p99Microseconds = "p99_us"
        case pipelinedPerSecond = "pipelined_per_s"
        case pipelinedFourConnectionsPerSecond = "pipelined_4conn_per_s"
    }
}

package struct CPUResult: Encodable {
    package var iterations: Int64
    package var nanosecondsPerIteration: Double
    package var cNanosecondsPerIteration: Double?
    package var cUnavailable: String?
    package var workers: Int
    /// The loop length the scaling figures are timed on.
    package var scalingIterations: Int64
    /// Wall time of `workers` loops on `workers` processes, divided by one loop's: 1 is ideal.
    package var scaling: Double
    /// The same for `workers` copies of the C loop run at once: what this machine allows.
    package var cScaling: Double?

    enum CodingKeys: String, CodingKey {
        case iterations
        case nanosecondsPerIteration = "ns_per_iter"
        case cNanosecondsPerIteration = "c_ns_per_iter"
        case cUnavailable = "c_unavailable"
        case workers, scaling
        case scalingIterations = "scaling_iterations"
        case cScaling = "c_scaling"
    }
}
