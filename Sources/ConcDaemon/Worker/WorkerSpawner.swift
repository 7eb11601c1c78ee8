import ConcProtocol
import ConcSystem
import Glibc
import SystemPackage

/// A worker process and the daemon's end of its channel.
package struct SpawnedWorker: Sendable {
    /// The worker's pid.
    package var pid: pid_t
    /// The daemon's end of the socketpair.
    package var socket: Int32
    /// The read ends of the pipes on the worker's stdout and stderr (a user's program), or nil
    /// when the worker writes where concd does.
    package var output: (stdout: Int32, stderr: Int32)?
}

/// Starts a worker (`concd-worker`, or `concd` in worker mode) through `SpawnRequest` (ConcSystem),
/// on a socketpair of its own.
package enum WorkerSpawner {
    /// The file descriptor number the worker finds its channel on.
    package static let workerDescriptor: Int32 = 3

    /// Why a worker could not be started: a stable code, the `errno` behind it, and a sentence.
    package struct Failure: Error, CustomStringConvertible, Sendable {
        /// A stable code for why; decide on it, never on the sentence.
        package struct Code: RawRepresentable, Sendable, Hashable, CustomStringConvertible {
            package var rawValue: String
            package init(rawValue: String) { self.rawValue = rawValue }
            package var description: String { rawValue }

            /// No socketpair for the worker's channel (out of descriptors, most likely).
            package static let socketPairFailed = Code(rawValue: "socketpair_failed")
            /// The worker binary is not there (`SpawnError.Code.executableNotFound`).
            package static let executableNotFound = Code(rawValue: SpawnError.Code.executableNotFound.rawValue)
            /// The worker binary cannot be run (`SpawnError.Code.notExecutable`).
            package static let notExecutable = Code(rawValue: SpawnError.Code.notExecutable.rawValue)
            /// posix_spawn failed for another reason (`SpawnError.Code.spawnFailed`).
            package static let spawnFailed = Code(rawValue: SpawnError.Code.spawnFailed.rawValue)
            /// The worker started but did not come up (the pool's own checks: watching it, its greeting).
            package static let workerNotStarted = Code(rawValue: "worker_not_started")
        }

        /// Why.
        package var code: Code
        /// The system's reason, when there is one.
        package var underlyingError: Errno?
        /// A sentence saying what failed.
        package var description: String

        /// A failure with its code, reason and sentence.
        package init(code: Code, underlyingError: Errno?, description: String) {
            self.code = code
            self.underlyingError = underlyingError
            self.description = description
        }

        /// A failure found after the spawn itself (code `worker_not_started`), with a sentence.
        package init(description: String) {
            self.init(code: .workerNotStarted, underlyingError: nil, description: description)
        }

        /// The spawn's own failure, with its code and errno.
        package init(_ spawn: SpawnError) {
            self.init(code: Code(rawValue: spawn.code.rawValue), underlyingError: spawn.underlyingError, description: spawn.description)
        }
    }

    /// The name of the small worker binary, installed beside `concd`.
    package static let workerBinaryName = "concd-worker"

    /// The worker binary to run when the configuration names none: `concd-worker` in the running
    /// executable's folder, else the running executable itself in worker mode.
    package static func defaultExecutable() -> String {
        let current = currentExecutable()
        guard let slash = current.lastIndex(of: "/") else { return current }
        let sibling = String(current[...slash]) + workerBinaryName
        return access(sibling, X_OK) == 0 ? sibling : current
    }

    /// The path of the running executable, which can also run as a worker.
    package static func currentExecutable() -> String {
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let length = readlink("/proc/self/exe", &buffer, buffer.count - 1)
        guard length > 0 else { return CommandLine.arguments[0] }
        return String(decoding: buffer[..<length].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// Spawns a worker of `program` for worker `worker` of pool `pool`: concd's own worker, or the
    /// user's command with its channel (a stream socket: one JSON line per message) on fd 3, named
    /// in `CONCD_WORKER_FD`, standard input from /dev/null and its output on two pipes for concd to log.
    package static func spawn(_ program: WorkerProgram, pool: String, worker: String) throws(Failure) -> SpawnedWorker {
        switch program {
        case .builtIn(let executable):
            return try spawn(executable: executable)
        case .command(let command):
            var environment = command.environment
            environment[UserWorkerProtocol.descriptorVariable] = String(workerDescriptor)
            environment["CONCD_WORKER_PROTOCOL"] = String(UserWorkerProtocol.version)
            environment["CONCD_POOL"] = pool
            environment["CONCD_WORKER"] = worker
            // Its output comes to concd through two pipes, so each line is logged with the worker's name.
            guard let outPipe = Syscall.closeOnExecPipe() else { throw pipeFailure() }
            guard let errPipe = Syscall.closeOnExecPipe() else {
                close(outPipe.read)
                close(outPipe.write)
                throw pipeFailure()
            }
            let out = [outPipe.read, outPipe.write]
            let err = [errPipe.read, errPipe.write]
            defer {
                close(out[1])
                close(err[1])
            }
            var request = SpawnRequest(
                executable: command.executable, arguments: command.arguments,
                environment: SpawnRequest.currentEnvironment(adding: environment, removing: Self.systemdVariables),
                nullStandardInput: true, searchesPath: !command.executable.contains("/"), ownProcessGroup: true,
                workingDirectory: command.workingDirectory
            )
            request.placements = [.init(out[1], at: 1), .init(err[1], at: 2)]
            do {
                var spawned = try spawn(socketType: Glibc.SOCK_STREAM, request)
                spawned.output = (out[0], err[0])
                return spawned
            } catch {
                close(out[0])
                close(err[0])
                throw error
            }
        }
    }

    /// What systemd set for concd alone: a worker that saw them might notify or answer the watchdog.
    package static let systemdVariables: Set<String> = [
        "NOTIFY_SOCKET", "LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES", "WATCHDOG_USEC", "WATCHDOG_PID",
    ]

    private static func pipeFailure() -> Failure {
        Failure(code: .socketPairFailed, underlyingError: Errno(rawValue: errno), description: "pipe failed: \(Syscall.errnoDescription)")
    }

    /// Spawns `executable --worker-fd 3 --worker-parent <pid>` with a fresh socketpair on fd 3,
    /// default signal dispositions, an empty signal mask and its own process group (so a Ctrl-C
    /// in the daemon's terminal reaches the daemon, which then stops its workers in order).
    package static func spawn(executable: String) throws(Failure) -> SpawnedWorker {
        // Swift's crash backtracer is off in workers: a worker that crashes should die at once so
        // its task's client hears and its slot is refilled, not spend seconds symbolicating. The
        // daemon's log still records how it died.
        try spawn(
            socketType: Glibc.SOCK_SEQPACKET,
            SpawnRequest(
                executable: executable,
                arguments: ["--worker-fd", String(workerDescriptor), "--worker-parent", String(getpid())],
                environment: SpawnRequest.currentEnvironment(adding: ["SWIFT_BACKTRACE": "enable=no"]),
                ownProcessGroup: true
            )
        )
    }

    /// Spawns `request` with one end of a fresh socketpair of `socketType` placed on fd 3.
    private static func spawn(socketType kind: __socket_type, _ request: SpawnRequest) throws(Failure) -> SpawnedWorker {
        var pair: [Int32] = [-1, -1]
        let socketType = Int32(kind.rawValue) | Int32(Glibc.SOCK_CLOEXEC.rawValue)
        guard socketpair(AF_UNIX, socketType, 0, &pair) == 0 else {
            throw Failure(
                code: .socketPairFailed, underlyingError: Errno(rawValue: errno),
                description: "socketpair failed: \(Syscall.errnoDescription)"
            )
        }
        let parentEnd = pair[0]
        let childEnd = pair[1]
        defer { close(childEnd) }
        var request = request
        request.placements.append(.init(childEnd, at: workerDescriptor))
        do {
            return SpawnedWorker(pid: try request.spawn(), socket: parentEnd)
        } catch {
            close(parentEnd)
            throw Failure(error)
        }
    }
}
