import ArgumentParser
import ConcBench
import Foundation

/// `concctl bench-soak` (hidden): each hostile client against a concd of its own for `--seconds`
/// while a well-behaved client keeps submitting; prints the table docs/reliability.md shows and
/// exits 1 if a target is missed. `make soak` runs it for 60 s each.
struct BenchSoak: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "bench-soak", shouldDisplay: false)

    @Option(help: "Seconds each attack lasts.")
    var seconds: Double = 60

    @Option(help: "Seconds the well-behaved client runs alone before each attack.")
    var quiet: Double = 5

    @Option(help: "connections.stall_timeout and metrics.idle_timeout of the daemons.")
    var giveUp: Double = 20

    @Option(help: "The concd to start (default: the one beside concctl).")
    var concd: String?

    @Argument(help: "Attacks to run (default: all): \(HostileKind.allCases.map(\.rawValue).joined(separator: ", ")).")
    var kinds: [String] = []

    func run() throws {
        let selected = try kinds.isEmpty
            ? HostileKind.allCases
            : kinds.map { name in
                guard let kind = HostileKind(rawValue: name) else { throw ValidationError("no attack named '\(name)'") }
                return kind
            }
        var template = Array("/tmp/concd-soak-XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else { throw ValidationError("cannot make a temporary directory") }
        let directory = String(cString: made)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let executable = concd ?? URL(fileURLWithPath: EchoFloor.selfExecutable()).deletingLastPathComponent().path + "/concd"
        let soak = Soak(executable: executable, quietSeconds: quiet, attackSeconds: seconds, giveUpSeconds: giveUp, directory: directory)
        var results: [Soak.Result] = []
        var missed: [String] = []
        for kind in selected {
            FileHandle.standardError.write(Data("soak: \(kind.rawValue) for \(seconds) s…\n".utf8))
            let result = try soak.run(kind)
            results.append(result)
            missed += Soak.missedTargets(result, timed: true).map { "\(kind.rawValue): \($0)" }
        }
        print(Soak.table(results))
        if !missed.isEmpty {
            print("\nmissed:\n" + missed.map { "  " + $0 }.joined(separator: "\n"))
            throw ExitCode(1)
        }
    }
}
