import ConcBench
import ConcSystem
import Foundation
import Testing

/// Where the built binaries are: beside the test binary.
let binaryDirectory: String = {
    URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().deletingLastPathComponent().path
}()

/// The built `concd`, started by a test with its own socket, notify socket and log file in a
/// temporary directory (ConcBench's `PrivateDaemon`, which `concctl bench` uses too).
final class ConcdProcess: Sendable {
    let daemon: PrivateDaemon
    var directory: String { daemon.directory }
    var socketPath: String { daemon.socketPath }
    var logPath: String { daemon.logPath }
    var process: ChildProcess { daemon.process }
    var notifications: NotifySocket { daemon.notifications }

    /// Starts concd and waits for READY=1 on the notify socket.
    init(arguments: [String] = [], environment extra: [String: String] = [:]) throws {
        var template = Array("/tmp/concd-it-XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else { throw POSIXError(.EIO) }
        let directory = String(cString: made)
        do {
            daemon = try PrivateDaemon(
                executable: binaryDirectory + "/concd", directory: directory, arguments: arguments,
                environment: ProcessInfo.processInfo.environment.merging(extra) { $1 }
            )
        } catch {
            try? FileManager.default.removeItem(atPath: directory)
            throw error
        }
    }

    /// A test's daemon that did not get where the test needed it.
    struct StartFailure: Error, CustomStringConvertible {
        var description: String
    }

    /// What concd wrote to stdout and stderr.
    var log: String { daemon.log }

    /// SIGTERM, then SIGKILL after `grace` seconds; returns the exit status.
    @discardableResult
    func stop(grace: Double = 20) -> Int32 {
        daemon.stop(grace: grace)
    }

    /// Waits up to `seconds` for the daemon to exit by itself; nil if it is still running.
    func waitForExit(seconds: Double) -> Int32? {
        process.wait(seconds: seconds)
    }

    deinit {
        if process.isRunning {
            kill(process.pid, SIGKILL)
            process.wait()
        }
        notifications.close()
        try? FileManager.default.removeItem(atPath: directory)
    }

    /// The daemon's pid.
    var pid: Int32 { process.pid }

    /// Runs concctl against this daemon.
    func concctl(_ arguments: String...) throws -> CommandResult {
        try runCommand(binaryDirectory + "/concctl", ["--socket", socketPath] + arguments)
    }
}

/// What a command printed and how it exited.
struct CommandResult {
    var status: Int32
    var stdout: String
    var stderr: String
}

/// Runs a binary to completion; one still running after `timeout` seconds is killed, so a hung
/// daemon fails its test instead of stalling the whole run.
func runCommand(
    _ executable: String, _ arguments: [String], environment: [String: String]? = nil, timeout: Double = 120
) throws -> CommandResult {
    var out: [Int32] = [-1, -1]
    var err: [Int32] = [-1, -1]
    guard pipe(&out) == 0, pipe(&err) == 0 else { throw POSIXError(.EMFILE) }
    // Only the child's copies (dup2'd onto 1 and 2) may stay open across exec.
    for descriptor in out + err { _ = fcntl(descriptor, F_SETFD, FD_CLOEXEC) }
    let child: ChildProcess
    do {
        child = try ChildProcess(executable, arguments, environment: environment, stdout: out[1], stderr: err[1])
    } catch {
        [out[0], out[1], err[0], err[1]].forEach { close($0) }
        throw error
    }
    close(out[1])
    close(err[1])
    let pid = child.pid
    DispatchQueue.global().asyncAfter(deadline: .now() + timeout) {
        if child.isRunning { kill(pid, SIGKILL) }
    }
    // Both pipes are drained together so that a full one cannot stall the child.
    let stderrDescriptor = err[0]
    let stderrReader = Thread.detachedResult { readAll(stderrDescriptor) }
    let stdout = readAll(out[0])
    let stderr = stderrReader.value
    close(out[0])
    close(err[0])
    return CommandResult(status: child.wait(), stdout: stdout, stderr: stderr)
}

/// A raw connection to the control socket, for sending what ConcClient never would.
final class RawConnection {
    private let descriptor: Int32
    private var pending: [UInt8] = []

    init(path: String) throws {
        let address = try UnixSocketAddress(path: path)
        descriptor = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard address.withSockAddr({ connect(descriptor, $0, $1) }) == 0 else {
            let error = POSIXError(POSIXErrorCode(rawValue: errno) ?? .ECONNREFUSED)
            Glibc.close(descriptor)
            throw error
        }
    }

    deinit { Glibc.close(descriptor) }

    func send(_ text: String) {
        send(Array(text.utf8))
    }

    func send(_ bytes: [UInt8]) {
        var offset = 0
        while offset < bytes.count {
            let sent = bytes[offset...].withUnsafeBytes { Glibc.send(descriptor, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if sent <= 0 { return }
            offset += sent
        }
    }

    /// Sends `bytes` from a thread of its own, so that the caller can read the replies meanwhile:
    /// concd stops reading a client that leaves more than `connections.send_buffer_kib` of replies
    /// unread, so a client that writes a flood before it reads anything would wait forever.
    /// Signals the returned semaphore when all is sent.
    func sendInBackground(_ bytes: [UInt8]) -> DispatchSemaphore {
        let descriptor = descriptor
        let sent = DispatchSemaphore(value: 0)
        let writer = Thread {
            var offset = 0
            while offset < bytes.count {
                let count = bytes[offset...].withUnsafeBytes { Glibc.send(descriptor, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
                if count <= 0 { break }
                offset += count
            }
            sent.signal()
        }
        writer.start()
        return sent
    }

    /// The next line, or nil when the daemon closed the connection or `seconds` passed.
    func readLine(seconds: Double = 10) -> String? {
        let deadline = Date().addingTimeInterval(seconds)
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            if let newline = pending.firstIndex(of: UInt8(ascii: "\n")) {
                let line = String(decoding: pending[..<newline], as: UTF8.self)
                pending.removeSubrange(...newline)
                return line
            }
            let left = Int32(max(0, deadline.timeIntervalSinceNow * 1000))
            var descriptorSet = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
            guard poll(&descriptorSet, 1, left) > 0 else { return nil }
            let count = recv(descriptor, &buffer, buffer.count, 0)
            guard count > 0 else { return nil }
            pending.append(contentsOf: buffer[..<count])
        }
    }

    /// Whether the daemon has closed its side (reads EOF within `seconds`).
    func isClosedByPeer(seconds: Double = 10) -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        var buffer = [UInt8](repeating: 0, count: 65536)
        while Date() < deadline {
            var descriptorSet = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
            guard poll(&descriptorSet, 1, 100) > 0 else { continue }
            let count = recv(descriptor, &buffer, buffer.count, 0)
            if count == 0 || (count < 0 && errno == ECONNRESET) { return true }
        }
        return false
    }
}

/// Decodes a JSON line into a dictionary.
func json(_ line: String?) -> [String: Any]? {
    guard let line, let data = line.data(using: .utf8) else { return nil }
    return (try? JSONSerialization.jsonObject(with: data)) as? [String: Any]
}

func errorCode(_ line: String?) -> String? {
    (json(line)?["error"] as? [String: Any])?["code"] as? String
}
