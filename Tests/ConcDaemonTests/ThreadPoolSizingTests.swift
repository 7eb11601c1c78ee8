import ConcDaemon
import Testing

/// The thread pool's bounds as a value: growth, retirement, resize and abandonment, without threads.
@Suite struct ThreadPoolSizingTests {
    @Test func aBurstGrowsOneThreadPerWaitingJobUpToTheMaximum() {
        var sizing = ThreadPoolSizing(minimum: 2, maximum: 5)
        #expect(sizing.start() == [0, 1])
        sizing.threadReady()
        sizing.threadReady()
        // Both threads busy; five jobs wait with no thread parked.
        var starts: [ThreadPoolSizing.Start] = []
        for unserved in 1...5 {
            if let start = sizing.workWaits(unserved: unserved) { starts.append(start) }
        }
        #expect(starts.map(\.index) == [2, 3, 4])
        #expect(starts.map(\.milestone) == [.leftMinimum, nil, .reachedMaximum])
        #expect(sizing.running == 5 && sizing.peak == 5)
        // A job that a thread on its way will take starts no other.
        var quiet = ThreadPoolSizing(minimum: 1, maximum: 8)
        _ = quiet.start()
        quiet.threadReady()
        #expect(quiet.workWaits(unserved: 1)?.index == 1)
        #expect(quiet.workWaits(unserved: 1) == nil)
        #expect(quiet.workWaits(unserved: 2)?.index == 2)
        quiet.threadReady()
        quiet.threadReady()
        #expect(quiet.workWaits(unserved: 0) == nil)
    }

    @Test func idleThreadsRetireDownToTheMinimumAndNoFurther() {
        var sizing = ThreadPoolSizing(minimum: 2, maximum: 4)
        _ = sizing.start()
        sizing.threadReady()
        sizing.threadReady()
        _ = sizing.workWaits(unserved: 2)
        _ = sizing.workWaits(unserved: 2)
        #expect(sizing.running == 4 && sizing.idleThreadsMayRetire)
        #expect(sizing.idleTimedOut() == (true, nil))
        let last = sizing.idleTimedOut()
        #expect(last.retire && last.milestone == .backAtMinimum(peak: 4))
        #expect(!sizing.idleThreadsMayRetire)
        #expect(sizing.idleTimedOut() == (false, nil))
        #expect(sizing.running == 2)
    }

    @Test func resizeSetsTheMinimumAndAReloadTheMaximum() {
        var sizing = ThreadPoolSizing(minimum: 2, maximum: 4)
        _ = sizing.start()
        // resize 6: the minimum above the maximum raises it; four threads start at once.
        #expect(sizing.setBounds(minimum: 6, maximum: sizing.maximum) == [2, 3, 4, 5])
        #expect(sizing.minimum == 6 && sizing.maximum == 6 && !sizing.isElastic)
        // A reload lowers both: threads above the maximum leave when free, not after their idle time.
        #expect(sizing.setBounds(minimum: 1, maximum: 3) == [])
        #expect(sizing.threadFree() == (true, nil))
        #expect(sizing.threadFree() == (true, nil))
        #expect(sizing.threadFree() == (true, nil))
        #expect(sizing.threadFree() == (false, nil))
        #expect(sizing.running == 3)
        // The two above the new minimum wait their idle time.
        #expect(sizing.idleTimedOut().retire && sizing.idleTimedOut().retire && !sizing.idleTimedOut().retire)
    }

    @Test func anAbandonedThreadIsReplacedOnlyBelowTheMinimumAndNothingStartsAfterClose() {
        var sizing = ThreadPoolSizing(minimum: 2, maximum: 4)
        _ = sizing.start()
        sizing.threadReady()
        sizing.threadReady()
        _ = sizing.workWaits(unserved: 1)
        #expect(sizing.abandoned() == nil)
        #expect(sizing.abandoned() == 3)
        sizing.close()
        #expect(sizing.abandoned() == nil)
        #expect(sizing.workWaits(unserved: 10) == nil)
        #expect(sizing.setBounds(minimum: 8, maximum: 8) == [])
    }

    /// Random events; after each, the count stays within its bounds (allowing for threads that
    /// must first finish a job to leave), never goes negative, and thread names are never reused.
    @Test(arguments: 0..<200) func randomEventsKeepTheCountInItsBounds(seed: UInt64) {
        var random = SplitMix64(seed: seed)
        var minimum = 1 + Int(random.next() % 4)
        var maximum = minimum + Int(random.next() % 6)
        var sizing = ThreadPoolSizing(minimum: minimum, maximum: maximum)
        var names = Set(sizing.start())
        var starting = names.count
        func started(_ indexes: [Int]) {
            for index in indexes { #expect(names.insert(index).inserted, "thread \(index) named twice") }
            starting += indexes.count
        }
        for _ in 0..<300 {
            switch random.next() % 7 {
            case 0:
                if let start = sizing.workWaits(unserved: Int(random.next() % 6)) { started([start.index]) }
            case 1:
                if starting > 0 {
                    sizing.threadReady()
                    starting -= 1
                }
            case 2 where sizing.running > starting:
                let before = sizing.running
                let decision = sizing.idleTimedOut()
                #expect(decision.retire == (before > minimum))
            case 3 where sizing.running > starting:
                _ = sizing.threadFree()
            case 4:
                if sizing.running > starting, let replacement = sizing.abandoned() { started([replacement]) }
            case 5:
                minimum = 1 + Int(random.next() % 6)
                maximum = minimum + Int(random.next() % 6)
                started(sizing.setBounds(minimum: minimum, maximum: maximum))
            case 6:
                minimum = 1 + Int(random.next() % 6)
                started(sizing.setBounds(minimum: minimum, maximum: sizing.maximum))
                maximum = sizing.maximum
            default:
                break
            }
            #expect(sizing.running >= 0 && sizing.starting >= 0 && sizing.starting == starting)
            #expect(sizing.running >= sizing.minimum, "below the minimum without a replacement")
            #expect(sizing.minimum <= sizing.maximum)
        }
    }
}
