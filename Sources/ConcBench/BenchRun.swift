import ConcClient
import ConcProtocol
import Foundation
import Synchronization

/// One run of `concctl bench`: starts a private concd and measures it against floors taken in
/// the same run (see `Bench`'s help for the list).
package struct BenchRun: Sendable {
    /// The concd binary to start.
    package var concd: String
    /// Sequential round trips measured per pool (and for the floor).
    package var rounds: Int
    /// No-op tasks per pipelined throughput run.
    package var pipelined: Int
    /// Iterations of the CPU loop.
    package var iterations: Int64

    /// A run with these sizes.
    package init(concd: String, rounds: Int, pipelined: Int, iterations: Int64) {
        self.concd = concd
        self.rounds = rounds
        self.pipelined = pipelined
        self.iterations = iterations
    }

    /// The concd beside the running executable.
    package static func siblingConcd() -> String {
        URL(fileURLWithPath: EchoFloor.selfExecutable()).deletingLastPathComponent().path + "/concd"
    }

    /// Runs every measurement; throws `BenchError` or `ConcClientError`.
    package func measure() async throws -> BenchResults {
        var template = Array("/tmp/concd-bench-XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else { throw BenchError("cannot make a temporary directory") }
        let directory = String(cString: made)
        defer { try? FileManager.default.removeItem(atPath: directory) }

        let loadAverage = (try? String(contentsOfFile: "/proc/loadavg", encoding: .utf8))
            .flatMap { $0.split(separator: " ").first }.flatMap { Double($0) }
        let daemon = try PrivateDaemon(
            executable: concd, directory: directory, arguments: ["--log-target", "stderr"], timeout: 30
        )
        defer { daemon.stop() }
        let client = try await ConcClient.connect(socketPath: daemon.socketPath)
        let raw = try RawConnection(socketPath: daemon.socketPath)
        let noops = try PoolName.builtIn.map { try Submission(workload: .noop, pool: $0) }
        let frames = noops.map { RequestCodec.encode(Request(id: 1, operation: .submit($0))) + [UInt8(ascii: "\n")] }
        // The floor and the pools' round trips are taken in turns, a tenth at a time, so that a
        // change in the machine's load hits all of them. Each tenth of the floor has a fresh echo
        // peer: the scheduler keeps a peer on the core where it first ran (beside the client, or
        // across), so one peer would make the whole floor one case or the other, while the
        // daemon's threads are placed anew as they wake.
        for frame in frames { _ = try raw.roundTrips(frame, count: rounds / 10) }
        var floor: [UInt64] = []
        var samples = [[UInt64]](repeating: [], count: frames.count)
        for _ in 0..<10 {
            let peer = try EchoFloor.Peer()
            defer { peer.close() }
            _ = try peer.roundTrips(rounds / 100)
            floor += try peer.roundTrips(rounds / 10)
            for (index, frame) in frames.enumerated() { samples[index] += try raw.roundTrips(frame, count: rounds / 10) }
        }
        // The unpinned floor is bimodal on a VM: the scheduler may run both ends on one core
        // (no cross-core wake-up) or on two. Both cases, pinned, show which one a run got.
        let cpus = EchoFloor.usableCPUs()
        let sameCore = try cpus.first.map { try EchoFloor.measure(rounds: rounds, cpus: ($0, $0)) }
        let crossCore = try cpus.count >= 2 ? EchoFloor.measure(rounds: rounds, cpus: (cpus[0], cpus[1])) : nil
        var results = BenchResults(
            floorP50Microseconds: Self.micro(percentile(floor, 50)),
            floorP99Microseconds: Self.micro(percentile(floor, 99)),
            floorSameCoreMicroseconds: sameCore.map { Self.micro(percentile($0, 50)) },
            floorCrossCoreMicroseconds: crossCore.map { Self.micro(percentile($0, 50)) },
            readyMilliseconds: daemon.readyMilliseconds
        )
        results.loadAverage = loadAverage
        for (index, pool) in PoolName.builtIn.enumerated() {
            let noop = noops[index]
            var clientSamples: [UInt64] = []
            clientSamples.reserveCapacity(rounds / 2)
            for _ in 0..<(rounds / 2) {
                let start = monotonicNanoseconds()
                let reply = try await client.submit(noop)
                clientSamples.append(monotonicNanoseconds() - start)
                guard reply.ok else { throw BenchError("a no-op failed on the \(pool) pool: \(reply.error?.message ?? "?")") }
            }
            let one = try Self.pipelinedRate(frames[index], total: pipelined, connections: 1, window: 512, socketPath: daemon.socketPath)
            let several = try Self.pipelinedRate(frames[index], total: pipelined, connections: 4, window: 128, socketPath: daemon.socketPath)
            results.pools[pool.rawValue] = PoolResult(
                p50Microseconds: Self.micro(percentile(samples[index], 50)),
                p99Microseconds: Self.micro(percentile(samples[index], 99)),
                pipelinedPerSecond: one,
                pipelinedFourConnectionsPerSecond: several,
                clientP50Microseconds: Self.micro(percentile(clientSamples, 50))
            )
        }

        let cpu = try Submission(workload: .cpu(n: iterations), pool: .process)
        var single = UInt64.max
        for _ in 0..<3 {
            let reply = try await client.submit(cpu)
            guard reply.ok, let wall = reply.wallMicroseconds else { throw BenchError("cpu failed: \(reply.error?.message ?? "?")") }
            single = min(single, wall)
        }
        let status = try await client.status()
        let workers = status.pools.first { $0.kind == .process }?.size ?? 1
        // Scaling is timed on loops long enough (≈0.1 s) that a round trip is noise, one loop and
        // K at once interleaved so that drift in the machine's speed hits both alike.
        let scalingIterations = iterations * 4
        let long = try Submission(workload: .cpu(n: scalingIterations), pool: .process)
        var one = UInt64.max
        var parallel = UInt64.max
        for _ in 0..<3 {
            var start = monotonicNanoseconds()
            _ = try await client.submit(long)
            one = min(one, monotonicNanoseconds() - start)
            start = monotonicNanoseconds()
            try await withThrowingTaskGroup(of: Void.self) { group in
                for _ in 0..<workers { group.addTask { _ = try await client.submit(long) } }
                try await group.waitForAll()
            }
            parallel = min(parallel, monotonicNanoseconds() - start)
        }
        let (binary, cReason) = CLoop.compile(directory: directory)
        let (cNanoseconds, cRunReason) = binary.map { CLoop.nanosecondsPerIteration(binary: $0, n: iterations, runs: 3) } ?? (nil, nil)
        results.cpu = CPUResult(
            iterations: iterations,
            nanosecondsPerIteration: Double(single) * 1000 / Double(iterations),
            cNanosecondsPerIteration: cNanoseconds,
            cUnavailable: cReason ?? cRunReason,
            workers: workers,
            scalingIterations: scalingIterations,
            scaling: Double(parallel) / Double(one),
            cScaling: binary.flatMap { CLoop.scaling(binary: $0, n: scalingIterations, copies: workers, runs: 3) }
        )
        (results.rssMegabytes, results.pssMegabytes, results.anonymousRSSMegabytes) = daemon.memoryMegabytes(
            workerPIDs: status.pools.flatMap { $0.workers ?? [] }.compactMap(\.pid)
        )
        await client.close()
        return results
    }

    /// No-op tasks per second with `window` requests in flight on each of `connections` blocking
    /// connections, each driven by its own thread.
    private static func pipelinedRate(
        _ frame: [UInt8], total: Int, connections: Int, window: Int, socketPath: String
    ) throws -> Double {
        let perConnection = total / connections
        let failure = FirstError()
        let done = DispatchSemaphore(value: 0)
        let start = monotonicNanoseconds()
        for _ in 0..<connections {
            let worker = Thread {
                do {
                    try RawConnection(socketPath: socketPath).pipeline(frame, total: perConnection, window: window)
                } catch {
                    failure.record(error)
                }
                done.signal()
            }
            worker.start()
        }
        for _ in 0..<connections { done.wait() }
        let elapsed = monotonicNanoseconds() - start
        if let error = failure.first { throw error }
        return Double(perConnection * connections) / (Double(elapsed) / 1e9)
    }

    private static func micro(_ nanoseconds: UInt64) -> Double {
        (Double(nanoseconds) / 10).rounded() / 100
    }
}

/// The first error any of several threads met.
private final class FirstError: Sendable {
    private let state = Mutex<(any Error)?>(nil)

    func record(_ error: any Error) {
        state.withLock { if $0 == nil { $0 = error } }
    }

    var first: (any Error)? { state.withLock { $0 } }
}
