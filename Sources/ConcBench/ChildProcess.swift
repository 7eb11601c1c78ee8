import ConcSystem
import Glibc
import Synchronization

/// A child process of the harness or of a test (the echo peer, a private concd, the C loop, a
/// concctl under test), started through ConcSystem's `SpawnRequest` and reaped with waitpid.
/// Foundation's `Process` is not used: its exit monitoring missed children's exits in the
/// integration tests (a child stayed a zombie while `waitUntilExit` waited forever). Signal
/// dispositions and the mask are reset in the child, since a process that runs in-process
/// daemons (the test runner) leaves SIGTERM, SIGINT and SIGHUP trapped.
package final class ChildProcess: Sendable {
    /// The child's pid.
    package let pid: pid_t
    /// How it ended, once it has been reaped.
    private let status = Mutex<WaitStatus?>(nil)

    /// Starts `executable` (looked up in PATH when it has no slash) with `arguments`, the given
    /// environment (default: this process's), stdin/stdout/stderr on the given descriptors
    /// (default: /dev/null for stdin, inherited otherwise) and any further descriptors placed.
    package init(
        _ executable: String, _ arguments: [String], environment: [String: String]? = nil,
        stdout: Int32? = nil, stderr: Int32? = nil, stdin: Int32? = nil,
        placements: [SpawnRequest.Placement] = []
    ) throws(SpawnError) {
        var all = placements
        if let stdin { all.append(.init(stdin, at: 0)) }
        if let stdout { all.append(.init(stdout, at: 1)) }
        if let stderr { all.append(.init(stderr, at: 2)) }
        let request = SpawnRequest(
            executable: executable,
            arguments: arguments,
            environment: environment.map { $0.map { "\($0.key)=\($0.value)" } },
            placements: all,
            nullStandardInput: stdin == nil,
            searchesPath: !executable.contains("/")
        )
        pid = try request.spawn()
    }

    /// Whether the child has not exited yet.
    package var isRunning: Bool {
        status.withLock { status in
            if status != nil { return false }
            status = WaitStatus.poll(pid)
            return status == nil
        }
    }

    /// Waits for the child to exit; returns its exit status (128 + signal when a signal ended it).
    @discardableResult
    package func wait() -> Int32 {
        status.withLock { status in
            // Only this object reaps its child, so nil (not a child) cannot happen; 255 if it did.
            let ended = status ?? WaitStatus.wait(for: pid) ?? .exited(255)
            status = ended
            return ended.shellStatus
        }
    }

    /// Waits up to `seconds` for the child to exit; nil if it is still running.
    package func wait(seconds: Double) -> Int32? {
        let deadline = monotonicNanoseconds() + UInt64(seconds * 1e9)
        while isRunning {
            if monotonicNanoseconds() > deadline { return nil }
            usleep(10_000)
        }
        return wait()
    }

    /// SIGTERM, then SIGKILL after `grace` seconds; returns the exit status.
    @discardableResult
    package func stop(grace: Double = 20) -> Int32 {
        if isRunning {
            kill(pid, SIGTERM)
            if wait(seconds: grace) == nil { kill(pid, SIGKILL) }
        }
        return wait()
    }

    /// Runs a command to completion and returns what it printed on stdout.
    package static func output(_ arguments: [String]) throws -> (status: Int32, stdout: String) {
        try outputs([arguments])[0]
    }

    /// Starts every command at once, runs them to completion and returns what each printed on
    /// stdout (meant for short outputs: the pipes are read one after another).
    package static func outputs(_ commands: [[String]]) throws -> [(status: Int32, stdout: String)] {
        var started: [(child: ChildProcess, pipe: Int32)] = []
        defer { for (child, pipe) in started { close(pipe); child.wait() } }
        for arguments in commands {
            var pipe: [Int32] = [-1, -1]
            guard Glibc.pipe(&pipe) == 0 else { throw BenchError("pipe failed: \(Syscall.errnoDescription)") }
            // Close-on-exec on both ends, so that no other child inherits them and keeps a pipe open.
            _ = fcntl(pipe[0], F_SETFD, FD_CLOEXEC)
            _ = fcntl(pipe[1], F_SETFD, FD_CLOEXEC)
            defer { close(pipe[1]) }
            do {
                started.append((try ChildProcess(arguments[0], Array(arguments.dropFirst()), stdout: pipe[1]), pipe[0]))
            } catch {
                close(pipe[0])
                throw error
            }
        }
        return started.map { child, pipe in
            // Read to the end first: a child blocked on a full pipe would never exit.
            let text = readAll(pipe)
            return (child.wait(), text)
        }
    }
}

/// Everything `descriptor` gives until end of file, as UTF-8 text.
package func readAll(_ descriptor: Int32) -> String {
    var data = [UInt8]()
    var buffer = [UInt8](repeating: 0, count: 65_536)
    while true {
        let count = Syscall.retryingEINTR { read(descriptor, &buffer, buffer.count) }
        guard count > 0 else { break }
        data.append(contentsOf: buffer[..<count])
    }
    return String(decoding: data, as: UTF8.self)
}
