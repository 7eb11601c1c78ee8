import ConcFleet
import Testing

@Suite(.serialized) struct FleetSchemaTests {
    @Test func migratesAnEmptyDatabaseOnceAndThenDoesNothing() async throws {
        try await withFleetDatabase(migrated: false) { database in
            #expect(try database.sql("SELECT count(*) FROM pg_tables WHERE tablename LIKE 'concd%'") == "0")
            let before = try await FleetSchema.migrate(database.client, logger: FleetDatabase.logger)
            #expect(before == 0)
            let tables = try database.sql(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename LIKE 'concd%' ORDER BY 1"
            )
            #expect(tables == "concd_hosts\nconcd_jobs\nconcd_schema")
            let indexes = try database.sql("SELECT indexname FROM pg_indexes WHERE tablename = 'concd_jobs' ORDER BY 1")
            #expect(indexes == "concd_jobs_finished\nconcd_jobs_leases\nconcd_jobs_pkey\nconcd_jobs_queued")
            #expect(try database.sql("SELECT version FROM concd_schema") == "\(FleetSchema.latest)")

            // The second run finds the latest version and changes nothing: rows stay.
            let ids = try await database.store.insert([newJob()])
            let again = try await FleetSchema.migrate(database.client, logger: FleetDatabase.logger)
            #expect(again == FleetSchema.latest)
            #expect(try database.sql("SELECT count(*) FROM concd_schema") == "1")
            #expect(try await database.store.job(ids[0])?.state == .queued)
        }
    }

    @Test func fourHostsMigratingAtOnceApplyItOnce() async throws {
        try await withFleetDatabase(migrated: false) { database in
            let found = try await withThrowingTaskGroup(of: Int.self, returning: [Int].self) { group in
                for _ in 0..<4 {
                    group.addTask {
                        // Each its own client, as four hosts would be.
                        try await withRunningClient(database.url.clientConfiguration) { client in
                            try await FleetSchema.migrate(client, logger: FleetDatabase.logger)
                        }
                    }
                }
                var found: [Int] = []
                for try await version in group { found.append(version) }
                return found
            }
            // Exactly one found the empty database; the others waited for its lock and found it done.
            #expect(found.sorted() == [0] + Array(repeating: FleetSchema.latest, count: 3))
            #expect(try database.sql("SELECT count(*), max(version) FROM concd_schema") == "1|\(FleetSchema.latest)")
        }
    }

    @Test func refusesASchemaFromANewerBuildAndDropsNothing() async throws {
        try await withFleetDatabase { database in
            let ids = try await database.store.insert([newJob(), newJob()])
            let newer = FleetSchema.latest + 1
            try database.sql("INSERT INTO concd_schema (version) VALUES (\(newer))")
            try database.sql("CREATE TABLE concd_future (x int)")

            let error = await #expect(throws: FleetError.self) {
                try await FleetSchema.migrate(database.client, logger: FleetDatabase.logger)
            }
            #expect(error?.code == .newerSchema)
            #expect(error?.message.contains("version \(newer)") == true, "\(String(describing: error))")

            // Nothing was dropped or changed, and the failed transaction left the connection usable.
            #expect(try database.sql("SELECT count(*) FROM concd_jobs") == "2")
            #expect(try database.sql("SELECT count(*) FROM concd_future") == "0")
            #expect(try database.sql("SELECT max(version) FROM concd_schema") == "\(newer)")
            #expect(try await database.store.job(ids[1])?.state == .queued)
        }
    }

    @Test func aFailedMigrationRollsBackWhole() async throws {
        try await withFleetDatabase(migrated: false) { database in
            // A table in the way of the first migration: its CREATE TABLE fails, and so does the whole.
            try database.sql("CREATE TABLE concd_hosts (x int)")
            let error = await #expect(throws: FleetError.self) {
                try await FleetSchema.migrate(database.client, logger: FleetDatabase.logger)
            }
            #expect(error?.code == .query)
            #expect(error?.message.contains("already exists") == true, "\(String(describing: error))")
            #expect(
                try database.sql("SELECT count(*) FROM pg_tables WHERE tablename IN ('concd_jobs', 'concd_schema')")
                    == "0")
            try database.sql("DROP TABLE concd_hosts")
            #expect(try await FleetSchema.migrate(database.client, logger: FleetDatabase.logger) == 0)
        }
    }
}
