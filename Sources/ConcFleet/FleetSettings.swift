import ConcProtocol
import Foundation
import Logging
import PostgresNIO

/// The `queue:` section of concd.yaml: where the fleet's database is, what this host is called, and
/// which local pools take jobs from it. Without it concd is a single host and has no database.
package struct FleetSettings: Sendable, Equatable {
    /// The database, as a `postgres://` URL (docs/fleet.md).
    package var url: DatabaseURL
    /// This host's name in the fleet: its claims, leases and heartbeat carry it.
    package var hostName: String
    /// The local pools that take jobs from the queue; jobs for other pools wait for hosts that run them.
    package var pools: [PoolName]
    /// How long a claimed job is this host's without a renewal; renewed every third of it.
    package var leaseSeconds: Double
    /// How many times a job may run in all, unless its submission says otherwise.
    package var maxAttempts: Int
    /// The first retry's delay; each later one doubles it (with jitter), up to `maxBackoffSeconds`.
    package var backoffSeconds: Double
    package var maxBackoffSeconds: Double
    /// How long finished jobs are kept before they are deleted.
    package var retentionSeconds: Double
    /// How often the queue is read without a notification (a notification may be lost with a connection).
    package var pollSeconds: Double
    /// Jobs claimed beyond each pool's size, so that its workers never wait for the database; 0 claims
    /// only what can start at once.
    package var prefetch: Int
    /// The most jobs one claim takes.
    package var claimBatch: Int

    package init(
        url: DatabaseURL, hostName: String, pools: [PoolName], leaseSeconds: Double = 10, maxAttempts: Int = 3,
        backoffSeconds: Double = 1, maxBackoffSeconds: Double = 300, retentionSeconds: Double = 7 * 86_400,
        pollSeconds: Double = 1, prefetch: Int? = nil, claimBatch: Int = 256
    ) {
        self.url = url
        self.hostName = hostName
        self.pools = pools
        self.leaseSeconds = leaseSeconds
        self.maxAttempts = maxAttempts
        self.backoffSeconds = backoffSeconds
        self.maxBackoffSeconds = maxBackoffSeconds
        self.retentionSeconds = retentionSeconds
        self.pollSeconds = pollSeconds
        self.prefetch = prefetch ?? 0
        self.claimBatch = claimBatch
    }

    /// The ranges each setting must be in, for the configuration's sentences.
    package enum Limits {
        package static let leaseSeconds = 1.0...3600.0
        package static let maxAttempts = 1...ProtocolLimits.maxJobAttempts
        package static let backoffSeconds = 0.0...86_400.0
        package static let retentionSeconds = 60.0...(365.0 * 86_400)
        package static let pollSeconds = 0.05...60.0
        package static let prefetch = 0...10_000
        package static let claimBatch = 1...1000
        /// Host names go into logs and the hosts table; kept short and printable.
        package static let hostNameBytes = 1...64
    }

    /// The delay before attempt `attempt + 1` after attempt `attempt` failed: `backoff × 2^(attempt-1)`,
    /// capped, with up to a quarter of it added at random so that failures together do not retry together.
    package func backoff(afterAttempt attempt: Int, random: Double = Double.random(in: 0..<1)) -> Double {
        let base = backoffSeconds * pow(2, Double(max(0, min(attempt - 1, 30))))
        let capped = min(base, maxBackoffSeconds)
        return capped + capped * 0.25 * random
    }
}

