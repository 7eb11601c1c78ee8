import ConcBench
import Foundation
import Testing

extension BinaryLevelTests {
    /// Hostile and careless clients, each against a daemon of its own while a well-behaved client
    /// keeps submitting and checking its answers: the daemon's memory stays within idle + 32 MiB and
    /// comes back, no answer is wrong, and each connection it gives up on is logged once. (The same
    /// clients run for 60 s each in `make soak`, whose figures are in docs/reliability.md.)
    @Suite struct HostileClientTests {
        /// The daemon gives up on stalled and idle connections after this long.
        static let giveUp = 3.0

        @Test(arguments: HostileKind.allCases)
        func theDaemonStaysBoundedAndServesOthers(_ kind: HostileKind) async throws {
            let result = try await blocking {
                var template = Array("/tmp/concd-hostile-XXXXXX".utf8CString)
                let directory = String(cString: try #require(mkdtemp(&template)))
                defer { try? FileManager.default.removeItem(atPath: directory) }
                let soak = Soak(
                    executable: binaryDirectory + "/concd", quietSeconds: 1, attackSeconds: 4, giveUpSeconds: Self.giveUp,
                    directory: directory
                )
                return try soak.run(kind)
            }
            let hostile = result.hostile
            let context = "\(kind.rawValue): \(hostile); log:\n\(result.giveUpLines.prefix(5).joined(separator: "\n"))"
            // Memory, answers, liveness; not the p50 ratio (a time), which the soak reports.
            #expect(Soak.missedTargets(result, timed: false).isEmpty, "\(Soak.missedTargets(result, timed: false)) \(context)")
            let lines = result.giveUpLines
            func count(_ marker: String) -> Int { lines.filter { $0.contains(marker) }.count }

            switch kind {
            case .controlNonReader, .metricsNonReader:
                // Reading stopped (or the replies would have outgrown memory in the seconds before
                // each give-up), and each connection given up on was logged once, naming the peer.
                #expect(hostile.closedByDaemon >= 1, "\(context)")
                let disconnects = count("disconnecting a client that has not read its replies")
                #expect(disconnects >= hostile.closedByDaemon && disconnects <= hostile.closedByDaemon + 1, "\(context)")
                let peer = kind == .controlNonReader ? "peer_uid=" : "peer=[IPv4]127.0.0.1"
                #expect(lines.allSatisfy { $0.contains(peer) }, "\(context)")
                if kind == .controlNonReader {
                    // What the sockets' buffers hold plus one read: reading stopped. (Read on,
                    // the daemon took about 250 KB a second from this client.)
                    #expect(hostile.mostBytesOnOneConnection < 512 * 1024, "\(context)")
                }
            case .endlessHeader:
                // The first connections were answered 431 and closed after a bounded header; past its
                // burst of refused requests the peer's connections were closed at accept, unanswered.
                let answered = hostile.statuses[431] ?? 0
                #expect(answered >= 1 && hostile.statuses.count == 1 && hostile.closedByDaemon > answered, "\(context)")
                #expect(count("refusing connections from a peer") == 1 && count("peer=127.0.0.1") >= 1, "\(context)")
                // Each 431 counted once, in a line of its own or (past 10 a second) in a line's count.
                let refusals = Soak.events(in: lines.filter { $0.contains("refused a metrics request") || $0.contains("refused more metrics requests") })
                #expect(refusals >= answered && refusals <= answered + 1, "\(context)")
                #expect(lines.count <= 11 * 6, "at most 10 lines and a count a second: \(lines.count) \(context)")
            case .idleCrowd:
                // 64 metrics connections at once: of 100, the rest were answered 503; the idle ones
                // were closed after the idle timeout, each logged once.
                #expect((hostile.statuses[503] ?? 0) >= 1, "\(context)")
                #expect(count("refusing metrics connections") >= 1, "\(context)")
                #expect(count("closing an idle metrics connection") <= 100, "\(context)")
            case .connectAndVanish:
                #expect(hostile.connections >= 100, "\(context)")
                #expect(lines.count <= hostile.connections / 100, "vanishing peers are not worth a log line each: \(context)")
                // Past its burst the attacker was refused at accept, on each listener, and said so once each.
                let refusing = lines.filter { $0.contains("refusing connections from a peer") }
                #expect(refusing.count == 2, "\(context)")
                #expect(refusing.contains { $0.contains("peer_pid=\(getpid())") }, "\(context)")
                #expect(refusing.contains { $0.contains("peer=127.0.0.1") }, "\(context)")
            case .halfFrames:
                // Half a frame is not an error: the connections are held, at 64 KiB each at most.
                #expect(hostile.connections == 200 && hostile.closedByDaemon == 0, "\(context)")
            case .fuzz:
                // Lines are answered, and a connection costs two log lines at most, not one per frame.
                #expect(hostile.replies > 0 && hostile.frames > 1000, "\(context)")
                #expect(count("rejected a request") <= 2 * hostile.connections, "\(context)")
                // Connections that sent only garbage were closed after 100 rejected frames in a row
                // (throttled lines), and past its burst the fuzzer was refused at accept, said once.
                #expect(hostile.closedByDaemon >= 1 && count("rejected requests in a row") >= 1, "\(context)")
                #expect(Soak.events(in: lines.filter { $0.contains("rejected requests in a row") }) <= hostile.connections, "\(context)")
                #expect(count("refusing connections from a peer") == 1 && count("peer_pid=\(getpid())") >= 1, "\(context)")
            }
        }
    }
}
