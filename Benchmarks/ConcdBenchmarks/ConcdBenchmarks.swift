import Benchmark
@_spi(Benchmarks) import ConcDaemon
import ConcProtocol
import Dispatch
import Foundation
import NIOCore
import Synchronization

// Micro-benchmarks of concd's hot paths: the frame codecs, the dispatcher, and each pool's hand-off
// of a no-op. Run with `make bench-micro` (or `swift package benchmark`). These report absolute
// figures for comparing two builds on one machine; `concctl bench` gives the end-to-end ratios.

let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(
        metrics: [.wallClock, .throughput, .mallocCountTotal],
        timeUnits: .nanoseconds,
        warmupIterations: 10,
        scalingFactor: .kilo,
        maxDuration: .seconds(1),
        maxIterations: 1000
    )

    codecBenchmarks()
    dispatchBenchmarks()
    poolBenchmarks()
}

// MARK: - Frame codecs

private let noopFrame = Array(#"{"v":1,"id":4242,"op":"submit","kind":"noop","pool":"thread"}"#.utf8)
private let cpuFrame = Array(#"{"v":1,"id":4242,"op":"submit","kind":"cpu","n":10000000,"pool":"process","timeout_ms":5000}"#.utf8)
private let pingFrame = Array(#"{"v":1,"id":7,"op":"ping"}"#.utf8)
private let noopReply = Reply(
    id: 4242, ok: true, kind: .noop, pool: .thread, worker: "thread-3", wallMicroseconds: 17
)
private let cpuReply = Reply(
    id: 4242, ok: true, value: .integer(49_999_995_000_000), kind: .cpu, pool: .process, worker: "process-1",
    workerPID: 31337, wallMicroseconds: 4_321
)

private func codecBenchmarks() {
    Benchmark("RequestCodec.decode noop submit") { benchmark in
        for _ in benchmark.scaledIterations {
            blackHole(try? RequestCodec.decode(noopFrame))
        }
    }
    Benchmark("RequestCodec.decode cpu submit with timeout") { benchmark in
        for _ in benchmark.scaledIterations {
            blackHole(try? RequestCodec.decode(cpuFrame))
        }
    }
    Benchmark("RequestCodec.decode ping") { benchmark in
        for _ in benchmark.scaledIterations {
            blackHole(try? RequestCodec.decode(pingFrame))
        }
    }
    let noopRequest = Request(id: 4242, operation: .submit(try! Submission(workload: .noop, pool: .thread)))
    Benchmark("RequestCodec.encode noop submit") { benchmark in
        for _ in benchmark.scaledIterations {
            blackHole(RequestCodec.encode(noopRequest))
        }
    }
    Benchmark("ReplyCodec.encode noop reply") { benchmark in
        for _ in benchmark.scaledIterations {
            blackHole(ReplyCodec.encode(noopReply))
        }
    }
    Benchmark("ReplyCodec.encode cpu reply") { benchmark in
        for _ in benchmark.scaledIterations {
            blackHole(ReplyCodec.encode(cpuReply))
        }
    }
    let noopReplyFrame = ReplyCodec.encode(noopReply)
    let cpuReplyFrame = ReplyCodec.encode(cpuReply)
    Benchmark("ReplyCodec.decode noop reply") { benchmark in
        for _ in benchmark.scaledIterations {
            blackHole(try? ReplyCodec.decode(noopReplyFrame))
        }
    }
    Benchmark("ReplyCodec.decode cpu reply") { benchmark in
        for _ in benchmark.scaledIterations {
            blackHole(try? ReplyCodec.decode(cpuReplyFrame))
        }
    }

    // One buffer holding 1000 frames, as a busy pipelined connection delivers them.
    var stream = ByteBuffer()
    for _ in 0..<1000 {
        stream.writeBytes(noopFrame)
        stream.writeInteger(UInt8(ascii: "\n"))
    }
    let manyFrames = stream
    Benchmark("LineFrameDecoder 1000 frames in one buffer", configuration: .init(scalingFactor: .one)) { benchmark in
        for _ in benchmark.scaledIterations {
            var buffer = manyFrames
            var decoder = LineFrameDecoder()
            var frames = 0
            while let frame = try? decoder.nextFrame(&buffer) {
                blackHole(frame)
                frames += 1
            }
            precondition(frames == 1000)
        }
    }
}

// MARK: - Dispatcher

private func dispatchBenchmarks() {
    let dispatcher = BenchmarkHooks.PoollessDispatcher(socketPath: "/tmp/concd-bench.sock")
    let ping = Request(id: 1, operation: .ping)
    let status = Request(id: 2, operation: .status)
    Benchmark("Dispatcher.handle ping") { benchmark in
        for _ in benchmark.scaledIterations {
            dispatcher.handle(ping) { blackHole($0) }
        }
    }
    Benchmark("Dispatcher.handle status (no pools)") { benchmark in
        for _ in benchmark.scaledIterations {
            dispatcher.handle(status) { blackHole($0) }
        }
    }
    Benchmark("Dispatcher.handle ping + ReplyCodec.encode") { benchmark in
        for _ in benchmark.scaledIterations {
            dispatcher.handle(ping) { blackHole(ReplyCodec.encode($0)) }
        }
    }
}

// MARK: - Pool hand-off

/// Pools started by a benchmark's setup, stopped by its teardown.
private let livePools = Mutex<[BenchmarkHooks.RunningPool]>([])

private func startPool(_ model: BenchmarkHooks.RunningPool.Model) async throws -> BenchmarkHooks.RunningPool {
    let pool = try await BenchmarkHooks.RunningPool.start(model)
    livePools.withLock { $0.append(pool) }
    return pool
}

private func stopPools() async {
    let pools = livePools.withLock { pools in
        defer { pools.removeAll() }
        return pools
    }
    for pool in pools { await pool.shutdown() }
}

/// Submits `count` no-ops to `pool` at once and blocks until every one has completed.
private func noops(_ count: Int, on pool: BenchmarkHooks.RunningPool) {
    let done = DispatchSemaphore(value: 0)
    let left = Atomic(count)
    for _ in 0..<count {
        do {
            try pool.submitNoop {
                if left.subtract(1, ordering: .acquiringAndReleasing).newValue == 0 { done.signal() }
            }
        } catch {
            fatalError("the \(pool.name) pool refused a no-op: \(error)")
        }
    }
    done.wait()
}

/// The concd binary the process pool runs as its workers: `CONCD_EXECUTABLE`, else the root
/// package's release build (`make bench-micro` builds it first).
private let concdExecutable = ProcessInfo.processInfo.environment["CONCD_EXECUTABLE"]
    ?? URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().appendingPathComponent(".build/release/concd").path

private func poolBenchmarks() {
    let oneAtATime = Benchmark.Configuration(scalingFactor: .one, maxIterations: 20_000)
    let batch = Benchmark.Configuration(scalingFactor: .kilo, maxIterations: 200)
    let models: [(String, BenchmarkHooks.RunningPool.Model)] = [
        ("ThreadPool", .thread(size: 4)),
        ("AsyncPool", .async(limit: 100_000)),
        ("ProcessPool", .process(size: 2, executable: concdExecutable)),
    ]
    for (name, model) in models {
        if name == "ProcessPool", !FileManager.default.isExecutableFile(atPath: concdExecutable) {
            // A bare `swift package benchmark` may run before the root package's concd is built.
            print("skipping the ProcessPool benchmarks: \(concdExecutable) is not built")
            continue
        }
        Benchmark("\(name) noop hand-off, one at a time", configuration: oneAtATime) { benchmark, pool in
            for _ in benchmark.scaledIterations { noops(1, on: pool) }
        } setup: {
            try await startPool(model)
        } teardown: {
            await stopPools()
        }
        Benchmark("\(name) noop hand-off, 1000 in flight", configuration: batch) { benchmark, pool in
            noops(benchmark.scaledIterations.count, on: pool)
        } setup: {
            try await startPool(model)
        } teardown: {
            await stopPools()
        }
    }
}
