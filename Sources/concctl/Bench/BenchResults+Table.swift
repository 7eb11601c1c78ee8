import ConcBench

extension BenchResults {
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
