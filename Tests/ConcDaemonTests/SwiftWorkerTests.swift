import ConcClient
import ConcProtocol
import Foundation
import Logging
import Testing

import ConcDaemon

/// A worker program written in Swift with the ConcWorker library (the seed-worker-swift example) on
/// a pool of a daemon in this process, called through ConcClient's `call`, `map` and `exec`.
@Suite struct SwiftWorkerTests {
    static let example = URL(fileURLWithPath: workerExecutable).deletingLastPathComponent().appendingPathComponent("seed-worker-swift").path

    private func withSwiftPool(_ body: (ConcClient) async throws -> Void) async throws {
        let directory = NSTemporaryDirectory() + "concd-swift-worker-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var configuration = DaemonConfiguration(
            socketPath: directory + "/concd.sock", processWorkers: 1, threads: 2, workerExecutable: workerExecutable
        )
        var pool = PoolConfiguration(name: try #require(PoolName(rawValue: "seed")), model: .process, size: 2)
        pool.command = [Self.example]
        configuration.namedPools = [pool]
        let daemon = Daemon(configuration: configuration, logger: Logger(label: "test"))
        let running = Task { try await daemon.run() }
        await daemon.waitUntilReady()
        do {
            let client = try await ConcClient.connect(socketPath: configuration.socketPath)
            try await body(client)
            await client.close()
        } catch {
            await daemon.shutdown()
            _ = await running.result
            throw error
        }
        await daemon.shutdown()
        try await running.value
    }

    @Test func aSwiftProgramServesCallsAndItsErrorsComeBackTyped() async throws {
        try await withSwiftPool { client in
            let seed = try #require(PoolName(rawValue: "seed"))
            struct Number: Codable { var number: Int }
            let sum: Int = try await client.call(seed, "cpu_bound_task", Number(number: 1000))
            #expect(sum == (0..<1000).reduce(0) { $0 + $1 * $1 })
            let echoed = try await client.call(seed, "echo", arguments: try #require(JSONText(parsing: #"{"a":[1,"two",null]}"#)))
            #expect(echoed.text == #"{"a":[1,"two",null]}"#)

            // Pipelined on one connection; the outcomes in the order of the arguments.
            let numbers = (0..<200).map { JSONText(parsing: #"{"number":\#($0)}"#)! }
            let outcomes = await client.map(seed, "cpu_bound_task", numbers)
            #expect(outcomes.count == 200)
            for (n, outcome) in outcomes.enumerated() {
                #expect((try? outcome.get())?.text == String((0..<n).reduce(0) { $0 + $1 * $1 }), "\(n): \(outcome)")
            }

            // The function's own error: task_failed with its Swift type.
            let huge = try #require(JSONText(parsing: #"{"number":4000000000}"#))
            let overflow = await failure { () async throws(ConcClientError) in _ = try await client.call(seed, "cpu_bound_task", arguments: huge) }
            guard case .taskFailed(let error)? = overflow else { throw Unexpected(overflow) }
            #expect(error.code == .taskFailed && error.type == "Overflow", "\(error)")
            #expect(error.message.contains("does not fit a 64-bit integer"), "\(error)")
            // A function the program does not have: refused by concd from the worker's list.
            let missing = await failure { () async throws(ConcClientError) in _ = try await client.call(seed, "nosuch") }
            guard case .rejected(let refusal)? = missing else { throw Unexpected(missing) }
            #expect(refusal.code == .unknownFunction && refusal.message.contains("cpu_bound_task, echo"), "\(refusal)")

            // A command on the thread pool, through the same client.
            let listing = try await client.exec(["sh", "-c", "echo swift; exit 7"])
            #expect(listing.exitCode == 7 && listing.stdout == "swift\n")
            let late = await failure { () async throws(ConcClientError) in _ = try await client.exec(["sleep", "5"], timeout: .milliseconds(200)) }
            guard case .taskFailed(let timeout)? = late else { throw Unexpected(late) }
            #expect(timeout.code == .timeout)
        }
    }

    /// The error `body` throws, or nil when it succeeds.
    private func failure(_ body: () async throws(ConcClientError) -> Void) async -> ConcClientError? {
        do throws(ConcClientError) {
            try await body()
            return nil
        } catch {
            return error
        }
    }

    struct Unexpected: Error {
        var outcome: ConcClientError?
        init(_ outcome: ConcClientError?) { self.outcome = outcome }
    }
}
