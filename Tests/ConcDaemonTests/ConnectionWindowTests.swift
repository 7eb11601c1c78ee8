import ConcDaemon
import NIOCore
import Testing

/// The async pool's window per server, without a server: the first GET alone, growth on quick
/// answers (faster on flat ones), give-back on slow ones, a halving per round on a dropped
/// handshake, withdrawal at a deadline.
@Suite struct ConnectionWindowTests {
    private let quick = TimeAmount.milliseconds(1)

    /// Requests `count` GETs with ids from `first`; returns how many were admitted at once.
    private func request(_ window: inout ConnectionWindow, _ count: Int, from first: UInt64 = 0) -> Int {
        (0..<UInt64(count)).filter { window.request(id: first + $0) }.count
    }

    /// A window whose probe answered in `probe` with `count` GETs asked for: the initial window is
    /// out, the rest wait.
    private func opened(probe: TimeAmount, count: Int = 1000) -> ConnectionWindow {
        var window = ConnectionWindow(maximum: 1024)
        _ = request(&window, count)
        _ = window.finished(answeredIn: probe)
        return window
    }

    @Test func theFirstGETGoesAloneUntilItAnswersOrItsTimeIsUp() {
        var window = ConnectionWindow(maximum: 1024)
        #expect(request(&window, 1000) == 1 && window.probing)
        #expect(window.waitingCount == 999)
        // Its answer opens the initial window, without growth of its own.
        var answered = window
        let afterAnswer = answered.finished(answeredIn: quick)
        #expect(afterAnswer == Array(1...32) && answered.limit == ConnectionWindow.initial && !answered.probing)
        // A slow page that has not answered within the probe's time: the rest of the window follows.
        let afterTime = window.probeTimeElapsed()
        #expect(afterTime == Array(1..<32) && window.inFlight == ConnectionWindow.initial)
        #expect(window.probeTimeElapsed().isEmpty, "the probe's time ends once")
        // A GET that comes alone is the probe and answers: nothing waited, nothing grew.
        var idle = ConnectionWindow(maximum: 1024)
        _ = request(&idle, 1)
        _ = idle.finished(answeredIn: quick)
        #expect(idle.limit == ConnectionWindow.initial && idle.isIdle && !idle.probing)
    }

    @Test func flatAnswersQuadrupleTheWindowPerRoundAndSpreadOnesDoubleIt() {
        // A slow page: each GET takes its 50 ms however many wait; the window quadruples.
        var page = opened(probe: .milliseconds(50))
        var admitted: [UInt64] = []
        for _ in 0..<32 { admitted += page.finished(answeredIn: .milliseconds(55)) }
        #expect(page.limit == 4 * ConnectionWindow.initial && page.inFlight == 128)
        #expect(admitted == Array(33..<161), "the waiting GETs go in order")
        // A server that answers within twice its quickest, but spread (it starts to queue): doubles.
        var spread = opened(probe: quick)
        for _ in 0..<32 { _ = spread.finished(answeredIn: .microseconds(2_500)) }
        #expect(spread.limit == 2 * ConnectionWindow.initial)
        // Without waiting GETs the window does not grow: light load proves nothing about the server.
        var light = opened(probe: quick, count: 10)
        for _ in 0..<9 { _ = light.finished(answeredIn: quick) }
        #expect(light.limit == ConnectionWindow.initial && light.isIdle)
    }

    @Test func slowAnswersGiveTheGrowthBackDownToTheInitialWindow() {
        var window = opened(probe: quick)
        for _ in 0..<20 { _ = window.finished(answeredIn: .microseconds(2_500)) }
        #expect(window.limit == ConnectionWindow.initial + 20)
        // A server that queues (answers 10x slower than its quickest) gets a place less per answer,
        for _ in 0..<5 { _ = window.finished(answeredIn: .milliseconds(10)) }
        #expect(window.limit == ConnectionWindow.initial + 15)
        // never below the initial window.
        for _ in 0..<40 { _ = window.finished(answeredIn: .milliseconds(10)) }
        #expect(window.limit == ConnectionWindow.initial)
        // A page that is slow by itself (50 ms each time) keeps opening it.
        var slowPage = opened(probe: .milliseconds(50))
        for _ in 0..<20 { _ = slowPage.finished(answeredIn: .milliseconds(50)) }
        #expect(slowPage.limit == ConnectionWindow.initial + 20 * ConnectionWindow.growthPerFlatAnswer)
    }

    /// A window that doubled once (to 64) on spread answers, with 500 GETs asked for.
    private func doubledOnce() -> ConnectionWindow {
        var window = opened(probe: quick, count: 500)
        for _ in 0..<32 { _ = window.finished(answeredIn: .microseconds(2_500)) }
        return window
    }

    private let start = NIODeadline.uptimeNanoseconds(1_000_000_000)

    @Test func aSlowConnectHalvesTheWindowOncePerRound() {
        var window = doubledOnce()
        #expect(window.limit == 64)
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

    @Test func anAnswerASecondLateHalvesTheWindowAsASlowConnectDoes() {
        // The server dropped the handshake's last ACK: the connection looked open at once, the
        // answer came after the server sent its SYN-ACK again.
        var window = doubledOnce()
        #expect(window.limit == 64)
        let late = start + .seconds(1)
        _ = window.finished(answeredIn: .seconds(1), admitted: start, now: late)
        #expect(window.limit == 32 && window.threshold == 32)
        _ = window.finished(answeredIn: .seconds(1), admitted: start, now: late + .milliseconds(1))
        #expect(window.limit == 32, "GETs admitted before the cut do not cut again")
    }

    @Test func aGETThatGivesUpLeavesTheQueueAndTheMaximumBoundsTheWindow() {
        var window = ConnectionWindow(maximum: 3)
        #expect(request(&window, 5) == 1)
        #expect(window.probeTimeElapsed() == [1, 2])
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
