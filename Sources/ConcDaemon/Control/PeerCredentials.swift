import CConcShims
import Glibc
import NIOCore

/// Who is on the other end of a control connection, as the kernel saw them connect (SO_PEERCRED):
/// not something the client can claim for itself.
package struct PeerCredentials: Sendable, Hashable, CustomStringConvertible {
    /// The client's pid when it connected.
    package var pid: Int32
    /// The client's effective user id.
    package var uid: UInt32
    /// The client's effective group id.
    package var gid: UInt32

    package init(pid: Int32, uid: UInt32, gid: UInt32) {
        self.pid = pid
        self.uid = uid
        self.gid = gid
    }

    /// The credentials of the peer of a connected Unix socket channel, read on its event loop.
    static func of(_ channel: any Channel) -> EventLoopFuture<PeerCredentials?> {
        guard let provider = channel as? any SocketOptionProvider else {
            return channel.eventLoop.makeSucceededFuture(nil)
        }
        let credentials: EventLoopFuture<concd_ucred> = provider.unsafeGetSocketOption(
            level: SocketOptionLevel(SOL_SOCKET), name: SocketOptionName(SO_PEERCRED)
        )
        return credentials
            .map { credentials -> PeerCredentials? in
                PeerCredentials(pid: credentials.pid, uid: credentials.uid, gid: credentials.gid)
            }
            .recover { _ -> PeerCredentials? in nil }
    }

    /// The credentials of the peer of the connected Unix socket `descriptor`; nil if the kernel will not say.
    static func of(descriptor: CInt) -> PeerCredentials? {
        var credentials = concd_ucred()
        var length = socklen_t(MemoryLayout<concd_ucred>.size)
        guard getsockopt(descriptor, SOL_SOCKET, SO_PEERCRED, &credentials, &length) == 0 else { return nil }
        return PeerCredentials(pid: credentials.pid, uid: credentials.uid, gid: credentials.gid)
    }

    /// Whether this peer may use admin operations: root, or the user the daemon runs as.
    package var isAdmin: Bool {
        uid == 0 || uid == geteuid()
    }

    package var description: String { "uid \(uid) pid \(pid)" }
}
