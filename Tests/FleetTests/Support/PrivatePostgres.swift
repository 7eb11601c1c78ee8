import ConcSystem
import Foundation

/// A private PostgreSQL 15 cluster for one test: `scripts/pg-cluster.sh start` into a fresh
/// temporary directory; `stop()` stops it and removes the directory.
///
///     guard let postgres = try PrivatePostgres.startIfAvailable() else { return }
///     defer { postgres.stop() }
///
/// Where none can start (not root, PostgreSQL 15 not installed) `startIfAvailable` prints why and
/// returns nil; with CONCD_REQUIRE_POSTGRES=1 it throws instead, so that a CI run that installed
/// PostgreSQL fails rather than skips.
final class PrivatePostgres: Sendable {
    /// `postgres://concd@ADDR:PORT/concd`, or over the Unix socket
    /// `postgres://concd@localhost:PORT/concd?host=<socketDirectory>`.
    let url: String
    let port: Int
    let socketDirectory: String
    /// The temporary directory: data/, socket/, log, port.
    let directory: String

    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent().path
    static let script = repository + "/scripts/pg-cluster.sh"

    /// Why no cluster can start here, or nil when one can.
    static let unavailableReason: String? = {
        if geteuid() != 0 { return "not root (the server runs as user postgres through runuser)" }
        if !FileManager.default.isExecutableFile(atPath: "/usr/lib/postgresql/15/bin/initdb") {
            return "/usr/lib/postgresql/15/bin/initdb is missing (apt-get install postgresql)"
        }
        if getpwnam("postgres") == nil { return "there is no postgres user (apt-get install postgresql)" }
        if !FileManager.default.isExecutableFile(atPath: "/usr/sbin/runuser") { return "/usr/sbin/runuser is missing" }
        if !FileManager.default.isReadableFile(atPath: script) { return "\(script) is missing" }
        return nil
    }()

    static var available: Bool { unavailableReason == nil }

    /// CONCD_REQUIRE_POSTGRES=1: a test that needs PostgreSQL fails where it cannot start.
    static var required: Bool { ProcessInfo.processInfo.environment["CONCD_REQUIRE_POSTGRES"] == "1" }

    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    /// A started cluster, or nil after printing why none can start here (throws instead when
    /// CONCD_REQUIRE_POSTGRES=1).
    static func startIfAvailable(listen: String? = nil, netns: String? = nil) throws -> PrivatePostgres? {
        if let reason = unavailableReason {
            if required { throw Failure(description: "CONCD_REQUIRE_POSTGRES=1, but PostgreSQL cannot run here: \(reason)") }
            print("skipping: PostgreSQL cannot run here: \(reason)")
            return nil
        }
        return try PrivatePostgres(listen: listen, netns: netns)
    }

    /// Starts a cluster (listening on the Unix socket only unless `listen` names an address; in
    /// network namespace `netns` if given). Check `available` first, or use `startIfAvailable`.
    init(listen: String? = nil, netns: String? = nil) throws {
        var template = Array("/tmp/concd-pg-XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else { throw Failure(description: "mkdtemp: \(String(cString: strerror(errno)))") }
        let directory = String(cString: made)
        var arguments = ["start", directory]
        if let listen { arguments += ["--listen", listen] }
        if let netns { arguments += ["--netns", netns] }
        let started = try Self.runScript(arguments)
        var values: [String: String] = [:]
        for line in started.stdout.split(separator: "\n") {
            let parts = line.split(separator: "=", maxSplits: 1)
            if parts.count == 2 { values[String(parts[0])] = String(parts[1]) }
        }
        guard started.status == 0, let url = values["PGURL"], let port = values["PGPORT"].flatMap({ Int($0) }) else {
            _ = try? Self.runScript(["stop", directory])
            throw Failure(description: "pg-cluster.sh start \(started.outcome): \(started.stderr)")
        }
        self.url = url
        self.port = port
        self.directory = directory
        socketDirectory = directory + "/socket"
    }

    /// Stops the server and removes its directory; calling it again does nothing.
    func stop() {
        guard let stopped = try? Self.runScript(["stop", directory]), stopped.status == 0 else {
            print("PrivatePostgres: could not stop the cluster in \(directory)")
            return
        }
    }

    deinit { stop() }

    /// Runs SQL as role concd over the Unix socket; returns psql's unaligned, tuples-only output
    /// (`a|b` per row). Throws with psql's message when a statement fails.
    @discardableResult
    func sql(_ statement: String) throws -> String {
        let ran = try Self.runScript(["psql", directory, "-Atq", "-v", "ON_ERROR_STOP=1", "-c", statement])
        guard ran.status == 0 else { throw Failure(description: "psql \(ran.outcome): \(ran.stderr)") }
        return ran.stdout.hasSuffix("\n") ? String(ran.stdout.dropLast()) : ran.stdout
    }

    struct Ran {
        var status: Int32
        var stdout: String
        var stderr: String
        var outcome: String { status >= 0 ? "exited \(status)" : "was killed by signal \(-status)" }
    }

    /// Runs the script to its end (SIGKILL after `timeout` seconds), started by ConcSystem's
    /// `SpawnRequest` (signals reset: in-process daemons of other tests leave some trapped) and
    /// reaped with `WaitStatus`, not Foundation's Process, which missed children's exits in the
    /// integration tests (docs/architecture.md, Testing). Output goes to unlinked files, so a server
    /// that kept a copy of a pipe could not hang the read.
    static func runScript(_ arguments: [String], timeout: Double = 120) throws -> Ran {
        let out = try scratchFile()
        defer { close(out) }
        let err = try scratchFile()
        defer { close(err) }
        let request = SpawnRequest(
            executable: "/bin/bash", arguments: [script] + arguments,
            placements: [.init(out, at: 1), .init(err, at: 2)], nullStandardInput: true
        )
        let pid: pid_t
        do {
            pid = try request.spawn()
        } catch {
            throw Failure(description: "\(error)")
        }
        let deadline = Date().addingTimeInterval(timeout)
        var ended = WaitStatus.poll(pid)
        while ended == nil {
            if Date() > deadline {
                kill(pid, SIGKILL)
                ended = WaitStatus.wait(for: pid)
                break
            }
            usleep(20_000)
            ended = WaitStatus.poll(pid)
        }
        let status: Int32
        switch ended {
        case .exited(let code)?: status = code
        case .killed(let signal)?: status = -signal
        case nil: throw Failure(description: "waitpid \(pid): \(String(cString: strerror(errno)))")
        }
        return Ran(status: status, stdout: readAll(out), stderr: readAll(err))
    }

    private static func scratchFile() throws -> Int32 {
        // O_CLOEXEC at open: a child another test spawns meanwhile must not inherit it.
        let path = "/tmp/concd-pg-out-\(getpid())-\(UUID().uuidString)"
        let descriptor = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else { throw Failure(description: "open \(path): \(String(cString: strerror(errno)))") }
        unlink(path)
        return descriptor
    }

    private static func readAll(_ descriptor: Int32) -> String {
        lseek(descriptor, 0, SEEK_SET)
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = read(descriptor, &buffer, buffer.count)
            if count < 0 && errno == EINTR { continue }
            if count <= 0 { break }
            bytes += buffer[..<count]
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
