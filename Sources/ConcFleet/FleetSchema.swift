import Logging
import PostgresNIO

/// The fleet's tables, created and migrated by concd at start. Each migration runs once, in order,
/// in one transaction that holds an advisory lock, so hosts that start together wait for each other
/// and exactly one applies it. A database whose schema is newer than this build knows is refused,
/// not changed: an older concd must not write rows a newer one reads differently.
package enum FleetSchema {
    /// Advisory lock keys (pg_advisory_*): migrations, and the single rescuer of expired leases.
    package static let migrationLock: Int64 = 0x636F_6E63_6400_0001
    package static let rescuerLock: Int64 = 0x636F_6E63_6400_0002

    /// The migrations, oldest first, each a list of statements (the extended protocol takes one at a
    /// time); the schema's version is how many migrations have run.
    package static let migrations: [[String]] = [
        [
        """
        CREATE TABLE concd_jobs (
            id bigserial PRIMARY KEY,
            state text NOT NULL DEFAULT 'queued'
                CHECK (state IN ('queued', 'running', 'succeeded', 'failed', 'cancelled')),
            pool text NOT NULL,
            kind text NOT NULL,
            request text NOT NULL,
            attempt integer NOT NULL DEFAULT 0,
            max_attempts integer NOT NULL CHECK (max_attempts >= 1),
            waiting boolean NOT NULL DEFAULT false,
            host text,
            lease_until timestamptz,
            run_at timestamptz NOT NULL DEFAULT now(),
            reply text,
            errors jsonb NOT NULL DEFAULT '[]',
            created_at timestamptz NOT NULL DEFAULT now(),
            started_at timestamptz,
            finished_at timestamptz
        )
        """,
        "CREATE INDEX concd_jobs_queued ON concd_jobs (pool, id) WHERE state = 'queued'",
        "CREATE INDEX concd_jobs_leases ON concd_jobs (lease_until) WHERE state = 'running'",
        "CREATE INDEX concd_jobs_finished ON concd_jobs (finished_at) WHERE state IN ('succeeded', 'failed', 'cancelled')",
        """
        CREATE TABLE concd_hosts (
            name text PRIMARY KEY,
            heartbeat timestamptz NOT NULL,
            started_at timestamptz NOT NULL,
            pools text[] NOT NULL,
            free integer NOT NULL,
            running integer NOT NULL
        )
        """,
        ]
    ]

    /// The version this build writes.
    package static var latest: Int { migrations.count }

    /// Brings the database to ``latest``, or throws `newer_schema` when it is past it.
    /// Returns the version found before.
    @discardableResult
    package static func migrate(_ client: PostgresClient, logger: Logger) async throws -> Int {
        do {
            return try await client.withTransaction(logger: logger) { connection -> Int in
                try await connection.query("SELECT pg_advisory_xact_lock(\(migrationLock))", logger: logger)
                try await connection.query(
                    "CREATE TABLE IF NOT EXISTS concd_schema (version integer NOT NULL, migrated_at timestamptz NOT NULL DEFAULT now())",
                    logger: logger
                )
                var found = 0
                for try await version in try await connection.query("SELECT max(version) FROM concd_schema", logger: logger)
                    .decode(Int32?.self)
                {
                    found = Int(version ?? 0)
                }
                if found > latest {
                    throw FleetError(
                        .newerSchema,
                        "the database holds the fleet's schema version \(found), from a newer concd; this one knows up to \(latest) and will not change it (upgrade this host)"
                    )
                }
                for index in found..<latest {
                    for statement in migrations[index] {
                        try await connection.query(PostgresQuery(unsafeSQL: statement), logger: logger)
                    }
                    try await connection.query("INSERT INTO concd_schema (version) VALUES (\(Int32(index + 1)))", logger: logger)
                }
                return found
            }
        } catch {
            throw FleetError.from(error, doing: "migrating the fleet's schema")
        }
    }
}
