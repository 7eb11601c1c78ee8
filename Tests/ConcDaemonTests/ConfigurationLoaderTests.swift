import ConcDaemon
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
        ("pools: [", "cannot read"),
    ])
    func badValuesAreRefusedWithASentence(yaml: String, expected: String) async throws {
        do {
            _ = try await withFile(yaml) { try await ConfigurationLoader(filePath: $0).load() }
            Issue.record("\(yaml) was accepted")
        } catch let failure as ConfigurationLoader.Failure {
            #expect(failure.description.contains(expected), "\(failure.description)")
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
