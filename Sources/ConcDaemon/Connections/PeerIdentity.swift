import Logging
import NIOCore

/// Who a connection's peer is, for the one log line written when the daemon gives up on it: the
/// uid and pid the kernel recorded at connect for the Unix socket (SO_PEERCRED), the address for TCP.
enum PeerIdentity {
    /// The peer of `channel` as log metadata (`peer_uid`, `peer_pid`, or `peer`), read on its event loop.
    static func metadata(of channel: any Channel) -> EventLoopFuture<Logger.Metadata> {
        if case .unixDomainSocket = channel.remoteAddress {
            return PeerCredentials.of(channel).map { credentials in
                credentials.map(metadata(of:)) ?? ["peer": "unknown"]
            }
        }
        let address = channel.remoteAddress.map { "\($0)" } ?? "unknown"
        return channel.eventLoop.makeSucceededFuture(["peer": "\(address)"])
    }

    /// A Unix socket peer as log metadata: `peer_uid` and `peer_pid`.
    static func metadata(of credentials: PeerCredentials) -> Logger.Metadata {
        ["peer_uid": "\(credentials.uid)", "peer_pid": "\(credentials.pid)"]
    }
}
