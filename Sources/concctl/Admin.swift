import ArgumentParser
import ConcClient
import ConcProtocol
import Foundation

/// Sends one admin operation and prints the daemon's sentence about what it did.
private func runAdmin(_ operation: Request.Operation, socketPath: String, json: Bool) async throws {
    let reply: Reply
    do {
        let client = try await ConcClient.connect(socketPath: socketPath)
        reply = try await client.send(operation)
        await client.close()
    } catch {
        throw fail(error)
    }
    if json {
        print(String(decoding: try JSONEncoder.concctl.encode(reply), as: UTF8.self))
    } else if reply.ok {
        print(reply.detail ?? "done")
    } else {
        printError("concctl: \(reply.error?.message ?? "the daemon refused") [\(reply.error?.code.rawValue ?? "internal")]")
    }
    if !reply.ok {
        throw ExitCode(ExitStatus.code(for: reply.error?.code ?? .internal))
    }
}

struct Resize: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Change a pool's size now (admin: root or the daemon's user).",
        discussion: """
            SIZE is worker processes for process, threads for thread, and the in-flight limit for
            async. Growing warms the new workers before it answers; shrinking lets surplus workers
            finish their task first. The next reload or restart restores the configured size.

            Examples:
              sudo concctl resize process 8
              sudo concctl resize thread 64
            """
    )

    @ParentCommand var root: Concctl
    @OptionGroup var connection: ConnectionOptions

    @Argument(help: "The pool: process, thread, async or a pool the configuration names.")
    var pool: PoolName

    @Argument(help: "Its new size.")
    var size: Int

    @Flag(help: "Print the daemon's reply as JSON.")
    var json = false

    func validate() throws {
        // A configured pool's model, and so its range, only the daemon knows.
        let range = pool.builtInModel.map(ConfigurationLimits.size(of:)) ?? 1...ConfigurationLimits.largestSize
        guard range.contains(size) else {
            throw ValidationError("the \(pool) pool's size must be \(range.lowerBound)...\(range.upperBound)")
        }
    }

    func run() async throws {
        try await runAdmin(.resize(pool: pool, size: size), socketPath: connection.socketPath(root: root), json: json)
    }
}

struct Reload: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Re-read the configuration file, as systemctl reload does (admin).",
        discussion: """
            A file that fails to load leaves the running configuration in place; the journal says why.

            Example:
              sudo concctl reload
            """
    )

    @ParentCommand var root: Concctl
    @OptionGroup var connection: ConnectionOptions

    @Flag(help: "Print the daemon's reply as JSON.")
    var json = false

    func run() async throws {
        try await runAdmin(.reload, socketPath: connection.socketPath(root: root), json: json)
    }
}

struct Shutdown: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Stop the daemon gracefully: no new tasks, queued and running ones finish (admin).",
        discussion: """
            Under systemd, prefer systemctl stop concd: systemd would restart a daemon that exits
            on its own only if its unit says so.

            Example:
              sudo concctl shutdown
            """
    )

    @ParentCommand var root: Concctl
    @OptionGroup var connection: ConnectionOptions

    @Flag(help: "Print the daemon's reply as JSON.")
    var json = false

    func run() async throws {
        try await runAdmin(.shutdown, socketPath: connection.socketPath(root: root), json: json)
    }
}

struct KillWorker: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kill-worker",
        abstract: "SIGKILL one process worker; the pool replaces it (admin).",
        discussion: """
            The task it was running fails as worker_died, or runs again on another worker if it
            was submitted with --retries. concctl status --json lists the workers' pids.

            Example:
              sudo concctl kill-worker $(concctl status --json | jq '.pools[0].workers[0].pid')
            """
    )

    @ParentCommand var root: Concctl
    @OptionGroup var connection: ConnectionOptions

    @Argument(help: "The worker's pid.")
    var pid: Int32

    @Flag(help: "Print the daemon's reply as JSON.")
    var json = false

    func validate() throws {
        guard pid > 0 else { throw ValidationError("a pid is a positive number") }
    }

    func run() async throws {
        try await runAdmin(.killWorker(pid: pid), socketPath: connection.socketPath(root: root), json: json)
    }
}
