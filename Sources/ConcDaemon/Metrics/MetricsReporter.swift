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
    /// Claims and their total seconds at the last report, for the claim latency since then.
    private let lastClaims = Mutex<(Int, Double)>((0, 0))

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
        let status = dispatcher.status()
        if let queue = status.queue { report(queue) }
        for pool in status.pools {
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
            emit(message, fields)
        }
    }

    private func emit(_ message: String, _ fields: [(String, String)]) {
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

    /// The fleet's queue: depth per state, this host's claims (with their mean latency since the last
    /// report), completions, fenced completions and rescues.
    private func report(_ queue: QueueStatus) {
        let (claims, seconds) = (queue.claims ?? 0, queue.claimSeconds ?? 0)
        let (lastClaims, lastSeconds) = lastClaims.withLock { last in
            defer { last = (claims, seconds) }
            return last
        }
        let newClaims = claims - lastClaims
        let claimMilliseconds = newClaims > 0 ? (seconds - lastSeconds) / Double(newClaims) * 1000 : 0
        var fields: [(String, String)] = [
            ("CONCD_QUEUE_HOST", queue.host),
            ("CONCD_QUEUE_CONNECTED", queue.connected ? "1" : "0"),
            ("CONCD_QUEUE_HOSTS", String(queue.hosts.count)),
            ("CONCD_QUEUE_RUNNING_HERE", String(queue.running)),
            ("CONCD_QUEUE_CLAIMED", String(queue.claimed)),
            ("CONCD_QUEUE_COMPLETED", String(queue.completed)),
            ("CONCD_QUEUE_FENCED", String(queue.fenced)),
            ("CONCD_QUEUE_RESCUED", String(queue.rescued)),
            ("CONCD_QUEUE_CLAIM_MS", format2(claimMilliseconds)),
        ]
        for state in JobState.allCases { fields.append(("CONCD_QUEUE_\(state.rawValue.uppercased())", String(queue.jobs[state.rawValue] ?? 0))) }
        let message = queue.connected
            ? "queue: \(queue.jobs["queued"] ?? 0) queued, \(queue.jobs["running"] ?? 0) running, \(queue.hosts.count) hosts; "
                + "here \(queue.running) running, claim \(format2(claimMilliseconds)) ms, \(queue.rescued) rescued"
            : "queue unavailable: \(queue.problem ?? "connecting")"
        emit(message, fields)
    }

    private func format2(_ value: Double) -> String {
        String((value * 100).rounded() / 100)
    }
}
