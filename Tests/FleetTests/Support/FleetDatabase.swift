import ConcFleet
import Foundation
import Logging
import PostgresNIO

/// A private cluster with clients on it, for one test: `withFleetDatabase` starts the cluster,
/// migrates it (unless told not to), runs the body and stops every client and the cluster, whether
/// the body returned or threw.
struct FleetDatabase: Sendable {
    let postgres: PrivatePostgres
    let url: DatabaseURL
    let client: PostgresClient
    let store: JobStore

    /// No output: the pool logs every failed connection, which the fault tests make on purpose.
    static let logger = Logger(label: "fleet-tests", factory: { _ in SwiftLogNoOpLogHandler() })

    /// Runs SQL through psql (as role concd); returns its rows as `a|b` lines.
    @discardableResult
    func sql(_ statement: String) throws -> String { try postgres.sql(statement) }

    /// Runs `body` with another client on the same database (a second host).
    func withOtherClient<T>(_ body: (JobStore, PostgresClient) async throws -> T) async throws -> T {
        try await withRunningClient(url.clientConfiguration) { client in
            try await body(JobStore(client: client, logger: Self.logger), client)
        }
    }
}

/// Runs `body` with a client whose `run()` goes on beside it, and cancels that at the end.
func withRunningClient<T>(
    _ configuration: PostgresClient.Configuration, _ body: (PostgresClient) async throws -> T
) async throws -> T {
    let client = PostgresClient(configuration: configuration, backgroundLogger: FleetDatabase.logger)
    return try await withThrowingTaskGroup(of: Void.self, returning: T.self) { group in
        group.addTask { await client.run() }
        defer { group.cancelAll() }
        return try await body(client)
    }
}

/// Starts a private cluster (or returns nil where none can run, after printing why), runs `body`
/// with a migrated database and a client on it, and stops it all, success or failure.
@discardableResult
func withFleetDatabase<T>(migrated: Bool = true, _ body: (FleetDatabase) async throws -> T) async throws -> T? {
    guard let postgres = try PrivatePostgres.startIfAvailable() else { return nil }
    defer { postgres.stop() }
    let url = try DatabaseURL(postgres.url)
    return try await withRunningClient(url.clientConfiguration) { client in
        if migrated { try await FleetSchema.migrate(client, logger: FleetDatabase.logger) }
        let database = FleetDatabase(
            postgres: postgres, url: url, client: client, store: JobStore(client: client, logger: FleetDatabase.logger)
        )
        return try await body(database)
    }
}

/// A queued job for `pool` with a recognisable request.
func newJob(_ pool: String = "cpu", request: String = #"{"op":"cpu","n":1}"#, attempts: Int = 3, waiting: Bool = false)
    -> JobStore.NewJob
{
    JobStore.NewJob(pool: pool, kind: "cpu", request: request, maxAttempts: attempts, waiting: waiting)
}

/// An attempt's error as the daemon stores it (a JobAttemptError as JSON).
func attemptError(_ attempt: Int, host: String, code: String = "worker_died", message: String = "it died") -> String {
    #"{"attempt":\#(attempt),"host":"\#(host)","error":{"code":"\#(code)","message":"\#(message)"}}"#
}

struct TimedOut: Error, CustomStringConvertible {
    var description: String
}

/// `body`'s result, or TimedOut after `seconds`.
func within<T: Sendable>(_ seconds: Double, _ what: String, _ body: @escaping @Sendable () async throws -> T)
    async throws -> T
{
    try await withThrowingTaskGroup(of: T?.self) { group in
        group.addTask { try await body() }
        group.addTask {
            try await Task.sleep(for: .seconds(seconds))
            return nil
        }
        defer { group.cancelAll() }
        guard let first = try await group.next(), let value = first else {
            throw TimedOut(description: "\(what) took more than \(seconds) s")
        }
        return value
    }
}
