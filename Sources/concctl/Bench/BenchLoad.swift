import ArgumentParser
import ConcBench
import ConcProtocol

/// `concctl bench-load` (hidden): sends pipelined no-ops to a running concd (ConcBench's
/// `NoopLoad`) and prints the rate; scripts/profile.sh drives the daemon with it while perf samples
/// it, and scripts/instructions.sh while callgrind counts its instructions.
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

    @Option(help: "On a pool that runs a program: call this function (no arguments) instead of a no-op.")
    var function: String?

    func run() async throws {
        let load = NoopLoad(
            socketPath: connection.socketPath(root: root), pool: pool, count: count, window: window, function: function
        )
        let seconds = try await concclient ? load.runThroughConcClient() : load.runOnRawSocket()
        print("\(count) no-ops on the \(pool) pool in \(Format.rounded(seconds)) s: \(Int(Double(count) / seconds))/s")
    }
}

/// `concctl bench-echo` (hidden): the peer of the floor measurement; echoes fd 3 until it closes.
struct BenchEcho: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "bench-echo", shouldDisplay: false)

    func run() throws {
        EchoFloor.serve(descriptor: 3)
    }
}
