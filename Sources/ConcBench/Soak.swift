import Foundation

/// One hostile client against a fresh concd while a well-behaved client keeps submitting: the
/// daemon's memory, the good client's answers and round trips, and what the daemon logged.
/// `concctl bench-soak` runs every kind for 60 s (docs/reliability.md); the hostile-client tests
/// run each for a few seconds and check the same figures.
package struct Soak: Sendable {
    /// The concd to start.
    package var executable: String
    /// Seconds the well-behaved client runs alone first (its p50 without the attack).
    package var quietSeconds: Double
    /// Seconds the attack lasts.
    package var attackSeconds: Double
    /// `connections.stall_timeout` and `metrics.idle_timeout` for the daemon: short, so that a
    /// run sees the daemon give up on connections, and how often it logs it.
    package var giveUpSeconds: Double
    /// Where the daemons' directories go (each kind gets one).
    package var directory: String

    package init(executable: String, quietSeconds: Double, attackSeconds: Double, giveUpSeconds: Double, directory: String) {
        self.executable = executable
        self.quietSeconds = quietSeconds
        self.attackSeconds = attackSeconds
        self.giveUpSeconds = giveUpSeconds
        self.directory = directory
    }

    /// What one kind did to the daemon.
    package struct Result: Sendable {
        package var kind: HostileKind
        /// The daemon's RSS (KiB) after the quiet phase, the most during the attack, and the last
        /// sample of the recovery.
        package var idleKiB = 0
        package var peakKiB = 0
        package var afterKiB = 0
        /// Seconds after the attack until RSS was within 8 MiB of idle; nil if not within 5 s.
        package var recoverySeconds: Double?
        /// The well-behaved client alone before the attack, under attack, and alone again after it.
        package var quiet = WellBehavedClient.Outcome()
        package var attacked = WellBehavedClient.Outcome()
        package var quietAfter = WellBehavedClient.Outcome()
        /// What the hostile client did and met.
        package var hostile = HostileReport()
        /// Log lines about giving up on, refusing or rejecting a connection, written during the attack.
        package var giveUpLines: [String] = []
        /// The daemon's CPU time during the attack, as a share of one core.
        package var daemonCores = 0.0
        /// Whether the daemon was still running at the end.
        package var daemonAlive = true
        /// The daemon's log, for a test that fails.
        package var log = ""

        /// Peak RSS above idle, in MiB.
        package var growthMiB: Double { Double(peakKiB - idleKiB) / 1024 }
        /// The good client's p50 alone: the lower of before and after the attack, since a short
        /// phase on a shared 2-core machine is sometimes slow for reasons of its own, and the higher
        /// one would flatter the ratio.
        package var p50AloneMicroseconds: Double {
            [quiet, quietAfter].map(\.p50Microseconds).filter { $0 > 0 }.min() ?? 0
        }
        /// The good client's p50 under attack over its p50 alone.
        package var p50Ratio: Double {
            p50AloneMicroseconds > 0 ? attacked.p50Microseconds / p50AloneMicroseconds : 0
        }
    }

    /// The log lines that say the daemon gave up on, refused or rejected a client.
    static let giveUpMarkers = [
        "disconnecting a client", "refused a metrics request", "refusing metrics connections",
        "closing an idle metrics connection", "rejected a request", "oversized frame", "sent rejected requests closed",
        "(counted, not each logged)", "refusing connections from a peer", "admitting a peer again", "rejected requests in a row",
    ]

    /// How many events the lines stand for: one each, or a throttle's `count=N` for a line that
    /// counts what it did not write one by one.
    package static func events(in lines: [String], matching marker: String? = nil) -> Int {
        lines.reduce(0) { total, line in
            guard marker.map({ line.contains($0) }) ?? true else { return total }
            guard line.contains("(counted, not each logged)"),
                let range = line.range(of: "count="),
                let count = Int(line[range.upperBound...].prefix { $0.isNumber })
            else { return total + 1 }
            return total + count
        }
    }

    /// Runs `kind` against a daemon of its own and stops the daemon.
    package func run(_ kind: HostileKind) throws -> Result {
        raiseOpenFileLimit()
        let own = directory + "/" + kind.rawValue
        try FileManager.default.createDirectory(atPath: own, withIntermediateDirectories: true)
        let configuration = own + "/concd.yaml"
        try """
            connections:
              stall_timeout: \(giveUpSeconds)
            metrics:
              idle_timeout: \(giveUpSeconds)
            """.write(toFile: configuration, atomically: true, encoding: .utf8)
        let port = try freeLoopbackPort()
        let daemon = try PrivateDaemon(
            executable: executable, directory: own,
            arguments: [
                "--config", configuration, "--process-workers", "1", "--threads", "2",
                "--metrics-listen", "127.0.0.1:\(port)", "--log-target", "stderr",
            ]
        )
        defer { daemon.stop() }
        var result = Result(kind: kind)
        // The first second after READY=1 is the daemon's own settling (workers' first tasks, page faults).
        Thread.sleep(forTimeInterval: 1)

        let quiet = WellBehavedClient(socketPath: daemon.socketPath)
        Thread.sleep(forTimeInterval: quietSeconds)
        result.quiet = quiet.stop()
        result.idleKiB = residentKiB(of: daemon.pid)

        let logBefore = (try? FileManager.default.attributesOfItem(atPath: daemon.logPath)[.size] as? Int) ?? 0
        let attacked = WellBehavedClient(socketPath: daemon.socketPath)
        let hostile = HostileClient(kind, target: HostileTarget(socketPath: daemon.socketPath, metricsPort: port))
        let cpuBefore = cpuTicks(of: daemon.pid)
        let attackStart = monotonicNanoseconds()
        let end = attackStart + UInt64(attackSeconds * 1e9)
        var peak = result.idleKiB
        while monotonicNanoseconds() < end {
            peak = max(peak, residentKiB(of: daemon.pid))
            Thread.sleep(forTimeInterval: 0.1)
        }
        result.daemonCores = Double(cpuTicks(of: daemon.pid) - cpuBefore) / Double(sysconf(Int32(_SC_CLK_TCK)))
            / (Double(monotonicNanoseconds() - attackStart) / 1e9)
        result.hostile = hostile.stop()
        result.attacked = attacked.stop()
        result.peakKiB = max(peak, residentKiB(of: daemon.pid))

        let stopped = monotonicNanoseconds()
        var now = residentKiB(of: daemon.pid)
        while monotonicNanoseconds() - stopped < 5_000_000_000 {
            now = residentKiB(of: daemon.pid)
            if now <= result.idleKiB + 8 * 1024 {
                result.recoverySeconds = Double(monotonicNanoseconds() - stopped) / 1e9
                break
            }
            Thread.sleep(forTimeInterval: 0.1)
        }
        result.afterKiB = now
        // The attacker is a thread of this process, so the daemon counts its vanished connections
        // against this pid (`connections.vanishing_per_second`, 20 a second): it admits the pid
        // again once the attacker has been gone for 1/20 s.
        Thread.sleep(forTimeInterval: 0.2)
        let quietAfter = WellBehavedClient(socketPath: daemon.socketPath)
        Thread.sleep(forTimeInterval: quietSeconds)
        result.quietAfter = quietAfter.stop()
        result.daemonAlive = daemon.process.isRunning
        // The lines written when the attacker's last connections closed, and the count of the last
        // second's events that the daemon's log throttle held back (written within 2 s).
        Thread.sleep(forTimeInterval: max(0, 2.5 - quietSeconds))
        let log = daemon.log
        result.log = log
        result.giveUpLines = String(log.utf8.dropFirst(logBefore))
            .map { $0.split(separator: "\n").map(String.init).filter { line in Self.giveUpMarkers.contains { line.contains($0) } } }
            ?? []
        return result
    }

    /// Whether a result meets docs/reliability.md's targets: RSS within idle + 32 MiB during the
    /// attack and back within 8 MiB of idle in 5 s, no wrong answer, the daemon alive, and (when
    /// `timed`) the good client's p50 within 3× of its p50 alone. Returns what was missed.
    package static func missedTargets(_ result: Result, timed: Bool) -> [String] {
        var missed: [String] = []
        if !result.daemonAlive { missed.append("concd died") }
        if result.growthMiB > 32 { missed.append("RSS grew by \(String(format: "%.1f", result.growthMiB)) MiB (> 32)") }
        if result.recoverySeconds == nil {
            missed.append("RSS \(result.afterKiB / 1024) MiB 5 s after the attack, idle \(result.idleKiB / 1024) MiB")
        }
        if result.attacked.wrong > 0 { missed.append("\(result.attacked.wrong) wrong answers: \(result.attacked.firstWrong)") }
        if let failure = result.attacked.failure ?? result.quiet.failure ?? result.quietAfter.failure { missed.append("the good client failed: \(failure)") }
        if result.attacked.samples.isEmpty { missed.append("the good client got no answer during the attack") }
        if timed && result.p50Ratio > 3 { missed.append("p50 \(String(format: "%.2f", result.p50Ratio))× (> 3×)") }
        return missed
    }

    /// A table of results, one row per kind, as docs/reliability.md shows it.
    package static func table(_ results: [Result]) -> String {
        var lines = [
            "| attack | idle RSS | peak (+MiB) | back within 8 MiB | concd CPU | good p50 alone (lower of before, after) | under attack | ratio | wrong | concd gave up on / events logged (lines) | hostile client |",
            "|---|---|---|---|---|---|---|---|---|---|---|",
        ]
        for result in results {
            let recovery = result.recoverySeconds.map { String(format: "%.1f s", $0) } ?? "no (\(result.afterKiB / 1024) MiB)"
            lines.append(
                "| \(result.kind.rawValue) | \(result.idleKiB / 1024) MiB | \(String(format: "+%.1f", result.growthMiB)) | \(recovery) | \(String(format: "%.0f %%", result.daemonCores * 100)) "
                    + "| \(String(format: "%.0f µs", result.p50AloneMicroseconds)) | \(String(format: "%.0f µs", result.attacked.p50Microseconds)) "
                    + "| \(String(format: "%.2f×", result.p50Ratio)) | \(result.attacked.wrong) "
                    + "| \(result.hostile.closedByDaemon) / \(events(in: result.giveUpLines)) (\(result.giveUpLines.count) lines) | \(result.hostile) |"
            )
        }
        return lines.joined(separator: "\n")
    }
}

