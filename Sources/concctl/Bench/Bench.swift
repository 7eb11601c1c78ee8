import ArgumentParser
import ConcBench
import ConcClient
import ConcProtocol
import ConcSystem
import Foundation

struct Bench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure concd on this machine, as ratios to floors measured in the same run.",
        discussion: """
            Starts a private concd (the binary beside concctl) on a temporary socket and measures:
            the raw AF_UNIX echo round trip between two processes (the floor); the no-op round trip
            on each pool; pipelined no-op throughput on one and on several connections; the CPU
            loop against the same loop compiled with cc -O2; K loops on K workers against one;
            exec to READY=1; and the idle memory of the daemon and its workers.

            Examples:
              concctl bench
              concctl bench --json | jq .pools.thread
            """
    )

    @Option(help: "The concd binary to start (default: the one beside concctl).")
    var concd: String?

    @Option(help: "Sequential round trips measured per pool (and for the floor).")
    var rounds = 3000

    @Option(help: "No-op tasks per pipelined throughput run.")
    var pipelined = 20_000

    @Option(help: "Iterations of the CPU loop.")
    var iterations: Int64 = 100_000_000

    @Flag(help: "Print the results as JSON.")
    var json = false

    func validate() throws {
        guard rounds >= 100 else { throw ValidationError("--rounds must be at least 100") }
        guard pipelined >= 1000 else { throw ValidationError("--pipelined must be at least 1000") }
        guard (1_000_000...ProtocolLimits.maxCPUIterations).contains(iterations) else {
            throw ValidationError("--iterations must be 1000000...\(ProtocolLimits.maxCPUIterations)")
        }
    }

    func run() async throws {
        let results: BenchResults
        do {
            results = try await BenchRun(
                concd: concd ?? BenchRun.siblingConcd(), rounds: rounds, pipelined: pipelined, iterations: iterations
            ).measure()
        } catch let error as BenchError {
            printError("concctl bench: \(error)")
            throw ExitCode(ExitStatus.taskFailed)
        } catch let error as SpawnError {
            printError("concctl bench: \(error)")
            throw ExitCode(ExitStatus.taskFailed)
        } catch let error as ConcClientError {
            throw fail(error)
        }
        if json {
            print(String(decoding: try JSONEncoder.concctl.encode(results), as: UTF8.self))
        } else {
            print(results.table)
        }
    }
}
