import NIOCore

/// What one client connection may cost the daemon, on the control socket and the metrics listener.
/// Every key is documented in etc/concd/concd.yaml and docs/operations.md.
public struct ConnectionLimits: Sendable, Equatable {
    /// Bytes of replies the daemon may owe a peer that does not read before it stops reading that
    /// peer's requests (NIO's write-buffer high-water mark); it reads again once they fall under a
    /// quarter of this. `connections.send_buffer_kib`; default 256 KiB.
    public var sendBufferBytes: Int = 256 * 1024
    /// Seconds a peer may leave the daemon's replies unread above `sendBufferBytes` before it is
    /// disconnected, logged once with who it was. `connections.stall_timeout`; default 60.
    public var stallTimeoutSeconds: Double = 60
    /// Connections a second one peer (a process on the control socket, an address on the metrics
    /// listener) may open that come to nothing (it leaves before a whole request, or its metrics
    /// request is refused), and five seconds' worth at once; past that its new connections are
    /// closed as they are accepted until it slows down (`VanishGuard`). 0 refuses no one.
    /// `connections.vanishing_per_second`; default 20.
    public var vanishingPerSecond: Int = 20
    /// Frames in a row a control connection may send that are all rejected (not JSON, not a
    /// request) before the daemon answers `too_many_rejected` and closes it; the connection then
    /// counts against its peer as one that came to nothing (`vanishingPerSecond`). A decoded
    /// request starts the count again. 0 never closes. `connections.rejected_in_a_row`; default 100.
    public var rejectedInARow: Int = 100
    /// Metrics connections open at once; the next one is answered 503 and closed.
    /// `metrics.max_connections`; default 64.
    public var metricsMaxConnections: Int = 64
    /// Seconds a metrics connection may send nothing before it is closed (a half-sent request
    /// included). `metrics.idle_timeout`; default 60.
    public var metricsIdleTimeoutSeconds: Double = 60

    /// The longest request line plus headers the metrics listener reads (431 above it); a header
    /// field alone may have half of it. Prometheus sends a few hundred bytes.
    public static let metricsHeaderBytes = 16 * 1024

    /// The defaults above.
    public init() {}

    /// The low and high marks NIO turns the channel unwritable and writable again at.
    var writeBufferWaterMark: ChannelOptions.Types.WriteBufferWaterMark {
        .init(low: sendBufferBytes / 4, high: sendBufferBytes)
    }

    var stallTimeout: TimeAmount { .nanoseconds(Int64(stallTimeoutSeconds * 1e9)) }
    var metricsIdleTimeout: TimeAmount { .nanoseconds(Int64(metricsIdleTimeoutSeconds * 1e9)) }
}
