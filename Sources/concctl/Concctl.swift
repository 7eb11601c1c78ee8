import ArgumentParser
import Foundation

/// `concctl`: the control client of concd.
@main
struct Concctl: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "concctl",
        abstract: "Submit work to concd and read its status.",
        discussion: """
            Examples:
              concctl submit cpu 10000000
              concctl submit cpu 10000000 --count 4
              concctl submit cpu 10000000 --durable --detach
              concctl jobs --state running
              concctl status
              concctl top
              concctl compare cpu 10000000 --count 4 --plot cpu.svg
              concctl metrics
              concctl --generate-completion-script bash
            """,
        subcommands: [
            Submit.self, ShowJob.self, WaitJob.self, CancelJob.self, ListJobs.self, Status.self, Top.self, Compare.self, Metrics.self, Ping.self, Bench.self, Resize.self,
            Reload.self, Shutdown.self, KillWorker.self, BenchEcho.self, BenchLoad.self, BenchSoak.self,
        ]
    )

    @OptionGroup var connection: ConnectionOptions
}

/// Where to find the daemon.
struct ConnectionOptions: ParsableArguments {
    @Option(help: "The control socket (default: $CONCD_SOCKET, else /run/concd/concd.sock).")
    var socket: String?

    /// The socket to use: this command's `--socket`, else the root's, else `$CONCD_SOCKET`, else the default.
    func socketPath(root: Concctl) -> String {
        if let socket { return socket }
        if let socket = root.connection.socket { return socket }
        if let fromEnvironment = getenv("CONCD_SOCKET"), fromEnvironment.pointee != 0 {
            return String(cString: fromEnvironment)
        }
        return "/run/concd/concd.sock"
    }
}
