import ConcClient
import ConcProtocol
import ConcSystem
import Foundation
import Logging
import Testing

import ConcDaemon

/// The daemon as a library on a temporary socket, driven through ConcClient.
@Suite struct DaemonTests {
    private func withDaemon(
        namedPools: [PoolConfiguration] = [], _ body: (ConcClient, String) async throws -> Void
    ) async throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let socketPath = directory + "/concd.sock"
        var configuration = DaemonConfiguration(
            socketPath: socketPath, processWorkers: 2, threads: 4, workerExecutable: workerExecutable
        )
        configuration.namedPools = namedPools
        let daemon = Daemon(configuration: configuration, logger: Logger(label: "test"))
        let running = Task { try await daemon.run() }
        await daemon.waitUntilReady()
        do {
            let client = try await ConcClient.connect(socketPath: socketPath)
            try await body(client, socketPath)
            await client.close()
        } catch {
            await daemon.shutdown()
            _ = await running.result
            throw error
        }
        await daemon.shutdown()
        try await running.value
        #expect(!FileManager.default.fileExists(atPath: socketPath), "the socket outlived the daemon")
    }

    @Test func everyWorkloadRunsOnEveryPoolThatCanRunIt() async throws {
        try await withDaemon { client, _ in
            try await withLoopbackServer { server in
                for kind in WorkloadKind.builtIn {
                    let workload: Workload
                    switch kind {
                    case .cpu: workload = .cpu(n: 1_000_000)
                    case .io: workload = .io(url: server.baseURL + "/")
                    case .async: workload = .async(url: server.baseURL + "/")
                    case .sleep: workload = .sleep(milliseconds: 10)
                    case .noop: workload = .noop
                    case .call, .exec: continue
                    }
                    for pool in kind.supportedPools {
                        let reply = try await client.submit(try Submission(workload: workload, pool: pool))
                        #expect(reply.ok, "\(kind) on \(pool): \(String(describing: reply.error))")
                        #expect(reply.pool == pool)
                        #expect(reply.kind == kind)
                        #expect(reply.worker != nil)
                        #expect(reply.wallMicroseconds != nil)
                        if kind == .cpu { #expect(reply.value == .integer(499_999_500_000)) }
                        if pool == .process { #expect(reply.workerPID != nil) }
                    }
                }
            }
            let status = try await client.status()
            #expect(status.pools.map(\.kind) == [.process, .thread, .async])
            #expect(status.pools.reduce(0) { $0 + $1.completed } == 12)
        }
    }

    @Test func oneConnectionCarriesManyRequestsInFlight() async throws {
        try await withDaemon { client, _ in
            let replies = try await withThrowingTaskGroup(of: (Int64, Reply).self) { group in
                for n in 0..<500 as Range<Int64> {
                    group.addTask {
                        let pool: PoolName = [.process, .thread, .async][Int(n % 3)]
                        return (n, try await client.submit(try Submission(workload: .cpu(n: n), pool: pool)))
                    }
                }
                return try await group.reduce(into: [(Int64, Reply)]()) { $0.append($1) }
            }
            #expect(replies.count == 500)
            for (n, reply) in replies {
                #expect(reply.value == .integer(n == 0 ? 0 : (n * (n - 1)) / 2))
            }
        }
    }

    /// Many frames in one write arrive in one read burst; the replies made inside it (ping, async
    /// no-ops, a bad frame) and those finished on pool threads meanwhile must all come out.
    @Test func aBurstOfFramesInOneWriteIsAnsweredInFull() async throws {
        try await withDaemon { _, socketPath in
            var frames: [UInt8] = []
            let count = 300
            for id in 1...UInt64(count) {
                let operation: Request.Operation
                switch id % 5 {
                case 0: operation = .ping
                case 1: operation = .submit(try Submission(workload: .noop, pool: .async))
                case 2: operation = .submit(try Submission(workload: .noop, pool: .thread))
                case 3: operation = .submit(try Submission(workload: .noop, pool: .process))
                default: operation = .submit(try Submission(workload: .cpu(n: Int64(id)), pool: .async))
                }
                frames += RequestCodec.encode(Request(id: id, operation: operation)) + [UInt8(ascii: "\n")]
            }
            frames += Array(#"{"id":9999,"op":"dance"}"#.utf8) + [UInt8(ascii: "\n")]
            let descriptor = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
            #expect(descriptor >= 0)
            defer { close(descriptor) }
            let connected = try UnixSocketAddress(path: socketPath).withSockAddr { connect(descriptor, $0, $1) }
            #expect(connected == 0)
            #expect(frames.withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) } == frames.count)
            var received: [UInt8] = []
            var buffer = [UInt8](repeating: 0, count: 65_536)
            var timeout = timeval(tv_sec: 10, tv_usec: 0)
            setsockopt(descriptor, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
            while received.count(where: { $0 == UInt8(ascii: "\n") }) < count + 1 {
                let got = read(descriptor, &buffer, buffer.count)
                guard got > 0 else { break }
                received += buffer[..<got]
            }
            let replies = try received.split(separator: UInt8(ascii: "\n")).map { try ReplyCodec.decode($0) }
            #expect(replies.count == count + 1)
            #expect(Set(replies.compactMap(\.id)) == Set(1...UInt64(count)).union([9999]))
            #expect(replies.filter { !$0.ok }.map(\.id) == [9999])
        }
    }

    @Test func statusShowsEachPoolsCounters() async throws {
        try await withDaemon { client, socketPath in
            _ = try await client.submit(try Submission(workload: .cpu(n: 10)))
            _ = try await client.submit(try Submission(workload: .io(url: "http://127.0.0.1:1/")))
            let status = try await client.status()
            #expect(status.socket == socketPath)
            #expect(status.pid == getpid())
            let process = status.pools[0]
            #expect(process.kind == .process && process.size == 2 && process.completed == 1)
            #expect(process.workers?.count == 2)
            let thread = status.pools[1]
            #expect(thread.kind == .thread && thread.size == 4 && thread.failed == 1 && thread.idle == 4)
            #expect(try await client.ping() == ProtocolLimits.version)
        }
    }

    @Test func twoProcessPoolsRunSideBySideEachByName() async throws {
        let crunch = try #require(PoolName(rawValue: "crunch"))
        let fetch = try #require(PoolName(rawValue: "fetch"))
        try await withDaemon(namedPools: [
            PoolConfiguration(name: crunch, model: .process, size: 1),
            PoolConfiguration(name: fetch, model: .thread, size: 2),
        ]) { client, _ in
            let onCrunch = try await client.submit(try Submission(workload: .cpu(n: 1000), pool: crunch))
            #expect(onCrunch.ok && onCrunch.pool == crunch && onCrunch.value == .integer(499_500))
            let onProcess = try await client.submit(try Submission(workload: .cpu(n: 1000), pool: .process))
            #expect(onProcess.ok && onProcess.pool == .process)
            #expect(onCrunch.workerPID != nil && onProcess.workerPID != nil && onCrunch.workerPID != onProcess.workerPID)
            let natural = try await client.submit(try Submission(workload: .cpu(n: 10)))
            #expect(natural.pool == .process, "a submission that names no pool goes to its workload's built-in pool")

            // The daemon, not the client, knows a named pool's model and what it can run.
            let refused = try await client.submit(try Submission(workload: .async(url: "http://127.0.0.1:1/"), pool: crunch))
            #expect(refused.error?.code == .unsupportedPool)
            let noRetries = try await client.submit(try Submission(workload: .sleep(milliseconds: 1), pool: fetch, retries: 1))
            #expect(noRetries.error?.code == .invalidArgument)
            let gpu = try #require(PoolName(rawValue: "gpu"))
            let unknown = try await client.submit(try Submission(workload: .noop, pool: gpu))
            #expect(unknown.error?.code == .unsupportedPool)
            #expect(unknown.error?.message.contains("process, thread, async, crunch, fetch") == true)

            let status = try await client.status()
            #expect(status.pools.map(\.kind) == [.process, .thread, .async, crunch, fetch])
            #expect(status.pools.map(\.model) == [.process, .thread, .async, .process, .thread])
            let crunchStatus = try #require(status.pools.first { $0.kind == crunch })
            #expect(crunchStatus.size == 1 && crunchStatus.completed == 1 && crunchStatus.workers?.count == 1)
            #expect(status.pools[0].completed == 2)
            #expect(StatusLine.render(status).contains("crunch 0/1 busy q=0 | fetch 0/2 busy (2-256) q=0"))

            // Admin operations reach a named pool through the Pool protocol alone.
            let resized = try await client.send(.resize(pool: crunch, size: 2))
            #expect(resized.ok, "\(String(describing: resized.error))")
            #expect(try await client.status().pools.first { $0.kind == crunch }?.size == 2)
            let tooLarge = try await client.send(.resize(pool: crunch, size: 2000))
            #expect(tooLarge.error?.code == .invalidArgument)
            let pid = try #require(onCrunch.workerPID)
            let killed = try await client.send(.killWorker(pid: pid))
            #expect(killed.ok, "\(String(describing: killed.error))")
            #expect(try await client.send(.killWorker(pid: 1)).error?.code == .notFound)
        }
    }

    @Test func aSecondDaemonOnTheSameSocketIsRefused() async throws {
        try await withDaemon { _, socketPath in
            let second = Daemon(
                configuration: DaemonConfiguration(socketPath: socketPath, processWorkers: 1, threads: 1, workerExecutable: workerExecutable),
                logger: Logger(label: "test")
            )
            await #expect(throws: ControlServer.BindError.self) { try await second.run() }
        }
    }
}
