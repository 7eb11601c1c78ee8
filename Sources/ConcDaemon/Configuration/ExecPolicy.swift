import ConcProtocol
import ConcSystem
import Glibc

/// Who may run which commands with `exec` (the configuration's `exec:` section).
///
/// The rule: root and the daemon's own user may run any command, because running it as the daemon's
/// user gives them nothing they do not have. Anyone else who can reach the socket may run only the
/// programs `exec.allow` lists (by path, or every program in a listed folder), compared after
/// symbolic links are resolved, so a link elsewhere does not widen the list. The list is empty by
/// default: a user who may submit work does not thereby run programs as the daemon's user.
public struct ExecPolicy: Sendable, Equatable {
    /// Programs (absolute paths) and folders (absolute, ending in `/`) anyone who may submit may run,
    /// each resolved through symbolic links when the configuration is read.
    public var allow: [String] = []
    /// Bytes of each of a command's output streams kept in its reply; the rest is counted.
    public var outputBytes: Int = 64 * 1024
    /// The folders a bare program name is looked for in: the daemon's PATH.
    public var searchPath: [String] = ExecPolicy.daemonSearchPath

    /// The default policy: only root and the daemon's user may exec; 64 KiB of each stream kept.
    public init() {}

    /// The daemon's PATH, or the usual system folders when it has none.
    public static var daemonSearchPath: [String] {
        let text = getenv("PATH").map { String(cString: $0) } ?? "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
        return text.split(separator: ":").map(String.init).filter { $0.hasPrefix("/") }
    }

    /// Checks `entries` as `exec.allow` takes them and returns them resolved; throws a sentence
    /// naming the first entry that is not an absolute path to something that exists.
    package static func resolve(allow entries: [String]) throws(ConfigurationLoader.Failure) -> [String] {
        var resolved: [String] = []
        for entry in entries {
            guard entry.hasPrefix("/") else {
                throw .init(description: "exec.allow: '\(entry)' is not an absolute path (a program such as /usr/bin/convert, or a folder such as /srv/bin/)")
            }
            guard let real = realPath(entry) else {
                throw .init(description: "exec.allow: \(entry) does not exist")
            }
            resolved.append(entry.hasSuffix("/") ? (real.hasSuffix("/") ? real : real + "/") : real)
        }
        return resolved
    }

    /// The command `argv` names, ready to spawn, if `caller` may run it; else a typed refusal
    /// (`not_found` for no such program, `permission_denied` for one the caller may not run).
    package func authorize(_ argv: [String], caller: PeerCredentials?) -> Result<PreparedCommand, WireError> {
        guard let name = argv.first, !name.isEmpty else {
            return .failure(WireError(.invalidArgument, "exec needs a program to run"))
        }
        let found: String
        if name.contains("/") {
            guard name.hasPrefix("/") else {
                return .failure(WireError(
                    .invalidArgument,
                    "exec's program is an absolute path or a name looked up in concd's PATH, not a relative path ('\(name)')"
                ))
            }
            found = name
        } else {
            guard let match = searchPath.lazy.map({ $0.hasSuffix("/") ? $0 + name : $0 + "/" + name }).first(where: Self.isProgram) else {
                return .failure(WireError(.notFound, "no program '\(name)' in concd's PATH (\(searchPath.joined(separator: ":")))"))
            }
            found = match
        }
        guard let real = Self.realPath(found) else {
            return .failure(WireError(.notFound, "no program \(found): \(Syscall.errnoDescription)"))
        }
        guard Self.isProgram(real) else {
            return .failure(WireError(.permissionDenied, "\(found) is not a program concd can run (not an executable file)"))
        }
        if let caller, caller.isAdmin {
            return .success(PreparedCommand(executable: real, argv: argv, outputBytes: outputBytes))
        }
        guard allow.contains(where: { $0.hasSuffix("/") ? real.hasPrefix($0) : real == $0 }) else {
            let who = caller.map { "uid \($0.uid)" } ?? "a caller whose credentials could not be read"
            let listed = allow.isEmpty ? "it lists none" : "it lists \(allow.joined(separator: ", "))"
            return .failure(WireError(
                .permissionDenied,
                "\(who) may not run \(real): root and concd's user (uid \(geteuid())) may exec any program, others only those in exec.allow, and \(listed)"
            ))
        }
        return .success(PreparedCommand(executable: real, argv: argv, outputBytes: outputBytes))
    }

    private static func isProgram(_ path: String) -> Bool {
        var info = stat()
        return stat(path, &info) == 0 && (info.st_mode & S_IFMT) == S_IFREG && access(path, X_OK) == 0
    }

    private static func realPath(_ path: String) -> String? {
        guard let resolved = realpath(path, nil) else { return nil }
        defer { free(resolved) }
        return String(cString: resolved)
    }
}

/// A command the policy let through: the program's resolved path, the argument vector as the client
/// gave it (argv[0] included) and how much of its output to keep.
package struct PreparedCommand: Sendable, Equatable {
    package var executable: String
    package var argv: [String]
    package var outputBytes: Int
}
