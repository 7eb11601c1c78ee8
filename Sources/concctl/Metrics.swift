import ArgumentParser
import ConcClient
import Foundation

struct Metrics: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print the daemon's metrics in the Prometheus text format.",
        discussion: """
            The same text concd serves at http://HOST:PORT/metrics when
            metrics.listen is set (docs/operations.md lists every metric): per
            pool (label pool) tasks completed, failed and rejected; size, busy,
            idle and queued; a task-duration histogram; and concd's uptime and
            CPU time.

            Examples:
              concctl metrics
              concctl metrics | grep '^concd_tasks_completed_total'
            """
    )

    @ParentCommand var root: Concctl
    @OptionGroup var connection: ConnectionOptions
    private var socketPath: String { connection.socketPath(root: root) }

    func run() async throws {
        let text: String
        do {
            let client = try await ConcClient.connect(socketPath: socketPath)
            text = try await client.metrics()
            await client.close()
        } catch {
            throw fail(error)
        }
        FileHandle.standardOutput.write(Data(text.utf8))
    }
}