/// A `postgres://` URL taken apart: the address (TCP or a Unix socket's directory), the role, its
/// password, the database and whether to use TLS, as libpq reads the same URL.
package struct DatabaseURL: Sendable, Equatable, CustomStringConvertible {
    package enum Address: Sendable, Equatable {
        case tcp(host: String, port: Int)
        /// The socket file in `directory` is `.s.PGSQL.PORT`, as PostgreSQL names it.
        case unix(directory: String, port: Int)
    }

    package enum TLSMode: String, Sendable, Equatable {
        case disable, prefer, require
    }

    package var address: Address
    package var user: String
    package var password: String?
    package var database: String
    package var tls: TLSMode

    /// Reads `text`, or says in a sentence what is wrong with it (never echoing a password).
    package init(_ text: String) throws(FleetError) {
        guard let components = URLComponents(string: text), let scheme = components.scheme,
            scheme == "postgres" || scheme == "postgresql"
        else {
            throw FleetError(.badConfiguration, "queue.url must be a postgres:// URL (postgres://USER@HOST:PORT/DATABASE, or ?host=/socket/dir for a Unix socket)")
        }
        var query: [String: String] = [:]
        for item in components.queryItems ?? [] { query[item.name] = item.value ?? "" }
        let known: Set = ["host", "sslmode", "port"]
        if let unknown = query.keys.first(where: { !known.contains($0) }) {
            throw FleetError(.badConfiguration, "queue.url has a parameter concd does not know: '\(unknown)' (it knows host, port and sslmode)")
        }
        guard let user = components.user, !user.isEmpty else {
            throw FleetError(.badConfiguration, "queue.url names no role: postgres://ROLE@HOST/DATABASE")
        }
        let database = components.path.hasPrefix("/") ? String(components.path.dropFirst()) : components.path
        guard !database.isEmpty, !database.contains("/") else {
            throw FleetError(.badConfiguration, "queue.url names no database: postgres://ROLE@HOST/DATABASE")
        }
        var port = components.port ?? 5432
        if let text = query["port"] {
            guard let number = Int(text) else { throw FleetError(.badConfiguration, "queue.url's port must be a number, got '\(text)'") }
            port = number
        }
        guard (1...65535).contains(port) else { throw FleetError(.badConfiguration, "queue.url's port must be 1...65535, got \(port)") }
        if let socketDirectory = query["host"], socketDirectory.hasPrefix("/") {
            address = .unix(directory: socketDirectory, port: port)
        } else if let host = query["host"] ?? components.host, !host.isEmpty {
            address = .tcp(host: host, port: port)
        } else {
            throw FleetError(.badConfiguration, "queue.url names no host: postgres://ROLE@HOST/DATABASE or ?host=/socket/dir")
        }
        let mode = query["sslmode"] ?? (address.isLocal ? "disable" : "prefer")
        guard let tls = TLSMode(rawValue: mode) else {
            throw FleetError(.badConfiguration, "queue.url's sslmode must be disable, prefer or require, got '\(mode)'")
        }
        self.user = user
        self.password = components.password
        self.database = database
        self.tls = tls
    }

    /// The URL without its password, for logs and status.
    package var description: String {
        switch address {
        case .tcp(let host, let port): return "postgres://\(user)@\(host):\(port)/\(database)"
        case .unix(let directory, let port): return "postgres://\(user)@localhost/\(database)?host=\(directory)&port=\(port)"
        }
    }

    /// postgres-nio's configuration for this URL.
    package var clientConfiguration: PostgresClient.Configuration {
        var configuration: PostgresClient.Configuration
        switch address {
        case .tcp(let host, let port):
            let tlsSetting: PostgresClient.Configuration.TLS
            switch tls {
            case .disable: tlsSetting = .disable
            case .prefer: tlsSetting = .prefer(.makeClientConfiguration())
            case .require: tlsSetting = .require(.makeClientConfiguration())
            }
            configuration = .init(host: host, port: port, username: user, password: password, database: database, tls: tlsSetting)
        case .unix(let directory, let port):
            configuration = .init(
                unixSocketPath: "\(directory)/.s.PGSQL.\(port)", username: user, password: password, database: database
            )
        }
        configuration.options.connectTimeout = .seconds(5)
        return configuration
    }

    /// Opens one connection to the database, asks for the server's version and closes it, so that a
    /// wrong URL, role or database, or a server that is down, is a clear error within the connect
    /// timeout. A `PostgresClient` cannot say it: while it cannot connect it keeps its queries
    /// waiting and retries, and fails them only after a minute, without PostgreSQL's reason.
    /// Returns the server's `version()`.
    package func check(logger: Logger) async throws(FleetError) -> String {
        let what = "connecting to \(self)"
        do {
            var configuration: PostgresConnection.Configuration
            switch address {
            case .tcp(let host, let port):
                let tlsSetting: PostgresConnection.Configuration.TLS
                switch tls {
                case .disable: tlsSetting = .disable
                case .prefer: tlsSetting = .prefer(try NIOSSLContext(configuration: .makeClientConfiguration()))
                case .require: tlsSetting = .require(try NIOSSLContext(configuration: .makeClientConfiguration()))
                }
                configuration = .init(host: host, port: port, username: user, password: password, database: database, tls: tlsSetting)
            case .unix(let directory, let port):
                configuration = .init(
                    unixSocketPath: "\(directory)/.s.PGSQL.\(port)", username: user, password: password, database: database
                )
            }
            configuration.options.connectTimeout = .seconds(5)
            let connection = try await PostgresConnection.connect(configuration: configuration, id: 0, logger: logger)
            do {
                var version = ""
                for try await text in try await connection.query("SELECT version()", logger: logger).decode(String.self) {
                    version = text
                }
                try await connection.close()
                return version
            } catch {
                try? await connection.close()
                throw error
            }
        } catch {
            throw FleetError.from(error, doing: what)
        }
    }
}

