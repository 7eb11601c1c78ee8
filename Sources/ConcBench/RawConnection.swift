import ConcProtocol
import ConcSystem
import Glibc

/// A blocking connection to the control socket with nothing between the caller and the system
/// calls, as lean as the echo peer of the floor: so the bench's ratios show what concd adds, not
/// what an async client adds. (ConcClient's own round trip is reported beside it.)
package final class RawConnection {
    private let descriptor: Int32
    private var inbox = [UInt8](repeating: 0, count: 1 << 16)
    private var buffered = 0

    /// Connects to the control socket at `socketPath`.
    package init(socketPath: String) throws {
        let address: UnixSocketAddress
        do {
            address = try UnixSocketAddress(path: socketPath)
        } catch {
            throw BenchError("cannot connect: \(error)")
        }
        descriptor = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard descriptor >= 0 else { throw BenchError("socket failed: \(Syscall.errnoDescription)") }
        let connected = address.withSockAddr { connect(descriptor, $0, $1) }
        guard connected == 0 else {
            close(descriptor)
            throw BenchError("cannot connect to \(socketPath)")
        }
    }

    deinit {
        close(descriptor)
    }

    /// Sends `frames` (each ending in a newline) with one write.
    package func send(_ frames: [UInt8]) throws {
        var sent = 0
        while sent < frames.count {
            let count = frames.withUnsafeBytes { write(descriptor, $0.baseAddress! + sent, frames.count - sent) }
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else { throw BenchError("concd closed the connection") }
            sent += count
        }
    }

    /// Reads until at least one whole reply is in; calls `body` with each complete one (without its
    /// newline) and returns how many there were.
    package func receive(_ body: (UnsafeBufferPointer<UInt8>) throws -> Void) throws -> Int {
        while true {
            if buffered == inbox.count { inbox += [UInt8](repeating: 0, count: inbox.count) }
            let count = inbox.withUnsafeMutableBytes { read(descriptor, $0.baseAddress! + buffered, $0.count - buffered) }
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else { throw BenchError("concd closed the connection") }
            buffered += count
            var replies = 0
            var start = 0
            try inbox.withUnsafeBufferPointer { bytes in
                for index in 0..<buffered where bytes[index] == UInt8(ascii: "\n") {
                    try body(UnsafeBufferPointer(rebasing: bytes[start..<index]))
                    replies += 1
                    start = index + 1
                }
            }
            if start > 0 {
                inbox.withUnsafeMutableBytes { raw in
                    raw.baseAddress!.copyMemory(from: raw.baseAddress! + start, byteCount: buffered - start)
                }
                buffered -= start
            }
            if replies > 0 { return replies }
        }
    }

    /// Sends one frame and waits for its reply; throws unless the reply says ok.
    package func roundTrip(_ frame: [UInt8]) throws {
        try send(frame)
        var received = 0
        while received == 0 {
            received = try receive(Self.check)
        }
    }

    /// `count` round trips of `frame`, each one's time in nanoseconds.
    package func roundTrips(_ frame: [UInt8], count: Int) throws -> [UInt64] {
        var samples: [UInt64] = []
        samples.reserveCapacity(count)
        for _ in 0..<count {
            let start = monotonicNanoseconds()
            try roundTrip(frame)
            samples.append(monotonicNanoseconds() - start)
        }
        return samples
    }

    /// Keeps `window` copies of `frame` in flight until `total` replies are in.
    package func pipeline(_ frame: [UInt8], total: Int, window: Int) throws {
        var sent = min(window, total)
        try send(Array([[UInt8]](repeating: frame, count: sent).joined()))
        var received = 0
        while received < total {
            let count = try receive(Self.check)
            received += count
            let more = min(count, total - sent)
            if more > 0 {
                try send(Array([[UInt8]](repeating: frame, count: more).joined()))
                sent += more
            }
        }
    }

    private static func check(_ reply: UnsafeBufferPointer<UInt8>) throws {
        let decoded = try ReplyCodec.decode(reply)
        guard decoded.ok else { throw BenchError("a no-op failed: \(decoded.error?.message ?? "?")") }
    }
}
