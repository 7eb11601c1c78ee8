import Testing

import ConcDaemon

/// The log throttle's window, driven with made-up instants: what is written, what is counted, and
/// that every event held back is reported once with its second's count.
@Suite struct LogThrottleTests {
    @Test func tenASecondAreWrittenTheRestCountedWithFivePeers() {
        let start = ContinuousClock.now
        var window = LogThrottle.Window(start: start)
        var written = 0
        var reported: [(Int, [String])] = []
        // 100 events in the first second from 8 peers, then 3 in the next.
        for index in 0..<100 {
            let (write, ended) = window.event(peer: "peer \(index % 8)", now: start + .milliseconds(index * 9), perSecond: 10)
            if write { written += 1 }
            if let ended { reported.append(ended) }
        }
        #expect(written == 10 && reported.isEmpty)
        #expect(window.held == 90 && window.peers == ["peer 2", "peer 3", "peer 4", "peer 5", "peer 6"])
        for index in 0..<3 {
            let (write, ended) = window.event(peer: "late", now: start + .milliseconds(1000 + index), perSecond: 10)
            #expect(write)
            if let ended { reported.append(ended) }
        }
        #expect(reported.count == 1 && reported[0].0 == 90 && reported[0].1.count == 5)
        // A second that held nothing back reports nothing; one that did is reported by roll alone.
        #expect(window.roll(now: start + .milliseconds(2500)) == nil)
        for index in 0..<12 { _ = window.event(peer: "p", now: start + .milliseconds(2600 + index), perSecond: 10) }
        #expect(window.roll(now: start + .milliseconds(3000)) == nil, "not a second old yet")
        let last = window.roll(now: start + .milliseconds(3700))
        #expect(last?.0 == 2 && last?.1 == ["p"])
        #expect(window.roll(now: start + .milliseconds(4800)) == nil, "reported once")
    }
}
