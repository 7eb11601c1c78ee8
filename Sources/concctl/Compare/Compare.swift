import ArgumentParser
import ConcClient
import ConcProtocol
import Foundation

struct Compare: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run one workload on every pool that can run it and compare them.",
        discussion: """
            On each pool the workload may run on (process, thread, async, in
            that order), concctl runs one task alone (the median of three runs
            when a run takes under a second), then --count copies at once over
            one connection, and prints:
              WALL         first copy sent to last reply
              CPU          CPU time (user + system) of concd and its worker
                           processes meanwhile (other clients' work counts too)
              SPEED-UP     count x (one task alone) / wall: how much faster
                           than running the copies one after another
              PARALLELISM  CPU / wall: cores busy on average; waiting (sleep,
                           io, async) gives speed-up without parallelism
              ERRORS       copies that failed
            The exit code is 0 when every task succeeded, else that of the
            first failure.

            get URL is the seed's comparison in one table: the blocking GET
            (io) on the process and thread pools, the async GET on the async pool.

            Examples:
              concctl compare get http://127.0.0.1:8080/delay/50 --count 1000
              concctl compare cpu 10000000 --count 4
              concctl compare sleep 200 --count 8 --json
              concctl compare io http://127.0.0.1:8080/delay/100 --count 16 --plot io.svg
              concctl compare async http://127.0.0.1:8080/delay/100 --count 100
            """
    )

    @ParentCommand var root: Concctl
    @OptionGroup var connection: ConnectionOptions
    private var socketPath: String { connection.socketPath(root: root) }

    @Argument(help: "The workload: cpu, io, async, get (io and async, each on its pools) or sleep (noop too, though it measures little).")
    var kind: CompareKind

    @Argument(help: "Its argument: N for cpu, a URL for io and async, milliseconds for sleep.")
    var argument: String?

    @Option(help: "Copies to run at once on each pool, 1...100000.")
    var count = 4

    @Option(help: "Give up on a task after this many seconds.")
    var timeout: Double?

    @Flag(help: "Print the comparison as JSON.")
    var json = false

    @Option(help: "Also draw the comparison as an SVG bar chart into this file.")
    var plot: String?

    func validate() throws {
        guard (1...100_000).contains(count) else { throw ValidationError("--count must be 1...100000, got \(count)") }
        if let timeout, !(timeout > 0 && timeout <= 86_400) {
            throw ValidationError("--timeout must be more than 0 and at most 86400 seconds")
        }
        if kind != .noop && argument == nil {
            throw ValidationError("\(kind) needs an argument, e.g. concctl compare cpu 10000000")
        }
        do {
            for workloadKind in kind.workloadKinds { _ = try Workload.parse(kind: workloadKind, argument: argument) }
        } catch {
            throw ValidationError(error.message)
        }
        if let plot {
            guard plot.hasSuffix(".svg") else { throw ValidationError("--plot needs a file name ending in .svg, got '\(plot)'") }
            let directory = (plot as NSString).deletingLastPathComponent
            var isDirectory: ObjCBool = false
            let folder = directory.isEmpty ? "." : directory
            guard FileManager.default.fileExists(atPath: folder, isDirectory: &isDirectory), isDirectory.boolValue else {
                throw ValidationError("--plot: the directory \(folder) does not exist")
            }
        }
    }

    func run() async throws {
        let workloads = try kind.workloadKinds.map { try Workload.parse(kind: $0, argument: argument) }
        let plotFile = plot.map(PlotFile.init)
        do {
            try plotFile?.checkWritable()
        } catch {
            printError("concctl: --plot: \(error)")
            throw ExitCode(ExitStatus.cannotCreate)
        }
        let timeoutMilliseconds = timeout.map { max(1, Int64(($0 * 1000).rounded())) }
        var results: [PoolComparison] = []
        var firstFailure: ErrorCode?
        do {
            let client = try await ConcClient.connect(socketPath: socketPath)
            let running = try await client.status().pools.map(\.kind)
            for pool in PoolName.builtIn where running.contains(pool) {
                guard let workload = workloads.first(where: { $0.kind.supportedPools.contains(pool) }) else { continue }
                let submission = try Submission(workload: workload, pool: pool, timeoutMilliseconds: timeoutMilliseconds)
                let (result, failure) = try await measure(submission, on: pool, client: client)
                results.append(result)
                firstFailure = firstFailure ?? failure
            }
            await client.close()
        } catch let error as ConcClientError {
            throw fail(error)
        } catch let error as WireError {
            throw ValidationError(error.message)
        }
        let described = kind == .get ? "get \(argument ?? "")" : workloads[0].description
        let comparison = Comparison(workload: described, count: count, pools: results)
        if json {
            print(String(decoding: try JSONEncoder.concctl.encode(comparison), as: UTF8.self))
        } else {
            print(Self.table(comparison))
        }
        if let plotFile {
            do {
                try plotFile.write(ComparisonChart.svg(comparison))
            } catch {
                printError("concctl: --plot: \(error)")
                throw ExitCode(ExitStatus.cannotCreate)
            }
            if !json { print("chart written to \(plotFile.path)") }
        }
        if let firstFailure { throw ExitCode(ExitStatus.code(for: firstFailure)) }
    }

    /// One task alone, then `count` at once, with the daemon's CPU time read before and after.
    private func measure(
        _ submission: Submission, on pool: PoolName, client: ConcClient
    ) async throws(ConcClientError) -> (PoolComparison, ErrorCode?) {
        // One short run is noisy (a cold worker, a scheduler hiccup), so the serial estimate takes
        // the median of three; a run of a second or more is steady enough, and three would be slow.
        var aloneTimes: [Double] = []
        var alone: Reply
        repeat {
            let aloneStarted = ContinuousClock.now
            alone = try await client.submit(submission)
            aloneTimes.append(Self.seconds(aloneStarted.duration(to: .now)))
        } while alone.ok && aloneTimes.count < 3 && aloneTimes.last! < 1
        let oneTask = aloneTimes.sorted()[aloneTimes.count / 2]
        let cpuBefore = try await client.status().cpu?.totalSeconds ?? 0
        let started = ContinuousClock.now
        let count = self.count
        let replies: [Reply]
        do {
            replies = try await withThrowingTaskGroup(of: Reply.self) { group in
                for _ in 0..<count {
                    group.addTask { try await client.submit(submission) }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
        } catch let error as ConcClientError {
            throw error
        } catch {
            throw .protocolViolation("\(error)")
        }
        let wall = max(Self.seconds(started.duration(to: .now)), 1e-9)
        let cpuAfter = try await client.status().cpu?.totalSeconds ?? 0
        let cpu = max(0, cpuAfter - cpuBefore)
        let failures = replies.filter { !$0.ok }
        let result = PoolComparison(
            pool: pool,
            model: PoolComparison.model(of: pool),
            count: count,
            errors: failures.count,
            oneTaskSeconds: oneTask,
            serialSeconds: Double(count) * oneTask,
            wallSeconds: wall,
            cpuSeconds: cpu,
            speedup: Double(count) * oneTask / wall,
            parallelism: cpu / wall
        )
        let failure = alone.ok ? failures.first?.error?.code : (alone.error?.code ?? .internal)
        return (result, failure)
    }

    private static func seconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
    }

    static func table(_ comparison: Comparison) -> String {
        let header = ["POOL", "MODEL", "WALL", "CPU", "SPEED-UP", "PARALLELISM", "ERRORS"]
        let rows = comparison.pools.map { pool in
            [
                pool.pool.rawValue, pool.model, Format.duration(seconds: pool.wallSeconds), Format.duration(seconds: pool.cpuSeconds),
                Format.rounded(pool.speedup) + "x", Format.rounded(pool.parallelism), "\(pool.errors)",
            ]
        }
        let title = "\(comparison.workload), \(comparison.count) at once on each pool "
            + "(speed-up: against \(comparison.count) x one task alone; parallelism: CPU / wall)"
        return title + "\n" + Format.table([header] + rows)
    }
}

/// What `concctl compare` runs: a workload kind, or `get`, the blocking GET on the pools that block
/// and the async GET on the async pool, so that one table holds the seed's three columns.
enum CompareKind: String, CaseIterable, ExpressibleByArgument, CustomStringConvertible {
    case cpu, io, async, get, sleep, noop

    /// The workloads it runs, each on the pools that can run it.
    var workloadKinds: [WorkloadKind] {
        switch self {
        case .cpu: return [.cpu]
        case .io: return [.io]
        case .async: return [.async]
        case .get: return [.io, .async]
        case .sleep: return [.sleep]
        case .noop: return [.noop]
        }
    }

    var description: String { rawValue }
}
