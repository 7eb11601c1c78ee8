import ConcSystem
import Glibc

/// A datagram socket standing in for systemd's notify socket (`NOTIFY_SOCKET`); it records every
/// message a private concd sends, for the harness's exec → READY=1 time and the tests' checks.
package final class NotifySocket: @unchecked Sendable {
    // Unchecked: `messages` is read and appended by the one thread that drives the daemon.
    /// The socket's path.
    package let path: String
    private let descriptor: Int32
    /// Every message received so far, oldest first.
    package private(set) var messages: [String] = []

    /// Binds a datagram socket at `path`.
    package init(path: String) throws {
        self.path = path
        let address: UnixSocketAddress
        do {
            address = try UnixSocketAddress(path: path)
        } catch {
            throw BenchError("cannot bind a notify socket: \(error)")
        }
        descriptor = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard descriptor >= 0 else { throw BenchError("cannot make a notify socket: \(Syscall.errnoDescription)") }
        guard address.withSockAddr({ bind(descriptor, $0, $1) }) == 0 else {
            let reason = Syscall.errnoDescription
            Glibc.close(descriptor)
            throw BenchError("cannot bind a notify socket at \(path): \(reason)")
        }
    }

    /// Reads messages until one has the line `assignment` or `seconds` pass.
    package func waitFor(_ assignment: String, seconds: Double) -> Bool {
        waitFor(seconds: seconds, afterIndex: 0) { $0.split(separator: "\n").contains(Substring(assignment)) }
    }

    /// The same, counting only messages received after `message`.
    package func waitFor(_ assignment: String, seconds: Double, after message: String) -> Bool {
        let index = (messages.lastIndex(of: message) ?? -1) + 1
        return waitFor(seconds: seconds, afterIndex: index) { $0.split(separator: "\n").contains(Substring(assignment)) }
    }

    /// The same, counting only messages from `afterIndex` on.
    package func waitFor(_ assignment: String, seconds: Double, afterIndex: Int) -> Bool {
        waitFor(seconds: seconds, afterIndex: afterIndex) { $0.split(separator: "\n").contains(Substring(assignment)) }
    }

    /// Reads messages until one contains `text` anywhere or `seconds` pass.
    package func waitFor(containing text: String, seconds: Double) -> Bool {
        waitFor(seconds: seconds, afterIndex: 0) { $0.contains(text) }
    }

    /// Reads messages until one from `afterIndex` on matches, `seconds` pass, or `giveUp` says so
    /// (checked between polls: a daemon that has exited will send nothing more).
    package func waitFor(
        seconds: Double, afterIndex: Int, giveUp: () -> Bool = { false }, _ matches: (String) -> Bool
    ) -> Bool {
        if messages.dropFirst(afterIndex).contains(where: matches) { return true }
        let deadline = monotonicNanoseconds() + UInt64(seconds * 1e9)
        var buffer = [UInt8](repeating: 0, count: 4096)
        while monotonicNanoseconds() < deadline {
            var descriptorSet = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
            guard poll(&descriptorSet, 1, 50) > 0 else {
                if giveUp() { return false }
                continue
            }
            let count = recv(descriptor, &buffer, buffer.count, 0)
            guard count > 0 else { continue }
            let message = String(decoding: buffer[..<count], as: UTF8.self)
            messages.append(message)
            if messages.count > afterIndex && matches(message) { return true }
        }
        return false
    }

    /// Closes the socket.
    package func close() {
        Glibc.close(descriptor)
    }
}
