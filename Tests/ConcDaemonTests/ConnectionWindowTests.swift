import ConcDaemon
import NIOCore
import Testing

/// The async pool's window per server, without a server: growth on quick answers, a halving per
/// round on a dropped SYN's slow connect, withdrawal at a deadline.
@Suite struct ConnectionWindowTests {
    private let quick = TimeAmount.milliseconds(1)

    /// Requests `count` GETs with ids from `first`; returns how many were admitted at once.
    private func request(_ window: inout ConnectionWindow, _ count: Int, from first: UInt64 = 0) -> Int {
        (0..<UInt64(count)).filter { window.request(id: first + $0) }.count
    }

    @Test func aBurstStartsAtTheInitialWindowAndQuickAnswersDoubleItPerRound() {
        var window = ConnectionWindow(maximum: 1024)
        #expect(request(&window, 1000) == ConnectionWindow.initial)
        #expect(window.waitingCount == 1000 - ConnectionWindow.initial)
        // Each quick answer admits the next GET and one more: 32 answers open 64 places.
        var admitted: [UInt64] = []
        for _ in 0..<ConnectionWindow.initial { admitted += window.finished(answeredIn: quick) }
        #expect(window.limit == 2 * ConnectionWindow.initial && window.inFlight == 64)
        #expect(admitted == Array(32..<96), "the waiting GETs go in order")
        // Without waiting GETs the window does not grow: light load proves nothing about the server.
        var idle = ConnectionWindow(maximum: 1024)
        _ = request(&idle, 4)
        for _ in 0..<4 { _ = idle.finished(answeredIn: quick) }
        #expect(idle.limit == ConnectionWindow.initial && idle.isIdle)
    }

    @Test func slowAnswersDoNotOpenTheWindow() {
        var window = ConnectionWindow(maximum: 1024)
        _ = request(&window, 200)
        _ = window.finished(answeredIn: .milliseconds(1))
        let opened = window.limit
        // A server that starts to queue (answers 10x slower than its quickest) gets no more at once.
        for _ in 0..<20 { _ = window.finished(answeredIn: .milliseconds(10)) }
        #expect(window.limit == opened)
        // A page that is slow by itself (50 ms each time) keeps opening it.
        var slowPage = ConnectionWindow(maximum: 1024)
        _ = request(&slowPage, 200)
        for _ in 0..<20 { _ = slowPage.finished(answeredIn: .milliseconds(50)) }
        #expect(slowPage.limit == ConnectionWindow.initial + 20)
    }

    @Test func aSlowConnectHalvesTheWindowOncePerRound() {
        var window = ConnectionWindow(maximum: 1024)
        _ = request(&window, 500)
        for _ in 0..<32 { _ = window.finished(answeredIn: quick) }
        #expect(window.limit == 64)
        let start = NIODeadline.uptimeNanoseconds(1_000_000_000)
        let second = start + .seconds(1)
        // Two GETs admitted at `start` met dropped SYNs: one halving, not two.
        window.connected(admitted: start, connectTime: .seconds(1), now: second)
        window.connected(admitted: start, connectTime: .seconds(1), now: second + .milliseconds(1))
        #expect(window.limit == 32 && window.threshold == 32)
        // A quick connect changes nothing; a slow one of a GET admitted after the cut halves again.
        window.connected(admitted: second, connectTime: .milliseconds(2), now: second + .milliseconds(3))
        #expect(window.limit == 32)
        window.connected(admitted: second + .milliseconds(5), connectTime: .seconds(1), now: second + .seconds(2))
        #expect(window.limit == 16)
        // Above the threshold it grows by one per window's worth of quick answers.
        let before = window.limit
        for _ in 0..<before { _ = window.finished(answeredIn: quick) }
        #expect(window.limit == before + 1)
    }

    @Test func aGETThatGivesUpLeavesTheQueueAndTheMaximumBoundsTheWindow() {
        var window = ConnectionWindow(maximum: 3)
        #expect(request(&window, 5) == 3)
        let withdrawn = window.withdraw(id: 3)
        let admittedWithdrawn = window.withdraw(id: 0)
        #expect(withdrawn)
        #expect(!admittedWithdrawn, "an admitted GET is not withdrawn: it finishes and gives its place back")
        #expect(window.finished(answeredIn: quick) == [4])
        #expect(window.limit == 3 && window.waitingCount == 0)
        for _ in 0..<3 { _ = window.finished(answeredIn: nil) }
        #expect(window.isIdle)
    }
}
