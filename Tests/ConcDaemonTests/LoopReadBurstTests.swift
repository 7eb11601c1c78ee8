import ConcDaemon
import NIOCore
import NIOEmbedded
import Synchronization
import Testing

/// A worker channel's read owes the client connections it answered one flush each, written when
/// the read ends; outside a read nothing is owed and the connection schedules its own flush.
@Suite struct LoopReadBurstTests {
    final class Connection: OwedFlush {
        let flushes = Atomic(0)
        func flushOwed(on channel: any Channel) { flushes.add(1, ordering: .relaxed) }
    }

    @Test func flushesOwedDuringAReadRunWhenItEndsAndOnlyThen() throws {
        let channel = EmbeddedChannel()
        let burst = LoopReadBurst.of(channel.eventLoop)
        let first = Connection()
        let second = Connection()
        #expect(!burst.owe(first, channel), "outside a read the connection schedules its own flush")
        burst.begin()
        burst.begin()
        #expect(burst.owe(first, channel))
        #expect(burst.owe(second, channel))
        #expect(first.flushes.load(ordering: .relaxed) == 0)
        burst.end()
        #expect(first.flushes.load(ordering: .relaxed) == 1)
        #expect(second.flushes.load(ordering: .relaxed) == 1)
        burst.end()
        #expect(first.flushes.load(ordering: .relaxed) == 1, "a second end owes nothing")
        #expect(!burst.owe(first, channel), "after the read nothing is owed")
        _ = try channel.finish()
    }

    @Test func eachEventLoopHasOneBurst() throws {
        let one = EmbeddedChannel()
        let other = EmbeddedChannel()
        #expect(LoopReadBurst.of(one.eventLoop) === LoopReadBurst.of(one.eventLoop))
        #expect(LoopReadBurst.of(one.eventLoop) !== LoopReadBurst.of(other.eventLoop))
        _ = try one.finish()
        _ = try other.finish()
    }
}
