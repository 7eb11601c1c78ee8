import Foundation

/// A concd started by `concctl bench` on its own socket, with a notify socket that times exec → READY=1.
final class PrivateDaemon {
    let socketPath: String
    let readyMilliseconds: Double
    private let process: Spawned

    init(executable: String, directory: String) throws {
        socketPath = directory + "/concd.sock"
        let notifyPath = directory + "/notify.sock"
        let notify = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        defer { close(notify) }
        let bound = withUnixSocketAddress(notifyPath) { bind(notify, $0, $1) }
        guard bound == 0 else { throw BenchError("cannot bind a notify socket in \(directory)") }
        let log = open(directory + "/concd.log", O_WRONLY | O_CREAT | O_CLOEXEC, 0o644)
        defer { close(log) }
        let start = monotonicNanoseconds()
        process = try Spawned(
            [executable, "--socket", socketPath, "--log-target", "stderr"],
            environment: ["NOTIFY_SOCKET": notifyPath],
            descriptors: [(log, 2)]
        )
        var buffer = [UInt8](repeating: 0, count: 4096)
        let deadline = start + 30_000_000_000
        var ready: UInt64?
        while ready == nil && monotonicNanoseconds() < deadline {
            var descriptor = pollfd(fd: notify, events: Int16(POLLIN), revents: 0)
            guard poll(&descriptor, 1, 100) > 0 else { continue }
            let count = recv(notify, &buffer, buffer.count, 0)
            if count > 0, String(decoding: buffer[..<count], as: UTF8.self).split(separator: "\n").contains("READY=1") {
                ready = monotonicNanoseconds()
            }
        }
        guard let ready else {
            process.stop()
            let log = (try? String(contentsOfFile: directory + "/concd.log", encoding: .utf8)) ?? ""
            throw BenchError("concd did not become ready within 30 s; its log:\n\(log)")
        }
        readyMilliseconds = (Double(ready - start) / 1e4).rounded() / 100
    }

    /// Resident memory of the daemon and its workers, in MB: RSS (`VmRSS`), which counts every
    /// shared page in each process that maps it, and PSS (`Pss` of smaps_rollup), which splits a
    /// shared page among the processes that map it, so the sum is what the group really costs.
    func memoryMegabytes(workerPIDs: [Int32]) -> (rss: Double, pss: Double, anonymous: Double) {
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

    func stop() {
        process.stop()
    }
}
