import ConcProtocol
import Foundation
import Testing

/// The additive protocol fields of issue 6: the metrics op and reply, and the status fields top and compare read.
@Suite struct VisibilityProtocolTests {
    @Test func theMetricsOperationRoundTripsAndCanBeTyped() throws {
        let request = Request(id: 11, operation: .metrics)
        #expect(try RequestCodec.decode(RequestCodec.encode(request)) == request)
        #expect(try RequestCodec.decode(Array(#"{"op":"metrics"}"#.utf8)) == Request(id: nil, operation: .metrics))
    }

    @Test func anUnknownOperationNamesMetricsAmongTheKnownOnes() {
        do {
            _ = try RequestCodec.decode(Array(#"{"id":1,"op":"scrape"}"#.utf8))
            Issue.record("an unknown op was accepted")
        } catch {
            #expect(error.error.code == .unknownOperation)
            #expect(error.error.message.contains("metrics"))
        }
    }

    @Test func theMetricsReplyCarriesTheText() throws {
        let reply = Reply(id: 3, ok: true, metrics: "concd_uptime_seconds 1.5\n")
        let text = String(decoding: ReplyCodec.encode(reply), as: UTF8.self)
        #expect(text == #"{"id":3,"metrics":"concd_uptime_seconds 1.5\n","ok":true}"#)
        #expect(try ReplyCodec.decode(Array(text.utf8)) == reply)
    }

    @Test func theNewStatusFieldsUseTheDocumentedNames() throws {
        var pool = PoolStatus(kind: .thread, size: 8, busy: 2, idle: 6, queued: 1, queueLimit: 100, completed: 40, failed: 1)
        pool.rejected = 3
        pool.tasksPerSecond = 12.5
        pool.p50Microseconds = 900
        pool.p99Microseconds = 4000
        var status = DaemonStatus(pid: 1, version: "0.1.0", uptimeSeconds: 2, socket: "/s", pools: [pool])
        status.cpu = CPUUsage(daemonSeconds: 0.25, workersSeconds: 1.5)
        let data = try JSONEncoder().encode(status)
        let object = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        let cpu = try #require(object["cpu"] as? [String: Any])
        #expect(cpu["daemon_s"] as? Double == 0.25)
        #expect(cpu["workers_s"] as? Double == 1.5)
        let first = try #require((object["pools"] as? [[String: Any]])?.first)
        #expect(first["rejected"] as? Int == 3)
        #expect(first["tasks_per_s"] as? Double == 12.5)
        #expect(first["p50_us"] as? Int == 900)
        #expect(first["p99_us"] as? Int == 4000)
        #expect(try JSONDecoder().decode(DaemonStatus.self, from: data) == status)
    }

    @Test func aStatusWithoutTheNewFieldsStillDecodes() throws {
        let old = #"{"pid":1,"version":"0.1.0","uptime_s":1,"socket":"/s","pools":[{"kind":"process","size":1,"busy":0,"idle":1,"queued":0,"queue_limit":5,"completed":0,"failed":0}]}"#
        let status = try JSONDecoder().decode(DaemonStatus.self, from: Data(old.utf8))
        #expect(status.cpu == nil)
        #expect(status.pools[0].tasksPerSecond == nil)
        #expect(status.pools[0].rejected == nil)
    }
}
