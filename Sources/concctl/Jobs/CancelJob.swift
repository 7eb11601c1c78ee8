import ArgumentParser
import ConcProtocol
import Foundation

struct CancelJob: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cancel",
        abstract: "Cancel a durable job: a queued one never starts, a running one is stopped where it runs.",
        discussion: """
            Prints what was done as a sentence. A job that has already finished
            cannot be cancelled (exit 4, invalid_argument), nor can an unknown one
            (exit 4, not_found). Whoever waits for the job sees it end as cancelled
            (concctl wait exits 8).

            Example:
              concctl cancel 42
            """
    )

    @ParentCommand var root: Concctl
    @OptionGroup var connection: ConnectionOptions

    @Argument(help: "The job's id (a positive integer, as submit --durable printed it).")
    var id: JobID

    @Flag(help: "Print the daemon's reply (with the job as it is after) as JSON.")
    var json = false

    func run() async throws {
        let reply = try await sendJobOperation(.cancelJob(id: id.value), socketPath: connection.socketPath(root: root))
        if json {
            try printJSONLine(reply)
            if !reply.ok { throw ExitCode(ExitStatus.code(for: reply.error?.code ?? .internal)) }
            return
        }
        guard reply.ok else { throw refusal(reply) }
        print(reply.detail ?? "cancelled job \(id)")
    }
}
