import ConcDaemon
import ConcSystem
import Foundation
import Glibc
import Logging
import NIOCore
import Synchronization
import SystemPackage
import Testing

/// The listeners' acceptor on real sockets: every queued connection reaches the handler with the
/// peer the kernel names, and `stop` ends the thread and the listening socket.
@Suite struct AcceptorTests {
    /// Connects to `path`, reads until the peer closes (10 s at most), returns what was read, or nil if connect failed.
    private func exchange(_ path: String) throws -> [UInt8]? {
        let descriptor = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(descriptor) }
        guard try UnixSocketAddress(path: path).withSockAddr({ connect(descriptor, $0, $1) }) == 0 else { return nil }
        var timeout = timeval(tv_sec: 10, tv_usec: 0)
        setsockopt(descriptor, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var received: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 256)
        while true {
            let got = read(descriptor, &buffer, buffer.count)
            guard got > 0 else { break }
            received += buffer[..<got]
        }
        return received
    }

    @Test func eachConnectionReachesTheHandlerUntilStop() throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/a.sock"
        let listening = try ListeningSocket.unix(UnixSocketAddress(path: path), backlog: 16)
        let pids = Mutex<[Int32]>([])
        let acceptor = try Acceptor(descriptor: listening, name: "test", logger: Logger(label: "test")) { descriptor in
            var credentials = (pid: Int32(0), uid: UInt32(0), gid: UInt32(0))
            var length = socklen_t(MemoryLayout.size(ofValue: credentials))
            _ = getsockopt(descriptor, SOL_SOCKET, SO_PEERCRED, &credentials, &length)
            pids.withLock { $0.append(credentials.pid) }
            let reply = Array("accepted\n".utf8)
            _ = reply.withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
            close(descriptor)
        }
        acceptor.start()
        for _ in 0..<50 { #expect(try exchange(path) == Array("accepted\n".utf8)) }
        #expect(pids.withLock { $0 } == Array(repeating: getpid(), count: 50), "the handler sees the peer the kernel names")
        acceptor.stop()
        // The listening socket is closed: the path refuses connections.
        #expect(try exchange(path) == nil)
    }

    @Test func aStopBeforeAnyConnectionReturnsAndAStoppedAcceptorDoesNotStart() throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/b.sock"
        let listening = try ListeningSocket.unix(UnixSocketAddress(path: path), backlog: 16)
        let acceptor = try Acceptor(descriptor: listening, name: "test", logger: Logger(label: "test")) { close($0) }
        acceptor.start()
        acceptor.stop()
        acceptor.start()
        #expect(try exchange(path) == nil)
    }

    @Test func aTakenAddressIsTheBindErrno() throws {
        let first = try ListeningSocket.tcp(SocketAddress(ipAddress: "127.0.0.1", port: 0), backlog: 4)
        defer { close(first.descriptor) }
        #expect(first.port > 0)
        #expect(throws: Errno.addressInUse) {
            try ListeningSocket.tcp(SocketAddress(ipAddress: "127.0.0.1", port: first.port), backlog: 4)
        }
    }
}
