import ConcDaemon
import ConcProtocol
import Testing

@Suite struct ReportingTests {
    @Test func ratesReadLikeAPersonWouldWriteThem() {
        #expect(StatusLine.rate(0) == "0")
        #expect(StatusLine.rate(950.4) == "950")
        #expect(StatusLine.rate(1234) == "1.2k")
        #expect(StatusLine.rate(35_400) == "35k")
        #expect(StatusLine.rate(1_530_000) == "1.5M")
    }

    @Test func theStatusLineSummarisesEveryPool() {
        let status = DaemonStatus(pid: 1, version: "x", uptimeSeconds: 1, socket: "/s", pools: [
            PoolStatus(kind: .process, size: 4, busy: 3, idle: 1, queued: 0, queueLimit: 10, completed: 0, failed: 0),
            PoolStatus(kind: .thread, size: 16, busy: 2, idle: 14, queued: 5, queueLimit: 10, completed: 0, failed: 0),
            PoolStatus(kind: .async, size: 100, busy: 120, idle: 0, queued: 0, queueLimit: 0, completed: 0, failed: 0),
        ])
        #expect(
            StatusLine.render(status, tasksPerSecond: 1200)
                == "process 3/4 busy q=0 | thread 2/16 busy q=5 | async 120 in flight | 1.2k tasks/s"
        )
    }

    @Test func metadataKeysBecomeJournalFieldNames() {
        #expect(Journal.fieldName("pool") == "CONCD_POOL")
        #expect(Journal.fieldName("process_workers") == "CONCD_PROCESS_WORKERS")
        #expect(Journal.fieldName("ping-every.ms") == "CONCD_PING_EVERY_MS")
    }

    @Test func latenciesAreSummarisedPerInterval() {
        let counters = PoolCounters()
        for microseconds in 1...100 as ClosedRange<UInt64> {
            counters.record(.success(.empty), wallMicroseconds: microseconds * 10)
        }
        counters.record(.failure(WireError(.timeout, "t")), wallMicroseconds: 5000)
        let summary = counters.takeLatencies()
        #expect(summary.count == 101)
        // Two significant digits: each percentile is within 1% of the exact value.
        #expect((490...515).contains(summary.p50))
        #expect((980...1020).contains(summary.p99))
        #expect(counters.completed.load(ordering: .relaxed) == 100)
        #expect(counters.failed.load(ordering: .relaxed) == 1)
        #expect(counters.takeLatencies().count == 0)
    }
}
