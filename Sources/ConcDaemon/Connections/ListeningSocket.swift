import ConcSystem
import Glibc
import NIOCore
import SystemPackage

/// Listening sockets for an `Acceptor`: made, bound and listening, non-blocking and close-on-exec,
/// or the errno of the step that failed (the descriptor closed).
package enum ListeningSocket {
    /// A Unix stream socket bound at `address` (with the caller's umask).
    package static func unix(_ address: UnixSocketAddress, backlog: CInt) throws(Errno) -> CInt {
        let descriptor = try make(family: AF_UNIX)
        try check(descriptor, address.withSockAddr { bind(descriptor, $0, $1) })
        try check(descriptor, listen(descriptor, backlog))
        return descriptor
    }

    /// A TCP socket bound at `address` with SO_REUSEADDR (so a restart does not wait out TIME_WAIT);
    /// returns it and the port it listens on (the kernel's choice when `address` asked for 0).
    package static func tcp(_ address: SocketAddress, backlog: CInt) throws(Errno) -> (descriptor: CInt, port: Int) {
        let descriptor = try make(family: address.protocol.rawValue)
        var one: CInt = 1
        try check(descriptor, setsockopt(descriptor, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<CInt>.size)))
        try check(descriptor, address.withSockAddr { bind(descriptor, $0, socklen_t($1)) })
        try check(descriptor, listen(descriptor, backlog))
        var bound = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let named = withUnsafeMutablePointer(to: &bound) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(descriptor, $0, &length) }
        }
        try check(descriptor, named)
        return (descriptor, Self.address(bound)?.port ?? address.port ?? 0)
    }

    /// The IP address of `storage` (IPv4 or IPv6), or nil for another family.
    package static func address(_ storage: sockaddr_storage) -> SocketAddress? {
        let family = CInt(storage.ss_family)
        return withUnsafePointer(to: storage) { pointer -> SocketAddress? in
            switch family {
            case AF_INET: return pointer.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { SocketAddress($0.pointee) }
            case AF_INET6: return pointer.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { SocketAddress($0.pointee) }
            default: return nil
            }
        }
    }

    /// The IP address of the peer of the connected socket `descriptor`; nil once the peer has reset it.
    package static func peerAddress(of descriptor: CInt) -> SocketAddress? {
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let named = withUnsafeMutablePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getpeername(descriptor, $0, &length) }
        }
        return named == 0 ? address(storage) : nil
    }

    private static func make(family: CInt) throws(Errno) -> CInt {
        let descriptor = socket(family, Int32(SOCK_STREAM.rawValue | SOCK_NONBLOCK.rawValue | SOCK_CLOEXEC.rawValue), 0)
        guard descriptor >= 0 else { throw Errno(rawValue: errno) }
        return descriptor
    }

    private static func check(_ descriptor: CInt, _ result: CInt) throws(Errno) {
        guard result != 0 else { return }
        let error = Errno(rawValue: errno)
        close(descriptor)
        throw error
    }
}
