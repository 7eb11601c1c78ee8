import ArgumentParser
import ConcClient
import ConcProtocol
import Foundation

/// `concctl bench-load` (hidden): sends pipelined no-ops to a running concd and prints the rate;
/// scripts/profile.sh drives the daemon with it while callgrind counts instructions.
struct BenchLoad: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "bench-load", shouldDisplay: false)

    @ParentCommand var root: Concctl
    @OptionGroup var connection: ConnectionOptions

    @Option(help: "The pool the no-ops run on.")
    var pool: PoolName = .thread

    @Option(help: "No-ops to send.")
    var count = 20_000

    @Option(help: "No-ops in flight at once.")
    var window = 256

    @Flag(help: "Send through ConcClient (NIO, one task per request) instead of a blocking socket.")
    var concclient = false

    func run() async throws {
        let socket = connection.socketPath(root: root)
        let noop = try Submission(workload: .noop, pool: pool)
        let start = monotonicNanoseconds()
        if concclient {
            let client = try await ConcClient.connect(socketPath: socket)
            let total = count
            let lanes = window
            try await withThrowingTaskGroup(of: Void.self) { group in
                for lane in 0..<lanes {
                    group.addTask {
                        for _ in stride(from: lane, to: total, by: lanes) {
                            let reply = try await client.submit(noop)
                            if !reply.ok { throw BenchError("a no-op failed: \(reply.error?.message ?? "?")") }
                        }
                    }
                }
                try await group.waitForAll()
            }
            await client.close()
        } else {
            let frame = RequestCodec.encode(Request(id: 1, operation: .submit(noop))) + [UInt8(ascii: "\n")]
            try RawConnection(socketPath: socket).pipeline(frame, total: count, window: window)
        }
        let seconds = Double(monotonicNanoseconds() - start) / 1e9
        print("\(count) no-ops on the \(pool) pool in \(Format.rounded(seconds)) s: \(Int(Double(count) / seconds))/s")
    }
}
