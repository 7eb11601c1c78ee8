import ArgumentParser
import ConcProtocol
import Foundation

struct ListJobs: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "jobs",
        abstract: "List durable jobs, newest first: id, state, pool, kind, attempt, host, age.",
        discussion: """
            ATTEMPT is attempts started of the most allowed; HOST is the host
            running the job, or the one that ran its last attempt; AGE is the
            time since it was submitted.

            Examples:
              concctl jobs
              concctl jobs --state failed --limit 20
              concctl jobs --state queued --json | jq length
            """
    )

    @ParentCommand var root: Concctl
    @OptionGroup var connection: ConnectionOptions

    @Option(help: "Only jobs in this state.")
    var state: JobState?

    @Option(help: "The most jobs to list (1...\(ProtocolLimits.maxJobsListed)).")
    var limit = 100

    @Flag(help: "Print the jobs as a JSON array (fields in docs/protocol.md).")
    var json = false

    func validate() throws {
        guard (1...ProtocolLimits.maxJobsListed).contains(limit) else {
            throw ValidationError("--limit must be 1...\(ProtocolLimits.maxJobsListed), got \(limit)")
        }
    }

    func run() async throws {
        let reply = try await sendJobOperation(.jobs(state: state, limit: limit), socketPath: connection.socketPath(root: root))
        guard reply.ok else { throw refusal(reply) }
        let jobs = reply.jobs ?? []
        if json {
            try printJSONLine(jobs)
        } else if jobs.isEmpty {
            print(state.map { "no \($0) jobs" } ?? "no jobs")
        } else {
            print(Format.table(JobView.table(jobs)))
        }
    }
}
