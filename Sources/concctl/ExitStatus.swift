import ArgumentParser
import ConcClient
import ConcProtocol
import Foundation

/// concctl's exit codes (docs/protocol.md lists them). Scripts decide on these, not on messages.
enum ExitStatus {
    /// Every task succeeded.
    static let success: Int32 = 0
    /// A task ran and failed (HTTP failure, worker died, internal error).
    static let taskFailed: Int32 = 1
    /// A task passed its deadline.
    static let timeout: Int32 = 2
    /// The daemon is busy or stopping, or its queue's database is down (nothing was stored): try again later.
    static let unavailable: Int32 = 3
    /// The daemon refused the request as invalid.
    static let rejected: Int32 = 4
    /// Nothing answered on the control socket.
    static let unreachable: Int32 = 5
    /// The connection broke or the daemon sent something unreadable.
    static let protocolError: Int32 = 6
    /// An admin command from a caller who is neither root nor the daemon's user.
    static let permissionDenied: Int32 = 7
    /// A durable job was cancelled before it finished (`cancelled`).
    static let cancelled: Int32 = 8
    /// The daemon keeps no durable jobs: its configuration has no `queue:` section (`no_queue`).
    static let noQueue: Int32 = 9

    /// The exit code for a typed error.
    static func code(for error: ErrorCode) -> Int32 {
        if error == .permissionDenied { return permissionDenied }
        // A request error too, but one a script acts on differently: submit without --durable, or
        // ask a daemon of the fleet.
        if error == .noQueue { return noQueue }
        if error.isRequestError { return rejected }
        switch error {
        case .timeout: return timeout
        case .busy, .shuttingDown, .queueUnavailable: return unavailable
        case .cancelled: return cancelled
        default: return taskFailed
        }
    }

    /// The exit code for a client error.
    static func code(for error: ConcClientError) -> Int32 {
        switch error {
        case .unreachable: return unreachable
        case .connectionClosed, .protocolViolation: return protocolError
        case .rejected(let wire), .taskFailed(let wire): return code(for: wire.code)
        }
    }
}

/// Prints a client error as a sentence and exits with its code.
func fail(_ error: ConcClientError) -> ExitCode {
    printError("concctl: \(error)")
    return ExitCode(ExitStatus.code(for: error))
}

/// Writes a line to standard error.
func printError(_ line: String) {
    FileHandle.standardError.write(Data((line + "\n").utf8))
}
