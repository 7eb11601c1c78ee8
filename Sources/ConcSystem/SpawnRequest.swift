import CConcShims
import Glibc
import SystemPackage

/// How to start a child process with `posix_spawn`: the one place in the package that sets up
/// file actions and spawn attributes, for the daemon's workers, the bench's children and the
/// tests' (never `fork` without exec in a Swift process: the child of a bare fork inherits locks
/// held by threads that no longer exist).
package struct SpawnRequest: Sendable {
    /// A descriptor of this process placed at another number in the child (`dup2`). The source
    /// should be close-on-exec, so the child keeps only the copy.
    package struct Placement: Sendable, Hashable {
        /// The descriptor in this process.
        package var source: Int32
        /// Its number in the child.
        package var target: Int32

        /// `source` here becomes `target` in the child.
        package init(_ source: Int32, at target: Int32) {
            self.source = source
            self.target = target
        }
    }

    /// The program: a path, or a bare name looked up in PATH when `searchesPath` is set.
    package var executable: String
    /// The arguments after argv[0].
    package var arguments: [String]
    /// argv[0] when it should differ from `executable` (a program found in PATH keeps the name it was asked by).
    package var argumentZero: String?
    /// `KEY=value` entries; nil passes this process's environment unchanged.
    package var environment: [String]?
    /// Descriptors to place in the child; anything else close-on-exec stays behind.
    package var placements: [Placement]
    /// Whether the child's stdin is /dev/null (otherwise it is inherited, or placed).
    package var nullStandardInput: Bool
    /// Whether a bare `executable` is looked up in PATH (`posix_spawnp`).
    package var searchesPath: Bool
    /// Whether the child starts with every signal at its default disposition and none blocked,
    /// whatever this process traps or masks (a daemon that traps SIGTERM, a test process whose
    /// in-process daemons did).
    package var resetsSignals: Bool
    /// Whether the child gets a process group of its own, so a Ctrl-C in this process's terminal
    /// reaches only this process, which then stops its children in order.
    package var ownProcessGroup: Bool
    /// The folder the child starts in; nil keeps this process's.
    package var workingDirectory: String?

    /// A request with every choice at its plain default: inherited environment, no placements,
    /// signals reset, same process group, no PATH search.
    package init(
        executable: String, arguments: [String] = [], environment: [String]? = nil, placements: [Placement] = [],
        nullStandardInput: Bool = false, searchesPath: Bool = false, resetsSignals: Bool = true,
        ownProcessGroup: Bool = false, workingDirectory: String? = nil
    ) {
        self.workingDirectory = workingDirectory
        self.executable = executable
        self.arguments = arguments
        self.environment = environment
        self.placements = placements
        self.nullStandardInput = nullStandardInput
        self.searchesPath = searchesPath
        self.resetsSignals = resetsSignals
        self.ownProcessGroup = ownProcessGroup
    }

    /// This process's environment as `KEY=value` entries, less those whose key is in `removing`,
    /// with `adding` set over it.
    package static func currentEnvironment(adding: [String: String] = [:], removing: Set<String> = []) -> [String] {
        var entries: [String] = []
        var cursor = environ
        while let entry = cursor.pointee {
            let text = String(cString: entry)
            let key = text.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false).first.map(String.init) ?? text
            if !removing.contains(key) && adding[key] == nil { entries.append(text) }
            cursor += 1
        }
        for (key, value) in adding.sorted(by: { $0.key < $1.key }) { entries.append("\(key)=\(value)") }
        return entries
    }

    /// Starts the child and returns its pid; reap it with `WaitStatus.wait(for:)`.
    package func spawn() throws(SpawnError) -> pid_t {
        // dup2 onto its own number would keep FD_CLOEXEC and the child would find nothing there,
        // so such a source is moved to a fresh number first.
        var moved: [Int32] = []
        defer { for descriptor in moved { close(descriptor) } }
        var sources: [Int32] = []
        for placement in placements {
            if placement.source == placement.target {
                let copy = fcntl(placement.source, F_DUPFD_CLOEXEC, 10)
                guard copy >= 0 else {
                    throw SpawnError(code: .spawnFailed, executable: executable, underlyingError: Errno(rawValue: errno))
                }
                moved.append(copy)
                sources.append(copy)
            } else {
                sources.append(placement.source)
            }
        }

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        if nullStandardInput { posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0) }
        for (placement, source) in zip(placements, sources) {
            posix_spawn_file_actions_adddup2(&actions, source, placement.target)
        }
        if let workingDirectory { _ = concd_spawn_file_actions_addchdir(&actions, workingDirectory) }

        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var flags: Int32 = 0
        if resetsSignals {
            var defaults = sigset_t()
            sigfillset(&defaults)
            posix_spawnattr_setsigdefault(&attributes, &defaults)
            var mask = sigset_t()
            sigemptyset(&mask)
            posix_spawnattr_setsigmask(&attributes, &mask)
            flags |= Int32(POSIX_SPAWN_SETSIGDEF) | Int32(POSIX_SPAWN_SETSIGMASK)
        }
        if ownProcessGroup {
            posix_spawnattr_setpgroup(&attributes, 0)
            flags |= Int32(POSIX_SPAWN_SETPGROUP)
        }
        posix_spawnattr_setflags(&attributes, Int16(flags))

        var argv: [UnsafeMutablePointer<CChar>?] = ([argumentZero ?? executable] + arguments).map { strdup($0) }
        argv.append(nil)
        defer { for pointer in argv { free(pointer) } }
        let envp: [UnsafeMutablePointer<CChar>?]? = environment.map { $0.map { strdup($0) } + [nil] }
        defer { envp?.forEach { free($0) } }

        var pid: pid_t = 0
        func start(_ environment: UnsafePointer<UnsafeMutablePointer<CChar>?>) -> Int32 {
            searchesPath
                ? posix_spawnp(&pid, executable, &actions, &attributes, argv, environment)
                : posix_spawn(&pid, executable, &actions, &attributes, argv, environment)
        }
        let result = envp.map { entries in entries.withUnsafeBufferPointer { start($0.baseAddress!) } } ?? start(environ)
        guard result == 0 else {
            throw SpawnError(code: SpawnError.Code(spawnResult: result), executable: executable, underlyingError: Errno(rawValue: result))
        }
        return pid
    }
}