/// User plus system CPU ticks of process `pid` so far (/proc/PID/stat fields 14 and 15).
func cpuTicks(of pid: Int32) -> Int {
    guard let text = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
        let close = text.lastIndex(of: ")")
    else { return 0 }
    let fields = text[text.index(after: close)...].split(separator: " ")
    // After the command: state is field 3, so utime (14) and stime (15) are at 11 and 12.
    guard fields.count > 12, let user = Int(fields[11]), let system = Int(fields[12]) else { return 0 }
    return user + system
}

/// A TCP port on 127.0.0.1 that nothing listens on now.
package func freeLoopbackPort() throws -> Int {
    let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard descriptor >= 0 else { throw BenchError("socket failed") }
    defer { close(descriptor) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = in_addr_t(UInt32(0x7F00_0001).bigEndian)
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer in
            bind(descriptor, pointer, length) == 0 && getsockname(descriptor, pointer, &length) == 0
        }
    }
    guard bound else { throw BenchError("cannot bind a loopback port") }
    return Int(UInt16(bigEndian: address.sin_port))
}

/// Raises this process's open-file limit to its hard limit (the idle crowd holds 1 100 connections).
package func raiseOpenFileLimit() {
    var limit = rlimit()
    getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
    limit.rlim_cur = limit.rlim_max
    setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
}
