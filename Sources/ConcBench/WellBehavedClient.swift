import ConcProtocol
import Foundation
import Synchronization

/// A client that does everything right while others attack: one no-op at a time on the async pool,
/// each with its own id, each answer checked (the right id, ok), each round trip timed.
package final class WellBehavedClient: Sendable {
    /// What it saw.
    package struct Outcome: Sendable {
        /// Round trips answered correctly, in nanoseconds.
        package var samples: [UInt64] = []
        /// Answers that were not the right one (wrong id, not ok, undecodable), with the first few.
        package var wrong = 0
        package var firstWrong: [String] = []
        /// Why it stopped early, if it did (the daemon closed the connection or died).
        package var failure: String?

        /// The median round trip in microseconds.
        package var p50Microseconds: Double { Double(percentile(samples, 50)) / 1000 }
    }

    private let socketPath: String
    private let stopping = Atomic(false)
    private let outcome = Mutex(Outcome())
    private let done = DispatchSemaphore(value: 0)

    /// Starts submitting at once.
    package init(socketPath: String) {
        self.socketPath = socketPath
        let thread = Thread { [self] in
            run()
            done.signal()
        }
        thread.start()
    }

    /// Stops it and returns what it saw.
    package func stop() -> Outcome {
        stopping.store(true, ordering: .relaxed)
        done.wait()
        return outcome.withLock { $0 }
    }

    private func run() {
        let connection: RawConnection
        do {
            connection = try RawConnection(socketPath: socketPath)
        } catch {
            outcome.withLock { $0.failure = "\(error)" }
            return
        }
        var id: UInt64 = 0
        var samples: [UInt64] = []
        samples.reserveCapacity(1 << 16)
        defer { outcome.withLock { $0.samples += samples } }
        while !stopping.load(ordering: .relaxed) {
            id += 1
            let frame = Array(#"{"id":\#(id),"op":"submit","kind":"noop","pool":"async"}"#.utf8) + [10]
            let start = monotonicNanoseconds()
            do {
                try connection.send(frame)
                var answered = 0
                while answered == 0 {
                    answered = try connection.receive { bytes in
                        let reply = try? ReplyCodec.decode(bytes)
                        guard let reply, reply.ok, reply.id == id else {
                            let text = String(decoding: bytes, as: UTF8.self)
                            outcome.withLock {
                                $0.wrong += 1
                                if $0.firstWrong.count < 3 { $0.firstWrong.append(text) }
                            }
                            return
                        }
                    }
                }
            } catch {
                outcome.withLock { $0.failure = "\(error)" }
                return
            }
            samples.append(monotonicNanoseconds() - start)
            // Not a load generator: a client doing its own work between requests.
            usleep(200)
        }
    }
}

/// The resident memory of process `pid` in KiB (VmRSS), 0 if it cannot be read.
package func residentKiB(of pid: Int32) -> Int {
    guard let text = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return 0 }
    for line in text.split(separator: "\n") where line.hasPrefix("VmRSS:") {
        return Int(line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first ?? "") ?? 0
    }
    return 0
}
