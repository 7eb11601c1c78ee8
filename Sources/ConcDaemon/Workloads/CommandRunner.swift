import CConcShims
import ConcProtocol
import ConcSystem
import Glibc
import NIOCore

/// Runs one command on the calling thread (a thread pool's parked thread) and waits for it: no
/// shell, standard input from /dev/null, standard output and error on two pipes of which the first
/// `outputBytes` each are kept and the rest counted. The command gets a process group of its own;
/// at its deadline the whole group is killed, and when the command itself ends, whatever it left
/// running in its group is killed too, so nothing it started outlives its task.
///
/// Not swift-subprocess: its runs are async and its output limit fails the run instead of keeping
/// the start and counting the rest, while this runs on a parked thread (the thread model's point).
package enum CommandRunner {
    /// How long output is still read after the command ended, for what its killed group left in the pipes.
    static let drainLimit: TimeAmount = .seconds(1)

    /// Runs `command`, bounded by `remaining` when it is given.
    package static func run(_ command: PreparedCommand, remaining: TimeAmount?) -> Result<TaskValue, WireError> {
        let started = NIODeadline.now()
        let deadline = remaining.map { started + $0 }
        guard let outPipe = Syscall.closeOnExecPipe() else { return .failure(systemFailure("pipe")) }
        guard let errPipe = Syscall.closeOnExecPipe() else {
            close(outPipe.read)
            close(outPipe.write)
            return .failure(systemFailure("pipe"))
        }
        let out = [outPipe.read, outPipe.write]
        let err = [errPipe.read, errPipe.write]
        var request = SpawnRequest(
            executable: command.executable, arguments: Array(command.argv.dropFirst()),
            environment: SpawnRequest.currentEnvironment(removing: WorkerSpawner.systemdVariables),
            placements: [.init(out[1], at: 1), .init(err[1], at: 2)], nullStandardInput: true, ownProcessGroup: true
        )
        request.argumentZero = command.argv.first
        let pid: pid_t
        do {
            pid = try request.spawn()
        } catch {
            for descriptor in out + err { close(descriptor) }
            let code: ErrorCode = error.code == .executableNotFound ? .notFound : error.code == .notExecutable ? .permissionDenied : .internal
            return .failure(WireError(code, "\(error)"))
        }
        close(out[1])
        close(err[1])
        var streams = [Stream(descriptor: out[0], keep: command.outputBytes), Stream(descriptor: err[0], keep: command.outputBytes)]
        defer { for stream in streams where stream.open { close(stream.descriptor) } }
        let exitWatch = concd_pidfd_open(pid)
        defer { if exitWatch >= 0 { close(exitWatch) } }

        var status: WaitStatus?
        var drainDeadline: NIODeadline?
        while status == nil || streams.contains(where: \.open) {
            let now = NIODeadline.now()
            if status == nil, let deadline, now >= deadline {
                // The group first: the leader, not yet reaped, keeps the group's id from being reused.
                kill(-pid, SIGKILL)
                _ = WaitStatus.wait(for: pid)
                return .failure(WireError(
                    .timeout,
                    "exec \(command.argv[0]) did not finish within its deadline; its process group was killed (SIGKILL)"
                ))
            }
            if let drainDeadline, now >= drainDeadline { break }
            // Without a pidfd (kernels before 5.3) the end is noticed by polling every 10 ms.
            var wake = status == nil ? deadline : drainDeadline
            if status == nil, exitWatch < 0 { wake = min(wake ?? now + .milliseconds(10), now + .milliseconds(10)) }
            let timeout = wake.map { Int32(clamping: max(0, ($0 - now).nanoseconds + 999_999) / 1_000_000) } ?? -1
            var watched = streams.map { pollfd(fd: $0.open ? $0.descriptor : -1, events: Int16(POLLIN), revents: 0) }
            watched.append(pollfd(fd: status == nil ? exitWatch : -1, events: Int16(POLLIN), revents: 0))
            let ready = Syscall.retryingEINTR { poll(&watched, nfds_t(watched.count), timeout) }
            guard ready >= 0 else {
                kill(-pid, SIGKILL)
                _ = WaitStatus.wait(for: pid)
                return .failure(systemFailure("poll"))
            }
            for index in streams.indices where streams[index].open && watched[index].revents != 0 {
                streams[index].read()
            }
            if status == nil, watched[2].revents != 0 || (exitWatch < 0 && WaitStatus.hasEnded(pid)) {
                kill(-pid, SIGKILL)
                status = WaitStatus.wait(for: pid)
                drainDeadline = NIODeadline.now() + drainLimit
            }
        }
        let elapsed = UInt64(max(0, (NIODeadline.now() - started).nanoseconds) / 1000)
        var exitCode: Int32?
        var signal: Int32?
        switch status {
        case .exited(let code)?: exitCode = code
        case .killed(let number)?: signal = number
        case nil: return .failure(WireError(.internal, "exec \(command.argv[0]) ended without a status"))
        }
        return .success(.command(CommandResult(
            exitCode: exitCode, signal: signal, stdout: streams[0].text, stderr: streams[1].text,
            stdoutDropped: streams[0].dropped, stderrDropped: streams[1].dropped, timeMicroseconds: elapsed
        )))
    }

    private static func systemFailure(_ call: String) -> WireError {
        WireError(.internal, "exec could not run: \(call) failed: \(Syscall.errnoDescription)")
    }

    /// One of the command's output pipes: what was kept, and how much more was read and thrown away.
    struct Stream {
        var descriptor: Int32
        var keep: Int
        var kept: [UInt8] = []
        var dropped: UInt64 = 0
        var open = true

        init(descriptor: Int32, keep: Int) {
            self.descriptor = descriptor
            self.keep = keep
        }

        /// Reads what one read returns; closes the pipe at its end.
        mutating func read() {
            var chunk = [UInt8](repeating: 0, count: 65_536)
            let descriptor = self.descriptor
            let count = chunk.withUnsafeMutableBytes { buffer in
                Syscall.retryingEINTR { Glibc.read(descriptor, buffer.baseAddress, buffer.count) }
            }
            guard count > 0 else {
                if count == 0 || errno != EAGAIN {
                    close(descriptor)
                    open = false
                }
                return
            }
            let room = max(0, keep - kept.count)
            kept.append(contentsOf: chunk[..<min(room, count)])
            dropped += UInt64(count - min(room, count))
        }

        /// What was kept, as text.
        var text: String { String(decoding: kept, as: UTF8.self) }
    }
}
