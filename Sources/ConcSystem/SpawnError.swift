import Glibc
import SystemPackage

/// A child process that could not be started: a stable code, the `errno` behind it, and a sentence.
package struct SpawnError: Error, Sendable, Hashable, CustomStringConvertible {
    /// A stable code for why the start failed; decide on it, never on the sentence.
    package struct Code: RawRepresentable, Sendable, Hashable, CustomStringConvertible {
        package var rawValue: String
        package init(rawValue: String) { self.rawValue = rawValue }
        package var description: String { rawValue }

        /// There is no such file (ENOENT, ENOTDIR), or no such program in PATH.
        package static let executableNotFound = Code(rawValue: "executable_not_found")
        /// The file is there but cannot be run (EACCES, ENOEXEC, EPERM).
        package static let notExecutable = Code(rawValue: "not_executable")
        /// Anything else: out of processes or memory, a descriptor that could not be placed.
        package static let spawnFailed = Code(rawValue: "spawn_failed")

        /// The code for a `posix_spawn` result.
        package init(spawnResult: Int32) {
            switch spawnResult {
            case ENOENT, ENOTDIR: self = .executableNotFound
            case EACCES, ENOEXEC, EPERM: self = .notExecutable
            default: self = .spawnFailed
            }
        }
    }

    /// Why the start failed.
    package var code: Code
    /// The program that was to run.
    package var executable: String
    /// The system's reason, when there is one.
    package var underlyingError: Errno?

    /// An error for `executable`.
    package init(code: Code, executable: String, underlyingError: Errno?) {
        self.code = code
        self.executable = executable
        self.underlyingError = underlyingError
    }

    /// "cannot start /x/concd-worker: posix_spawn failed: No such file or directory (executable_not_found)".
    package var description: String {
        let reason = underlyingError.map { ": \($0.description)" } ?? ""
        return "cannot start \(executable): posix_spawn failed\(reason) (\(code))"
    }
}
