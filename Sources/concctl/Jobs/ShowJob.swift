import ArgumentParser
import ConcProtocol
import Foundation

struct ShowJob: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "job",
        abstract: "Show a durable job: its state, pool, attempts, host, times, result and every attempt's error.",
        discussion: """
            Times are in UTC (ISO 8601) with their age. The exit status is 0 whenever the
            job was found, whatever its state; concctl wait exits with the job's outcome.

            Examples:
              concctl job 42
              concctl job 42 --json | jq -r .state
            """
    )

    @ParentCommand var root: Concctl
    @OptionGroup var connection: ConnectionOptions

    @Argument(help: "The job's id (a positive integer, as submit --durable printed it).")
    var id: JobID

    @Flag(help: "Print the job as JSON (fields in docs/protocol.md).")
    var json = false

    func run() async throws {
        let reply = try await sendJobOperation(.job(id: id.value), socketPath: connection.socketPath(root: root))
        guard reply.ok else { throw refusal(reply) }
        guard let job = reply.job else {
            printError("concctl: concd answered without the job (its reply lacks job)")
            throw ExitCode(ExitStatus.protocolError)
        }
        if json {
            try printJSONLine(job)
        } else {
            print(JobView.lines(job).joined(separator: "\n"))
        }
    }
}
