import ArgumentParser
import ConcClient
import ConcProtocol
import Foundation

struct Status: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show the daemon's pools: size, busy, idle, queued, completed, failed.",
        discussion: """
            A daemon with a queue (fleet mode) adds a queue section: whether
            its database connection works (or why not), this host's name and
            the pools that take jobs, the fleet's jobs per state, this host's
            counters (running, claimed, completed, fenced: completions refused
            because the lease had passed on, rescued: jobs taken back from
            hosts whose leases ran out), and each host's heartbeat age, free
            slots and running jobs.

            Example:
              concctl status
              concctl status --json | jq '.pools[] | select(.kind == "process").workers'
            """
    )

    @ParentCommand var root: Concctl
    @OptionGroup var connection: ConnectionOptions
    private var socketPath: String { connection.socketPath(root: root) }

    @Flag(help: "Print the status as JSON (fields in docs/protocol.md).")
    var json = false

    func run() async throws {
        let status: DaemonStatus
        do {
            let client = try await ConcClient.connect(socketPath: socketPath)
            status = try await client.status()
            await client.close()
        } catch {
            throw fail(error)
        }
        if json {
            print(String(decoding: try JSONEncoder.concctl.encode(status), as: UTF8.self))
            return
        }
        print("concd \(status.version), pid \(status.pid), up \(Format.duration(seconds: status.uptimeSeconds)), socket \(status.socket)")
        let header = ["POOL", "MODEL", "SIZE", "BUSY", "IDLE", "QUEUED", "COMPLETED", "FAILED"]
        let rows = status.pools.map { pool in
            [pool.kind.rawValue, pool.resolvedModel?.rawValue ?? "-", pool.sizeText, "\(pool.busy)", "\(pool.idle)", "\(pool.queued)", "\(pool.completed)", "\(pool.failed)"]
        }
        print(Format.table([header] + rows))
        if status.pools.contains(where: { $0.bounds != nil }) {
            print("SIZE (MIN-MAX): an elastic pool grows to MAX while work waits and retires idle workers down to MIN")
        }
        for pool in status.pools {
            guard let workers = pool.workers, !workers.isEmpty else { continue }
            let described = workers.map { worker in
                "\(worker.name) pid \(worker.pid.map(String.init) ?? "-")\(worker.busy ? " busy" : "") \(worker.tasks) tasks"
            }
            print("\(pool.kind) workers: " + described.joined(separator: ", "))
        }
        if let queue = status.queue {
            print(QueueView.lines(queue).joined(separator: "\n"))
        }
    }
}

struct Ping: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Round-trip a no-op through the daemon.",
        discussion: """
            Example:
              concctl ping && echo concd is up
            """
    )

    @ParentCommand var root: Concctl
    @OptionGroup var connection: ConnectionOptions
    private var socketPath: String { connection.socketPath(root: root) }

    func run() async throws {
        let started = ContinuousClock.now
        do {
            let client = try await ConcClient.connect(socketPath: socketPath)
            let version = try await client.ping()
            await client.close()
            print("pong from \(socketPath) (protocol \(version)) in \(Format.duration(started.duration(to: .now)))")
        } catch {
            throw fail(error)
        }
    }
}

extension JSONEncoder {
    static var concctl: JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }
}
