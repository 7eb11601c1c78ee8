import Foundation

/// A concd started on a socket of its own in `directory`, with a notify socket that tells when it
/// is ready (READY=1) and times exec → READY=1, and stdout and stderr in `directory/concd.log`.
/// `concctl bench` measures one; the integration tests drive one each.
package final class PrivateDaemon: Sendable {
    /// The directory holding the socket, the notify socket and the log.
    package let directory: String
    /// The control socket.
    package let socketPath: String
    /// The log file (stdout and stderr).
    package let logPath: String
    /// The daemon process.
    package let process: ChildProcess
    /// Every notification it sent.
    package let notifications: NotifySocket
    /// Milliseconds from spawning it to its READY=1, to 0.01 ms.
    package let readyMilliseconds: Double

    /// Starts `executable --socket directory/concd.sock` with `arguments` after, the given
    /// environment (default: this process's) less `CONCD_SOCKET` plus `NOTIFY_SOCKET`, and waits up
    /// to `timeout` seconds for READY=1. If it exits or the time passes first, it is stopped and
    /// the error carries its log.
    package init(
        executable: String, directory: String, arguments: [String] = [], environment: [String: String]? = nil,
        timeout: Double = 60
    ) throws {
        self.directory = directory
        socketPath = directory + "/concd.sock"
        logPath = directory + "/concd.log"
        let notifications = try NotifySocket(path: directory + "/notify.sock")
        let log = open(logPath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard log >= 0 else {
            notifications.close()
            throw BenchError("cannot create \(logPath): \(String(cString: strerror(errno)))")
        }
        defer { close(log) }
        var variables = environment ?? ProcessInfo.processInfo.environment
        variables["NOTIFY_SOCKET"] = notifications.path
        variables.removeValue(forKey: "CONCD_SOCKET")
        let start = monotonicNanoseconds()
        let process: ChildProcess
        do {
            process = try ChildProcess(
                executable, ["--socket", socketPath] + arguments, environment: variables, stdout: log, stderr: log
            )
        } catch {
            notifications.close()
            throw error
        }
        let ready = notifications.waitFor(seconds: timeout, afterIndex: 0, giveUp: { !process.isRunning }) {
            $0.split(separator: "\n").contains("READY=1")
        }
        let readyAt = monotonicNanoseconds()
        guard ready else {
            let exitedByItself = !process.isRunning
            let status = process.stop()
            let text = (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? ""
            notifications.close()
            let what = exitedByItself
                ? "concd exited with status \(status) before sending READY=1"
                : "concd did not send READY=1 within \(Int(timeout)) s"
            throw BenchError("\(what); its log:\n\(text)")
        }
        self.process = process
        self.notifications = notifications
        readyMilliseconds = (Double(readyAt - start) / 1e4).rounded() / 100
    }

    /// The daemon's pid.
    package var pid: Int32 { process.pid }

    /// What concd wrote to stdout and stderr.
    package var log: String {
        (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? ""
    }

    /// SIGTERM, then SIGKILL after `grace` seconds; returns the exit status.
    @discardableResult
    package func stop(grace: Double = 20) -> Int32 {
        process.stop(grace: grace)
    }

    /// Resident memory of the daemon and its workers, in MB: RSS (`VmRSS`), which counts every
    /// shared page in each process that maps it, and PSS (`Pss` of smaps_rollup), which splits a
    /// shared page among the processes that map it, so the sum is what the group really costs.
    package func memoryMegabytes(workerPIDs: [Int32]) -> (rss: Double, pss: Double, anonymous: Double) {
        func kilobytes(_ file: String, _ field: String) -> Int {
            let text = (try? String(contentsOfFile: file, encoding: .utf8)) ?? ""
            let line = text.split(separator: "\n").first { $0.hasPrefix(field) } ?? ""
            return Int(line.split(separator: " ").dropFirst().first ?? "") ?? 0
        }
        let pids = [process.pid] + workerPIDs
        let rss = pids.reduce(0) { $0 + kilobytes("/proc/\($1)/status", "VmRSS:") }
        let pss = pids.reduce(0) { $0 + kilobytes("/proc/\($1)/smaps_rollup", "Pss:") }
        let anonymous = pids.reduce(0) { $0 + kilobytes("/proc/\($1)/status", "RssAnon:") }
        func megabytes(_ kilobytes: Int) -> Double { (Double(kilobytes) / 1024 * 10).rounded() / 10 }
        return (megabytes(rss), megabytes(pss), megabytes(anonymous))
    }
}
