import ConcDaemon
import ConcFleet
import ConcProtocol
import Foundation
import Logging
import Testing

@Suite(.serialized) struct ConfigurationLoaderTests {
    private func withFile<T>(_ yaml: String, _ body: (String) async throws -> T) async throws -> T {
        let path = try temporaryDirectory() + "/concd.yaml"
        try yaml.write(toFile: path, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: (path as NSString).deletingLastPathComponent) }
        return try await body(path)
    }

    @Test func theShippedDefaultFileLoadsAndMeansTheDefaults() async throws {
        let shipped = URL(fileURLWithPath: #filePath)
            .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("etc/concd/concd.yaml").path
        let configuration = try await ConfigurationLoader(filePath: shipped).load()
        #expect(configuration == DaemonConfiguration(socketPath: "/run/concd/concd.sock"))
    }

    @Test func fileValuesAreRead() async throws {
        let yaml = """
            socket: /tmp/x.sock
            pools:
              process: {workers: 3}
              thread: {threads: 7}
              async: {limit: 50, connections_per_host: 9}
            queue_limit: 11
            metrics: {interval: 2.5}
            log: {level: debug}
            """
        let configuration = try await withFile(yaml) { try await ConfigurationLoader(filePath: $0).load() }
        #expect(configuration.socketPath == "/tmp/x.sock")
        #expect(configuration.processWorkers == 3)
        #expect(configuration.threads == 7)
        #expect(configuration.asyncLimit == 50)
        #expect(configuration.asyncConnectionsPerHost == 9)
        #expect(configuration.queueLimit == 11)
        #expect(configuration.metricsIntervalSeconds == 2.5)
        #expect(configuration.logLevel == .debug)
    }

    @Test func theExecSectionIsReadWithItsListResolved() async throws {
        let configuration = try await withFile("exec: {allow: [/bin/sh, /usr/bin/], output_kib: 8}") {
            try await ConfigurationLoader(filePath: $0).load()
        }
        let shell = try #require(realpath("/bin/sh", nil))
        defer { free(shell) }
        #expect(configuration.exec.allow == [String(cString: shell), "/usr/bin/"])
        #expect(configuration.exec.outputBytes == 8 * 1024)
        #expect(DaemonConfiguration().exec.allow.isEmpty && DaemonConfiguration().exec.outputBytes == 64 * 1024)
    }

    @Test func growthBoundsAreRead() async throws {
        let yaml = """
            pools:
              thread: {threads: 4, max_threads: 40, idle_timeout: 2.5}
              fetch: {model: thread, threads: 2, max_threads: 9, idle_timeout: 0.5}
              small: {model: thread, threads: 300}
            """
        let configuration = try await withFile(yaml) { try await ConfigurationLoader(filePath: $0).load() }
        let thread = configuration.pools[1]
        #expect(thread.size == 4 && thread.resolvedMaximum == 40 && thread.idleTimeoutSeconds == 2.5)
        let fetch = configuration.namedPools[0]
        #expect(fetch.size == 2 && fetch.resolvedMaximum == 9 && fetch.idleTimeoutSeconds == 0.5)
        // By default a thread pool grows to 256, or stays at its size when that is larger; others do not grow.
        #expect(configuration.namedPools[1].resolvedMaximum == 300)
        let processes = try await withFile("pools: {process: {workers: 2, max_workers: 8, idle_timeout: 30}, crunch: {model: process, workers: 1, max_workers: 4}}") {
            try await ConfigurationLoader(filePath: $0).load()
        }
        #expect(processes.pools[0].resolvedMaximum == 8 && processes.pools[0].idleTimeoutSeconds == 30)
        #expect(processes.namedPools[0].resolvedMaximum == 4)
        let defaults = DaemonConfiguration().pools
        #expect(defaults[1].resolvedMaximum == 256 && defaults[1].idleTimeoutSeconds == 10)
        #expect(defaults[0].resolvedMaximum == defaults[0].size && defaults[2].resolvedMaximum == defaults[2].size)
    }

    @Test func connectionLimitsAreRead() async throws {
        let yaml = """
            connections: {send_buffer_kib: 64, stall_timeout: 2.5, vanishing_per_second: 0, rejected_in_a_row: 7}
            metrics: {max_connections: 3, idle_timeout: 7}
            """
        let limits = try await withFile(yaml) { try await ConfigurationLoader(filePath: $0).load() }.connectionLimits
        #expect(limits.sendBufferBytes == 64 * 1024)
        #expect(limits.stallTimeoutSeconds == 2.5)
        #expect(limits.vanishingPerSecond == 0 && ConnectionLimits().vanishingPerSecond == 20)
        #expect(limits.rejectedInARow == 7 && ConnectionLimits().rejectedInARow == 100)
        #expect(limits.metricsMaxConnections == 3)
        #expect(limits.metricsIdleTimeoutSeconds == 7)
    }

    @Test func flagsBeatEnvironmentWhichBeatsTheFile() async throws {
        setenv("CONCD_POOLS_THREAD_THREADS", "6", 1)
        setenv("CONCD_QUEUE_LIMIT", "12", 1)
        defer {
            unsetenv("CONCD_POOLS_THREAD_THREADS")
            unsetenv("CONCD_QUEUE_LIMIT")
        }
        let yaml = "pools: {process: {workers: 3}, thread: {threads: 7}}\nqueue_limit: 11\n"
        let configuration = try await withFile(yaml) {
            try await ConfigurationLoader(filePath: $0, overrides: .init(queueLimit: 13)).load()
        }
        #expect(configuration.processWorkers == 3)
        #expect(configuration.threads == 6)
        #expect(configuration.queueLimit == 13)
    }

    @Test(arguments: [
        ("pools: {process: {workers: lots}}", "pools.process.workers must be a whole number, got 'lots'"),
        ("pools: {process: {workers: -2}}", "pools.process.workers must be 1...1024, got -2"),
        ("queue_limit: 0", "queue_limit must be 1...10000000, got 0"),
        ("metrics: {interval: 0}", "metrics.interval must be 0.1...86400 seconds"),
        ("log: {level: loud}", "log.level must be one of"),
        ("connections: {send_buffer_kib: 8}", "connections.send_buffer_kib must be 16...1048576, got 8"),
        ("connections: {stall_timeout: 0}", "connections.stall_timeout must be 0.1...86400 seconds"),
        ("connections: {vanishing_per_second: -1}", "connections.vanishing_per_second must be 0...1000000, got -1"),
        ("connections: {rejected_in_a_row: many}", "connections.rejected_in_a_row must be a whole number, got 'many'"),
        ("metrics: {max_connections: 0}", "metrics.max_connections must be 1...65536, got 0"),
        ("metrics: {idle_timeout: soon}", "metrics.idle_timeout must be a number of seconds, got 'soon'"),
        ("pools: [", "cannot read"),
        // Named pools.
        ("pools: {crunch: {workers: 2}}", "pools.crunch needs a model (process, thread, async)"),
        ("pools: {crunch: {model: gpu}}", "pools.crunch.model must be one of process, thread, async, got 'gpu'"),
        ("pools: {Crunch: {model: process}}", "pools.Crunch: 'Crunch' is not a pool name"),
        ("pools: {a-name-of-thirty-three-characters: {model: thread}}", "is not a pool name"),
        ("pools: {9lives: {model: thread}}", "'9lives' is not a pool name"),
        ("pools: {crunch: {model: process, threads: 4}}", "pools.crunch.threads is not a setting of a process pool"),
        ("pools: {crunch: {model: process, workers: 1025}}", "pools.crunch.workers must be 1...1024, got 1025"),
        ("pools: {fetch: {model: thread, threads: 4097}}", "pools.fetch.threads must be 1...4096, got 4097"),
        ("pools: {web: {model: async, limit: 0}}", "pools.web.limit must be 1...10000000, got 0"),
        ("pools: {crunch: {model: process, max_rss_mb: many}}", "pools.crunch.max_rss_mb must be a whole number"),
        ("pools: {process: {model: thread}}", "the built-in process pool's model is process"),
        ("pools: {thread: {threads: 8, max_threads: 4}}", "pools.thread.max_threads (4) is below pools.thread.threads (8)"),
        ("pools: {fetch: {model: thread, threads: 8, max_threads: 2}}", "pools.fetch.max_threads (2) is below pools.fetch.threads (8)"),
        ("pools: {thread: {max_threads: 5000}}", "pools.thread.max_threads must be 1...4096, got 5000"),
        ("pools: {fetch: {model: thread, idle_timeout: 0}}", "pools.fetch.idle_timeout must be 0.1...86400 seconds"),
        ("pools: {crunch: {model: process, max_threads: 4}}", "pools.crunch.max_threads is not a setting of a process pool"),
        ("pools: {process: {memory_limit_by: swap}}", "pools.process.memory_limit_by must be one of auto, cgroup, rlimit, got 'swap'"),
        ("pools: {crunch: {model: process, memory_limit_mb: -1}}", "pools.crunch.memory_limit_mb must be 0...1048576, got -1"),
        ("pools: {fetch: {model: thread, memory_limit_mb: 64}}", "pools.fetch.memory_limit_mb is not a setting of a thread pool"),
        ("pools: {process: {workers: 4, max_workers: 2}}", "pools.process.max_workers (2) is below pools.process.workers (4)"),
        ("pools: {crunch: {model: process, workers: 3, max_workers: 1}}", "pools.crunch.max_workers (1) is below pools.crunch.workers (3)"),
        // exec.
        ("exec: {allow: [convert]}", "exec.allow: 'convert' is not an absolute path"),
        ("exec: {allow: [/no/such/program]}", "exec.allow: /no/such/program does not exist"),
        ("exec: {allow: /bin/sh}", "exec.allow must be a list of programs and folders"),
        ("exec: {output_kib: 0}", "exec.output_kib must be 1...1024, got 0"),
        // queue.
        ("queue: {url: mysql://db/concd}", "queue.url: "),
        ("queue: {url: 'postgres://concd@db/concd?sslmode=maybe'}", "queue.url: "),
        ("queue: {pools: [process]}", "queue.pools is set but queue.url is not"),
        ("queue: {url: 'postgres://concd@db/concd', pools: [gpu]}", "queue.pools names 'gpu', which is not a pool of this daemon"),
        ("queue: {url: 'postgres://concd@db/concd', pools: process}", "queue.pools must be a list of pool names"),
        ("queue: {url: 'postgres://concd@db/concd', host_name: 'a b'}", "queue.host_name must be 1...64 printable characters"),
        ("queue: {url: 'postgres://concd@db/concd', lease: 0.5}", "queue.lease must be 1...3600 seconds"),
        ("queue: {url: 'postgres://concd@db/concd', max_attempts: 0}", "queue.max_attempts must be 1...100, got 0"),
        ("queue: {url: 'postgres://concd@db/concd', backoff: 10, max_backoff: 5}", "queue.max_backoff (5.0 s) must not be below queue.backoff (10.0 s)"),
        ("queue: {url: 'postgres://concd@db/concd', claim_batch: 5000}", "queue.claim_batch must be 1...1000, got 5000"),
    ])
    func badValuesAreRefusedWithASentence(yaml: String, expected: String) async throws {
        do {
            _ = try await withFile(yaml) { try await ConfigurationLoader(filePath: $0).load() }
            Issue.record("\(yaml) was accepted")
        } catch let failure as ConfigurationLoader.Failure {
            #expect(failure.description.contains(expected), "\(failure.description)")
        }
    }

    @Test func theQueueSectionIsReadAndItsPoolsDefaultToEveryPool() async throws {
        #expect(DaemonConfiguration(socketPath: "/x").queue == nil)
        let yaml = """
            pools:
              crunch: {model: process, workers: 1}
            queue:
              url: postgres://concd@localhost:5433/jobs?host=/run/postgresql
              host_name: worker-a
              lease: 4
              max_attempts: 5
              backoff: 0.5
              max_backoff: 60
              retention: 3600
              poll: 0.5
              prefetch: 8
              claim_batch: 64
            """
        let configuration = try await withFile(yaml) { try await ConfigurationLoader(filePath: $0).load() }
        let queue = try #require(configuration.queue)
        #expect(queue.url.database == "jobs" && queue.url.user == "concd")
        #expect(queue.hostName == "worker-a")
        #expect(queue.pools == configuration.pools.map(\.name))
        #expect(queue.leaseSeconds == 4 && queue.maxAttempts == 5 && queue.backoffSeconds == 0.5 && queue.maxBackoffSeconds == 60)
        #expect(queue.retentionSeconds == 3600 && queue.pollSeconds == 0.5 && queue.prefetch == 8 && queue.claimBatch == 64)
        let chosen = try await withFile("pools: {crunch: {model: process}}\nqueue: {url: 'postgres://concd@db/concd', pools: [crunch, process]}") {
            try await ConfigurationLoader(filePath: $0).load()
        }
        #expect(chosen.queue?.pools.map(\.rawValue) == ["crunch", "process"])
        #expect(chosen.queue?.hostName.isEmpty == false)
    }

    @Test func namedPoolsAreReadInTheFilesOrderAfterTheBuiltInOnes() async throws {
        let yaml = """
            pools:
              process: {workers: 3}
              zeta:
                model: process
                workers: 2
                max_tasks: 100
                max_rss_mb: 64
              # alpha: {model: async} -- a comment does not order the sections
              fetch: {model: thread, threads: 5}
              alpha:
                model: async
                limit: 70
                connections_per_host: 4
              crunch: {model: process}
            queue_limit: 11
            """
        let configuration = try await withFile(yaml) { try await ConfigurationLoader(filePath: $0).load() }
        let names = configuration.pools.map(\.name.rawValue)
        #expect(names == ["process", "thread", "async", "zeta", "fetch", "alpha", "crunch"])
        #expect(configuration.pools.map(\.model) == [.process, .thread, .async, .process, .thread, .async, .process])
        let zeta = configuration.namedPools[0]
        #expect(zeta.size == 2 && zeta.maxTasks == 100 && zeta.maxRSSMegabytes == 64 && zeta.maxTasksJitter == 0)
        #expect(configuration.namedPools[1].size == 5)
        #expect(configuration.namedPools[2].size == 70 && configuration.namedPools[2].connectionsPerHost == 4)
        #expect(configuration.namedPools[3].size == DaemonConfiguration.cores, "no workers: one per core")
        #expect(configuration.pools[0].size == 3)
    }

    @Test func aNamedPoolsSettingsComeFromTheEnvironmentToo() async throws {
        setenv("CONCD_POOLS_CRUNCH_WORKERS", "4", 1)
        defer { unsetenv("CONCD_POOLS_CRUNCH_WORKERS") }
        let configuration = try await withFile("pools: {crunch: {model: process, workers: 2}}") {
            try await ConfigurationLoader(filePath: $0).load()
        }
        #expect(configuration.namedPools.map(\.size) == [4])
    }

    @Test func keysAreFoundInASnapshotsDescriptionAndOrderedByTheFile() {
        let keys = ConfigurationLoader.keys(
            inSnapshot: "YAMLSnapshot[4 values: log.level=info, pools.b.model=x, y, pools.fake.model=1, pools.a.model=thread]"
        )
        // "pools.fake.model" came out of a value; the loader looks every key up again before it uses one.
        #expect(keys == ["log.level", "pools.b.model", "pools.fake.model", "pools.a.model"])
        #expect(ConfigurationLoader.keys(inSnapshot: "YAMLSnapshot[0 values: ]").isEmpty)
        let text = "pools:\n  # a: old\n  b: {model: thread}\n  c:\n    model: async\nother: {a: 1}\n"
        #expect(ConfigurationLoader.ordered(["a", "c", "b"], in: text) == ["b", "c", "a"])
        #expect(ConfigurationLoader.ordered(["b", "a"], in: nil) == ["a", "b"])
    }

    @Test func theLimitsTableBoundsTheFileTheFlagsAndResize() async throws {
        for model in PoolModel.allCases {
            let range = ConfigurationLimits.size(of: model)
            let key = PoolConfiguration.sizeKey(of: model)
            let yaml = "pools: {\(model): {\(key): \(range.upperBound + 1)}}"
            do {
                _ = try await withFile(yaml) { try await ConfigurationLoader(filePath: $0).load() }
                Issue.record("\(yaml) was accepted")
            } catch let failure as ConfigurationLoader.Failure {
                #expect(failure.description.contains("must be 1...\(range.upperBound)"), "\(failure.description)")
            }
            let fits = try await withFile("pools: {\(model): {\(key): \(range.upperBound)}}") {
                try await ConfigurationLoader(filePath: $0).load()
            }
            #expect(fits.pools.first { $0.model == model }?.size == range.upperBound)
            let resize = #"{"op":"resize","pool":"\#(model)","size":\#(range.upperBound + 1)}"#
            #expect(throws: RequestDecodingError.self) { try RequestCodec.decode(Array(resize.utf8)) }
            let fitting = #"{"op":"resize","pool":"\#(model)","size":\#(range.upperBound)}"#
            #expect(try RequestCodec.decode(Array(fitting.utf8)).operation == .resize(pool: .builtIn(model), size: range.upperBound))
        }
    }

    @Test func aMissingDefaultFileIsFineButANamedOneIsNot() async throws {
        var loader = ConfigurationLoader()
        loader.filePath = "/nonexistent/concd.yaml"
        #expect(try await loader.load().processWorkers == DaemonConfiguration.cores)
        await #expect(throws: ConfigurationLoader.Failure.self) {
            try await ConfigurationLoader(filePath: "/nonexistent/concd.yaml").load()
        }
    }
}
