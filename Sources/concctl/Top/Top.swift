import ArgumentParser
import ConcClient
import ConcProtocol
import Foundation
import Synchronization

struct Top: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "A live view of the pools: size, busy, idle, queued, tasks/s, p50/p99, failures.",
        discussion: """
            On a terminal the view is redrawn every --interval seconds until q,
            Ctrl-C or SIGTERM, and the terminal is restored however top ends.
            When stdout is not a terminal, top prints one snapshot and exits.
            Tasks/s, p50 and p99 are the daemon's figures for the tasks that
            finished in its last 5 seconds (wall time, queueing included).

            Examples:
              concctl top
              concctl top --interval 0.5
              concctl top | cat          # one snapshot
            """
    )

    @ParentCommand var root: Concctl
    @OptionGroup var connection: ConnectionOptions
    private var socketPath: String { connection.socketPath(root: root) }

    @Option(help: "Seconds between refreshes, 0.1...60.")
    var interval: Double = 1

    func validate() throws {
        guard (0.1...60).contains(interval) else { throw ValidationError("--interval must be 0.1...60 seconds, got \(interval)") }
    }

    func run() async throws {
        let client: ConcClient
        do {
            client = try await ConcClient.connect(socketPath: socketPath)
        } catch {
            throw fail(error)
        }
        if Terminal.isTerminal(STDOUT_FILENO) {
            try await live(client)
        } else {
            let status: DaemonStatus
            do { status = try await client.status() } catch { throw fail(error) }
            // Written at once, not through stdio's block buffer: a pipe sees the snapshot before top exits.
            Terminal.write(TopView.lines(status, interval: interval, interactive: false).joined(separator: "\n") + "\n")
        }
        await client.close()
    }

    /// Redraws until asked to stop; the terminal is restored on every way out.
    private func live(_ client: ConcClient) async throws {
        let stop = StopSignal()
        stop.watchSignals()
        stop.watchKeys()
        let terminal = Terminal()
        defer { terminal.restore() }
        while !stop.isSet {
            let status: DaemonStatus
            do {
                status = try await client.status()
            } catch {
                terminal.restore()
                throw fail(error)
            }
            terminal.draw(TopView.lines(status, interval: interval, interactive: true))
            let deadline = ContinuousClock.now + .milliseconds(Int(interval * 1000))
            while !stop.isSet && ContinuousClock.now < deadline {
                try? await Task.sleep(for: .milliseconds(20))
            }
        }
    }
}

/// Set from the SIGINT and SIGTERM handlers; an atomic store is async-signal-safe.
private let stopRequestedBySignal = Atomic(false)

/// Set by q on stdin, by SIGINT or SIGTERM, or by the end of stdin; top polls it between frames.
final class StopSignal: Sendable {
    private let flag = Atomic(false)

    var isSet: Bool { flag.load(ordering: .relaxed) || stopRequestedBySignal.load(ordering: .relaxed) }

    func set() { flag.store(true, ordering: .relaxed) }

    /// Turns SIGINT and SIGTERM into a request to stop, so that the terminal is restored before exiting.
    func watchSignals() {
        for signalNumber in [SIGINT, SIGTERM] {
            signal(signalNumber) { _ in stopRequestedBySignal.store(true, ordering: .relaxed) }
        }
    }

    /// Reads stdin on a thread of its own (a blocking read must not hold a cooperative thread):
    /// q, Q or Ctrl-D stop top; other keys are ignored.
    func watchKeys() {
        guard isatty(STDIN_FILENO) == 1 else { return }
        let thread = Thread { [self] in
            var byte: UInt8 = 0
            while !isSet {
                var descriptor = pollfd(fd: STDIN_FILENO, events: Int16(POLLIN), revents: 0)
                let ready = poll(&descriptor, 1, 100)
                guard ready > 0 else { continue }
                let count = read(STDIN_FILENO, &byte, 1)
                if count == 0 || (count < 0 && errno != EINTR && errno != EAGAIN) || byte == UInt8(ascii: "q")
                    || byte == UInt8(ascii: "Q") || byte == 4
                {
                    set()
                }
            }
        }
        thread.name = "concctl-top-keys"
        thread.start()
    }
}
