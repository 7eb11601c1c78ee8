import ArgumentParser
import ConcProtocol
import Foundation

struct WaitJob: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "wait",
        abstract: "Wait for a durable job to finish and print its result as submit does.",
        discussion: """
            Answers at once for a job that has finished. The exit status is the
            job's outcome, as for submit: 0 when it succeeded, 1 when it failed
            (2 when its last attempt passed its deadline), 8 when it was
            cancelled; 4 for an unknown id, 9 when the daemon has no queue, 3
            when the queue's database is down. Interrupting wait leaves the job
            alone: it runs on.

            Examples:
              id=$(concctl submit cpu 100000000 --durable --detach) && concctl wait "$id"
              concctl wait 42 --json | jq .value
            """
    )

    @ParentCommand var root: Concctl
    @OptionGroup var connection: ConnectionOptions

    @Argument(help: "The job's id (a positive integer, as submit --durable printed it).")
    var id: JobID

    @Flag(help: "Print the daemon's reply as JSON, as submit --json does.")
    var json = false

    func run() async throws {
        let reply = try await sendJobOperation(.waitJob(id: id.value), socketPath: connection.socketPath(root: root))
        if json {
            try printJSONLine(reply)
        } else {
            var shown = reply
            // A result names the job it belongs to even if the daemon left job_id out.
            if shown.ok && shown.jobID == nil { shown.jobID = id.value }
            Submit.printOutcome(shown)
        }
        if !reply.ok {
            throw ExitCode(ExitStatus.code(for: reply.error?.code ?? .internal))
        }
    }
}
