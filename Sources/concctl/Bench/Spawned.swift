import Foundation

/// A child process of `concctl bench` (the echo peer, a private concd, the C loop), started with
/// posix_spawnp and reaped with waitpid.
final class Spawned {
    let pid: pid_t
    private var exitStatus: Int32?

    /// Starts `arguments[0]` (searched in PATH when it has no slash) with `environment` added to
    /// this process's, and the given descriptors placed at the given numbers in the child.
    init(_ arguments: [String], environment extra: [String: String] = [:], descriptors: [(Int32, Int32)] = []) throws {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        for (source, target) in descriptors { posix_spawn_file_actions_adddup2(&actions, source, target) }
        let environment = ProcessInfo.processInfo.environment.merging(extra) { $1 }
        let argv = arguments.map { strdup($0) } + [nil]
        let envp = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            argv.forEach { free($0) }
            envp.forEach { free($0) }
        }
        var pid: pid_t = 0
        let result = posix_spawnp(&pid, arguments[0], &actions, nil, argv, envp)
        guard result == 0 else {
            throw BenchError("cannot start \(arguments[0]): \(String(cString: strerror(result)))")
        }
        self.pid = pid
    }

    /// Waits for the child; returns its exit status (128 + signal when a signal ended it).
    @discardableResult
    func wait() -> Int32 {
        if let exitStatus { return exitStatus }
        var raw: Int32 = 0
        while waitpid(pid, &raw, 0) == -1 && errno == EINTR {}
        let signal = raw & 0x7f
        let status = signal == 0 ? (raw >> 8) & 0xff : 128 + signal
        exitStatus = status
        return status
    }

    /// SIGTERM, then waits.
    func stop() {
        if exitStatus == nil { kill(pid, SIGTERM) }
        wait()
    }

    /// Runs a command to completion and returns what it printed on stdout.
    static func output(_ arguments: [String]) throws -> (status: Int32, stdout: String) {
        try outputs([arguments])[0]
    }

    /// Starts every command at once, runs them to completion and returns what each printed on
    /// stdout (meant for short outputs: the pipes are read one after another).
    static func outputs(_ commands: [[String]]) throws -> [(status: Int32, stdout: String)] {
        var started: [(child: Spawned, pipe: Int32)] = []
        defer { for (child, pipe) in started { close(pipe); child.wait() } }
        for arguments in commands {
            var pipe: [Int32] = [-1, -1]
            guard Glibc.pipe(&pipe) == 0 else { throw BenchError("pipe failed") }
            // Close-on-exec on both ends, so that no other child inherits them and keeps a pipe open.
            _ = fcntl(pipe[0], F_SETFD, FD_CLOEXEC)
            _ = fcntl(pipe[1], F_SETFD, FD_CLOEXEC)
            defer { close(pipe[1]) }
            do {
                started.append((try Spawned(arguments, descriptors: [(pipe[1], 1)]), pipe[0]))
            } catch {
                close(pipe[0])
                throw error
            }
        }
        return started.map { child, pipe in
            var data = [UInt8]()
            var buffer = [UInt8](repeating: 0, count: 4096)
            while true {
                let count = read(pipe, &buffer, buffer.count)
                if count > 0 { data.append(contentsOf: buffer[..<count]) } else if count == 0 || errno != EINTR { break }
            }
            return (child.wait(), String(decoding: data, as: UTF8.self))
        }
    }
}

/// A benchmark that could not run, with a sentence saying why.
struct BenchError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// Monotonic nanoseconds.
func monotonicNanoseconds() -> UInt64 {
    var now = timespec()
    clock_gettime(CLOCK_MONOTONIC, &now)
    return UInt64(now.tv_sec) * 1_000_000_000 + UInt64(now.tv_nsec)
}

/// The p-th percentile (0...100) of unsorted samples.
func percentile(_ samples: [UInt64], _ p: Double) -> UInt64 {
    guard !samples.isEmpty else { return 0 }
    let sorted = samples.sorted()
    let index = min(sorted.count - 1, Int((p / 100 * Double(sorted.count)).rounded(.up)) - 1)
    return sorted[max(0, index)]
}
