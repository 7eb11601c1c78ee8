import ConcWorkerCore
import Glibc

/// A worker process and the daemon's end of its channel.
package struct SpawnedWorker: Sendable {
    /// The worker's pid.
    package var pid: pid_t
    /// The daemon's end of the SOCK_SEQPACKET socketpair.
    package var socket: Int32
}

/// Starts a worker (`concd-worker`, or `concd` in worker mode) with `posix_spawn` (never `fork` without exec in a Swift process:
/// the child of a bare fork inherits locks held by threads that no longer exist).
package enum WorkerSpawner {
    /// The file descriptor number the worker finds its channel on.
    package static let workerDescriptor: Int32 = 3

    /// Why a worker could not be started.
    package struct Failure: Error, CustomStringConvertible {
        package var description: String
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

    /// Spawns `executable --worker-fd 3 --worker-parent <pid>` with a fresh socketpair on fd 3,
    /// default signal dispositions, an empty signal mask and its own process group (so a Ctrl-C
    /// in the daemon's terminal reaches the daemon, which then stops its workers in order).
    package static func spawn(executable: String) throws(Failure) -> SpawnedWorker {
        var pair: [Int32] = [-1, -1]
        let socketType = Int32(SOCK_SEQPACKET.rawValue) | Int32(SOCK_CLOEXEC.rawValue)
        guard socketpair(AF_UNIX, socketType, 0, &pair) == 0 else {
            throw Failure(description: "socketpair failed: \(Syscall.errnoDescription)")
        }
        let parentEnd = pair[0]
        var childEnd = pair[1]
        defer { close(childEnd) }
        if childEnd == workerDescriptor {
            // dup2 onto the same number would keep FD_CLOEXEC and the worker would find nothing on fd 3.
            let moved = fcntl(childEnd, F_DUPFD_CLOEXEC, 10)
            close(childEnd)
            childEnd = moved
        }

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, childEnd, workerDescriptor)

        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var defaults = sigset_t()
        sigfillset(&defaults)
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        var mask = sigset_t()
        sigemptyset(&mask)
        posix_spawnattr_setsigmask(&attributes, &mask)
        posix_spawnattr_setpgroup(&attributes, 0)
        let flags = Int32(POSIX_SPAWN_SETSIGDEF) | Int32(POSIX_SPAWN_SETSIGMASK) | Int32(POSIX_SPAWN_SETPGROUP)
        posix_spawnattr_setflags(&attributes, Int16(flags))

        let arguments = [
            executable, "--worker-fd", String(workerDescriptor), "--worker-parent", String(getpid()),
        ]
        var argv: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) }
        argv.append(nil)
        defer { for pointer in argv { free(pointer) } }

        var environment: [UnsafeMutablePointer<CChar>?] = workerEnvironment().map { strdup($0) }
        environment.append(nil)
        defer { for pointer in environment { free(pointer) } }

        var pid: pid_t = 0
        let result = posix_spawn(&pid, executable, &actions, &attributes, argv, environment)
        guard result == 0 else {
            close(parentEnd)
            throw Failure(description: "posix_spawn \(executable) failed: \(String(cString: strerror(result)))")
        }
        return SpawnedWorker(pid: pid, socket: parentEnd)
    }

    /// The daemon's environment, with Swift's crash backtracer off: a worker that crashes should
    /// die at once so its task's client hears and its slot is refilled, not spend seconds
    /// symbolicating. The daemon's log still records how it died.
    private static func workerEnvironment() -> [String] {
        var entries: [String] = []
        var cursor = environ
        while let entry = cursor.pointee {
            let text = String(cString: entry)
            if !text.hasPrefix("SWIFT_BACKTRACE=") { entries.append(text) }
            cursor += 1
        }
        entries.append("SWIFT_BACKTRACE=enable=no")
        return entries
    }
}
