import ConcProtocol
import Logging
import ServiceLifecycle
import Synchronization

/// Writes one throughput record per pool every interval: to the journal as `CONCD_*` fields under a
/// fixed MESSAGE_ID (so `journalctl -u concd CONCD_POOL=process -o json` is a time series), or, with
/// no journal, as a log line with the same fields as metadata.
final class MetricsReporter: Service, Sendable {
    /// The MESSAGE_ID of every metrics record.
    static let messageID = "5b1c2f0e8a9d4e7b9c3a6f1d2e4b8a70"

    private let dispatcher: Dispatcher
    private let interval: Mutex<Double>
    private let toJournal: Bool
    private let logger: Logger

    /// Creates a reporter that writes every `intervalSeconds`, to the journal when `toJournal`.
    init(dispatcher: Dispatcher, intervalSeconds: Double, toJournal: Bool, logger: Logger) {
        self.dispatcher = dispatcher
        self.interval = Mutex(intervalSeconds)
        self.toJournal = toJournal
        self.logger = logger
    }

    /// Changes the interval from the next record on (reload).
    func setInterval(seconds: Double) {
        interval.withLock { $0 = seconds }
    }

    func run() async throws {
        for entry in dispatcher.registry.entries { _ = entry.counters.takeLatencies() }
        try? await cancelWhenGracefulShutdown { [self] in
            var meter = ThroughputMeter()
            _ = meter.sample(dispatcher.registry)
            while !Task.isCancelled {
                let seconds = interval.withLock { $0 }
                try await Task.sleep(for: .milliseconds(Int(seconds * 1000)))
                report(rates: meter.sample(dispatcher.registry))
            }
        }
    }

    private func report(rates: [PoolName: Double]) {
        for pool in dispatcher.status().pools {
            guard let counters = dispatcher.registry.entry(pool.kind)?.counters else { continue }
            let latency = counters.takeLatencies()
            let rate = rates[pool.kind] ?? 0
            var fields: [(String, String)] = [
                ("CONCD_POOL", pool.kind.rawValue),
                ("CONCD_MODEL", pool.resolvedModel?.rawValue ?? ""),
                ("CONCD_SIZE", String(pool.size)),
                ("CONCD_BUSY", String(pool.busy)),
                ("CONCD_QUEUED", String(pool.queued)),
                ("CONCD_TASKS_COMPLETED", String(pool.completed)),
                ("CONCD_TASKS_FAILED", String(pool.failed)),
                ("CONCD_TASKS_REJECTED", String(counters.rejected.load(ordering: .relaxed))),
                ("CONCD_TASKS_RETRIED", String(counters.retried.load(ordering: .relaxed))),
                ("CONCD_TASKS_PER_SEC", String(format2(rate))),
                ("CONCD_P50_US", String(latency.p50)),
                ("CONCD_P99_US", String(latency.p99)),
            ]
            if let minimum = pool.minimum, let maximum = pool.maximum {
                fields += [("CONCD_SIZE_MIN", String(minimum)), ("CONCD_SIZE_MAX", String(maximum))]
            }
            let message = "\(pool.kind) pool: \(StatusLine.rate(rate)) tasks/s, busy \(pool.busy)/\(pool.sizeText), "
                + "queued \(pool.queued), p50 \(latency.p50) µs, p99 \(latency.p99) µs"
            if toJournal {
                Journal.send(
                    [("MESSAGE", message), ("MESSAGE_ID", Self.messageID), ("PRIORITY", "6"), ("SYSLOG_IDENTIFIER", "concd")]
                        + fields.map { (name: $0.0, value: $0.1) }
                )
            } else {
                var metadata: Logger.Metadata = [:]
                for (name, value) in fields { metadata[name.lowercased()] = "\(value)" }
                logger.info("\(message)", metadata: metadata)
            }
        }
    }

    private func format2(_ value: Double) -> String {
        String((value * 100).rounded() / 100)
    }
}
