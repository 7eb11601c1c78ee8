/// What `concctl bench --json` prints. Times in microseconds unless a name says otherwise.
struct BenchResults: Encodable {
    var floorP50Microseconds: Double
    var floorP99Microseconds: Double
    /// The floor with both ends pinned to one core, and to two different cores.
    var floorSameCoreMicroseconds: Double?
    var floorCrossCoreMicroseconds: Double?
    var readyMilliseconds: Double
    var pools: [String: PoolResult] = [:]
    var cpu: CPUResult?
    var rssMegabytes: Double = 0
    var pssMegabytes: Double = 0
    /// The anonymous part of the RSS (heap, stacks): the rest is pages of the binaries, which the
    /// kernel maps more or less of depending on how they sit in the page cache.
    var anonymousRSSMegabytes: Double = 0
    /// The 1-minute load average when the run started: other work on the machine skews every figure.
    var loadAverage: Double?

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

    /// The table a person reads; every ratio is against a floor measured in the same run.
    var table: String {
        func ratio(_ value: Double, _ floor: Double) -> String { floor > 0 ? Format.rounded(value / floor) + "×" : "-" }
        var rows = [["measure", "value", "ratio", "against"]]
        rows.append(["AF_UNIX echo round trip p50 (floor)", "\(Format.rounded(floorP50Microseconds)) µs", "1×", "itself"])
        if let sameCore = floorSameCoreMicroseconds {
            rows.append(["  the same, both ends pinned to one core", "\(Format.rounded(sameCore)) µs", ratio(sameCore, floorP50Microseconds), "floor p50"])
        }
        if let crossCore = floorCrossCoreMicroseconds {
            rows.append(["  the same, pinned to two cores", "\(Format.rounded(crossCore)) µs", ratio(crossCore, floorP50Microseconds), "floor p50"])
        }
        for name in ["process", "thread", "async"] {
            guard let pool = pools[name] else { continue }
            rows.append(["no-op round trip p50, \(name)", "\(Format.rounded(pool.p50Microseconds)) µs", ratio(pool.p50Microseconds, floorP50Microseconds), "floor p50"])
            // The unpinned floor falls on one core in some runs (a third of the two-core figure),
            // while the daemon's hops cross cores; the two-core floor is the like-for-like one then.
            if let crossCore = floorCrossCoreMicroseconds {
                rows.append(["  the same", "", ratio(pool.p50Microseconds, crossCore), "floor pinned to two cores"])
            }
            rows.append(["no-op round trip p99, \(name)", "\(Format.rounded(pool.p99Microseconds)) µs", ratio(pool.p99Microseconds, floorP99Microseconds), "floor p99"])
            rows.append(["no-op round trip p50, \(name), via ConcClient", "\(Format.rounded(pool.clientP50Microseconds)) µs", ratio(pool.clientP50Microseconds, floorP50Microseconds), "floor p50"])
            rows.append(["pipelined no-ops, \(name), 1 connection", "\(Int(pool.pipelinedPerSecond))/s", "", ""])
            rows.append(["pipelined no-ops, \(name), 4 connections", "\(Int(pool.pipelinedFourConnectionsPerSecond))/s", "", ""])
        }
        if let cpu {
            let c = cpu.cNanosecondsPerIteration.map { "\(Format.rounded($0)) ns" } ?? "n/a"
            rows.append(["cpu loop per iteration, concd", "\(Format.rounded(cpu.nanosecondsPerIteration)) ns", cpu.cNanosecondsPerIteration.map { ratio($0, cpu.nanosecondsPerIteration) } ?? "-", "C speed / concd speed"])
            rows.append(["cpu loop per iteration, cc -O2", c, "", cpu.cUnavailable ?? ""])
            rows.append(["\(cpu.workers) loops on \(cpu.workers) workers", "", Format.rounded(cpu.scaling) + "×", "one loop's time (ideal 1×)"])
            if let cScaling = cpu.cScaling {
                rows.append(["\(cpu.workers) C loops at once", "", Format.rounded(cScaling) + "×", "one C loop's time: this machine's floor"])
                rows.append(["  concd's scaling against C's", "", ratio(cpu.scaling, cScaling), "C loops at once"])
            }
        }
        rows.append(["exec to READY=1", "\(Format.rounded(readyMilliseconds)) ms", "", ""])
        rows.append(["idle RSS, daemon + workers", "\(Format.rounded(rssMegabytes)) MB", "", "shared pages counted in each process"])
        rows.append(["  of which anonymous (heap, stacks)", "\(Format.rounded(anonymousRSSMegabytes)) MB", "", "the rest is the binaries' pages"])
        rows.append(["idle PSS, daemon + workers", "\(Format.rounded(pssMegabytes)) MB", "", "shared pages split among them"])
        if let loadAverage {
            rows.append(["load average (1 min) at the start", Format.rounded(loadAverage), "", "other work skews every figure"])
        }
        return Format.table(rows)
    }
}

struct PoolResult: Encodable {
    var p50Microseconds: Double
    var p99Microseconds: Double
    var pipelinedPerSecond: Double
    var pipelinedFourConnectionsPerSecond: Double
    /// The same no-op through ConcClient (NIO, one continuation per request), for comparison.
    var clientP50Microseconds: Double

    enum CodingKeys: String, CodingKey {
        case clientP50Microseconds = "concclient_p50_us"
        case p50Microseconds = "p50_us"
        case p99Microseconds = "p99_us"
        case pipelinedPerSecond = "pipelined_per_s"
        case pipelinedFourConnectionsPerSecond = "pipelined_4conn_per_s"
    }
}

struct CPUResult: Encodable {
    var iterations: Int64
    var nanosecondsPerIteration: Double
    var cNanosecondsPerIteration: Double?
    var cUnavailable: String?
    var workers: Int
    /// The loop length the scaling figures are timed on.
    var scalingIterations: Int64
    /// Wall time of `workers` loops on `workers` processes, divided by one loop's: 1 is ideal.
    var scaling: Double
    /// The same for `workers` copies of the C loop run at once: what this machine allows.
    var cScaling: Double?

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