extension DatabaseURL.Address {
    /// Loopback and Unix sockets need no TLS by default.
    var isLocal: Bool {
        switch self {
        case .unix: return true
        case .tcp(let host, _): return host == "localhost" || host == "127.0.0.1" || host == "::1"
        }
    }
}

/// A fleet error: a stable code and a sentence, with PostgreSQL's own words where it said any.
package struct FleetError: Error, Sendable, Equatable, CustomStringConvertible {
    package enum Code: String, Sendable {
        /// The `queue:` section is wrong.
        case badConfiguration = "bad_configuration"
        /// The database could not be reached or refused the connection.
        case unreachable
        /// The role's password or the server's authentication rules refused it.
        case authentication
        /// The database holds a schema from a newer concd.
        case newerSchema = "newer_schema"
        /// A query failed.
        case query
    }

    package var code: Code
    package var message: String

    package init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    package var description: String { "\(message) [\(code.rawValue)]" }

    /// A sentence for an error postgres-nio threw: PostgreSQL's own message when the server sent one.
    package static func from(_ error: any Error, doing what: String) -> FleetError {
        if let fleet = error as? FleetError { return fleet }
        // withTransaction wraps whatever failed inside it (BEGIN, the closure, COMMIT); the cause is inside.
        if let transaction = error as? PostgresTransactionError,
            let cause = transaction.closureError ?? transaction.beginError ?? transaction.commitError
        {
            return from(cause, doing: what)
        }
        // A row of an unexpected type is this build's mistake, not the network's.
        if let decoding = error as? PostgresDecodingError {
            return FleetError(
                .query,
                "\(what): column '\(decoding.columnName)' (\(decoding.postgresType)) could not be read as \(decoding.targetType) (\(decoding.code))"
            )
        }
        if let psql = error as? PSQLError {
            if let server = psql.serverInfo, let message = server[.message] {
                let sqlState = server[.sqlState] ?? ""
                // 28xxx: invalid authorization (a wrong password, a role that may not log in).
                let code: Code = sqlState.hasPrefix("28") ? .authentication : (sqlState.hasPrefix("3D") ? .unreachable : .query)
                return FleetError(code, "\(what): PostgreSQL said: \(message)\(sqlState.isEmpty ? "" : " (SQLSTATE \(sqlState))")")
            }
            if let underlying = psql.underlying {
                return FleetError(.unreachable, "\(what): \(underlying)")
            }
            return FleetError(.unreachable, "\(what): \(String(describing: psql.code))")
        }
        return FleetError(.unreachable, "\(what): \(error)")
    }
}
