import ConcProtocol

/// What a process pool's workers run: concd's own worker, or the user's program speaking the
/// worker protocol (docs/worker-protocol.md).
package enum WorkerProgram: Sendable, Equatable, CustomStringConvertible {
    /// `concd-worker` (or `concd` in worker mode): runs the built-in workloads.
    case builtIn(executable: String)
    /// The user's program: runs the functions it defines, called by name.
    case command(UserCommand)

    /// Whether the workers run a user's program (and so take calls, not built-in workloads).
    package var isCommand: Bool {
        if case .command = self { return true }
        return false
    }

    /// The program, as error messages name it.
    package var description: String {
        switch self {
        case .builtIn(let executable): return executable
        case .command(let command): return command.commandLine
        }
    }
}

/// A user's worker program, as `pools.NAME.command` and its neighbours give it.
package struct UserCommand: Sendable, Equatable {
    /// The program: a path, or a name looked up in PATH.
    package var executable: String
    package var arguments: [String]
    /// The folder it starts in; nil keeps concd's.
    package var workingDirectory: String?
    /// Variables added to concd's environment for it.
    package var environment: [String: String]

    package init(executable: String, arguments: [String], workingDirectory: String? = nil, environment: [String: String] = [:]) {
        self.executable = executable
        self.arguments = arguments
        self.workingDirectory = workingDirectory
        self.environment = environment
    }

    /// The command line, for people (arguments with spaces quoted).
    package var commandLine: String {
        ([executable] + arguments).map { $0.contains(" ") || $0.isEmpty ? "'\($0)'" : $0 }.joined(separator: " ")
    }
}
