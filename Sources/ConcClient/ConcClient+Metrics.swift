import ConcProtocol

extension ConcClient {
    /// The daemon's metrics in the Prometheus text format (0.0.4).
    public func metrics() async throws(ConcClientError) -> String {
        let reply = try await send(.metrics)
        guard reply.ok, let metrics = reply.metrics else {
            throw .rejected(reply.error ?? WireError(.internal, "the daemon sent a metrics reply without metrics"))
        }
        return metrics
    }
}
