import ConcFleet
import Foundation
import Testing

@Suite(.serialized) struct FleetFaultTests {
    @Test func aPortWhereNothingListensIsUnreachableAtOnce() async throws {
        let port = try unusedPort()
        let url = try DatabaseURL("postgres://concd@127.0.0.1:\(port)/concd")
        let started = ContinuousClock.now
        let error = await #expect(throws: FleetError.self) {
            try await within(15, "the check") { try await url.check(logger: FleetDatabase.logger) }
        }
        #expect(ContinuousClock.now - started < .seconds(6))
        #expect(error?.code == .unreachable)
        #expect(
            error?.message.hasPrefix("connecting to postgres://concd@127.0.0.1:\(port)/concd: ") == true,
            "\(String(describing: error))")
    }

    @Test func aServerThatNeverAnswersIsUnreachableAfterTheConnectTimeout() async throws {
        // A listener whose accept queue is full: the kernel drops further SYNs, so a connect hangs.
        let (listener, port) = try loopbackSocket(listenBacklog: 0)
        defer { close(listener) }
        var fillers: [Int32] = []
        defer { for filler in fillers { close(filler) } }
        for _ in 0..<2 { fillers.append(try connectWithoutWaiting(to: port)) }
        let url = try DatabaseURL("postgres://concd@127.0.0.1:\(port)/concd")
        let started = ContinuousClock.now
        let error = await #expect(throws: FleetError.self) {
            try await within(15, "the check") { try await url.check(logger: FleetDatabase.logger) }
        }
        let took = ContinuousClock.now - started
        #expect(took > .seconds(4) && took < .seconds(8), "took \(took)")
        #expect(error?.code == .unreachable)
        #expect(error?.message.contains("127.0.0.1:\(port)") == true, "\(String(describing: error))")
    }

    @Test func aSocketDirectoryWithNoServerIsUnreachable() async throws {
        let url = try DatabaseURL("postgres://concd@localhost/concd?host=/nonexistent-concd-test&port=5432")
        let error = await #expect(throws: FleetError.self) {
            try await within(15, "the check") { try await url.check(logger: FleetDatabase.logger) }
        }
        #expect(error?.code == .unreachable)
        #expect(error?.message.contains("host=/nonexistent-concd-test") == true, "\(String(describing: error))")
    }

    @Test func aWrongDatabaseRoleOrSchemaSaysWhich() async throws {
        try await withFleetDatabase(migrated: false) { database in
            let version = try await database.url.check(logger: FleetDatabase.logger)
            #expect(version.hasPrefix("PostgreSQL 15"), "\(version)")

            var wrongDatabase = database.url
            wrongDatabase.database = "nosuch"
            let missing = await #expect(throws: FleetError.self) {
                try await wrongDatabase.check(logger: FleetDatabase.logger)
            }
            #expect(
                missing?.message.contains(#"database "nosuch" does not exist (SQLSTATE 3D000)"#) == true,
                "\(String(describing: missing))")
            #expect(missing?.code == .unreachable)

            var wrongRole = database.url
            wrongRole.user = "nobody"
            let refused = await #expect(throws: FleetError.self) {
                try await wrongRole.check(logger: FleetDatabase.logger)
            }
            #expect(refused?.code == .authentication)
            #expect(
                refused?.message.contains(#"role "nobody" does not exist (SQLSTATE 28000)"#) == true,
                "\(String(describing: refused))")

            // A database without the fleet's tables: a query error in PostgreSQL's words.
            do {
                _ = try await database.store.job(1)
                Issue.record("a query on an empty database succeeded")
            } catch {
                let fleet = FleetError.from(error, doing: "reading job 1")
                #expect(fleet.code == .query)
                #expect(
                    fleet.message
                        == #"reading job 1: PostgreSQL said: relation "concd_jobs" does not exist (SQLSTATE 42P01)"#)
            }
        }
    }
}

/// A loopback TCP port that nothing listens on (bound, read, closed).
func unusedPort() throws -> Int {
    let (descriptor, port) = try loopbackSocket(listenBacklog: nil)
    close(descriptor)
    return port
}

/// A TCP socket bound to 127.0.0.1 on a free port, listening if `listenBacklog` is given.
func loopbackSocket(listenBacklog: Int32?) throws -> (Int32, Int) {
    let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard descriptor >= 0 else {
        throw PrivatePostgres.Failure(description: "socket: \(String(cString: strerror(errno)))")
    }
    var address = loopback(port: 0)
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer -> Int32 in
            guard bind(descriptor, pointer, length) == 0 else { return -1 }
            if let listenBacklog, listen(descriptor, listenBacklog) != 0 { return -1 }
            return getsockname(descriptor, pointer, &length)
        }
    }
    guard bound == 0 else {
        let reason = String(cString: strerror(errno))
        close(descriptor)
        throw PrivatePostgres.Failure(description: "bind/listen: \(reason)")
    }
    return (descriptor, Int(UInt16(bigEndian: address.sin_port)))
}

/// A non-blocking connect to 127.0.0.1:`port`, left in progress.
func connectWithoutWaiting(to port: Int) throws -> Int32 {
    let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
    guard descriptor >= 0 else {
        throw PrivatePostgres.Failure(description: "socket: \(String(cString: strerror(errno)))")
    }
    var address = loopback(port: port)
    let connected = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
            connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
        }
    }
    guard connected == 0 || errno == EINPROGRESS else {
        let reason = String(cString: strerror(errno))
        close(descriptor)
        throw PrivatePostgres.Failure(description: "connect: \(reason)")
    }
    return descriptor
}

private func loopback(port: Int) -> sockaddr_in {
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    address.sin_port = UInt16(port).bigEndian
    return address
}
