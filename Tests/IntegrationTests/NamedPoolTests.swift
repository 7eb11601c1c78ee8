import Foundation
import Testing

/// A pool the configuration names, driven through the built concctl: submitted to by name, listed by
/// status and STATUS=, resized by reload, and refused when reload would add one.
extension BinaryLevelTests {
    @Suite struct NamedPoolTests {
        private func pools(_ daemon: ConcdProcess) throws -> [[String: Any]] {
            try #require(json(try daemon.concctl("status", "--json").stdout)?["pools"] as? [[String: Any]])
        }

        @Test func aNamedProcessPoolRunsBesideTheBuiltInOne() async throws {
            try await blocking {
                let directory = NSTemporaryDirectory() + "concd-named-\(getpid())"
                try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
                defer { try? FileManager.default.removeItem(atPath: directory) }
                let config = directory + "/concd.yaml"
                try "pools:\n  process: {workers: 1}\n  crunch:\n    model: process\n    workers: 2\n"
                    .write(toFile: config, atomically: true, encoding: .utf8)
                let daemon = try ConcdProcess(arguments: ["--config", config])
                defer { daemon.stop() }
                let ready = daemon.notifications.messages.first { $0.contains("READY=1") } ?? ""
                #expect(ready.contains("crunch 0/2 busy q=0"), "\(ready)")

                let onCrunch = try daemon.concctl("submit", "cpu", "1000", "--pool", "crunch")
                #expect(onCrunch.status == 0, "\(onCrunch.stderr)")
                #expect(onCrunch.stdout.hasPrefix("499500 ") && onCrunch.stdout.contains("pool=crunch"), "\(onCrunch.stdout)")
                let onProcess = try daemon.concctl("submit", "cpu", "1000")
                #expect(onProcess.stdout.contains("pool=process"), "\(onProcess.stdout)")

                let text = try daemon.concctl("status")
                #expect(text.stdout.contains("MODEL"), "\(text.stdout)")
                #expect(text.stdout.split(separator: "\n").contains { $0.hasPrefix("crunch") && $0.contains("process") })
                let listed = try pools(daemon)
                #expect(listed.map { $0["kind"] as? String } == ["process", "thread", "async", "crunch"])
                #expect(listed.map { $0["model"] as? String } == ["process", "thread", "async", "process"])
                #expect(listed[3]["completed"] as? Int == 1 && listed[0]["completed"] as? Int == 1)

                let unknown = try daemon.concctl("submit", "cpu", "1", "--pool", "nosuch")
                #expect(unknown.status == 4)
                #expect(unknown.stderr.contains("this daemon runs no pool named 'nosuch'"), "\(unknown.stderr)")
                #expect(try daemon.concctl("submit", "cpu", "1", "--pool", "Not A Name").status == 64)

                // Reload resizes the named pool; a pool added on reload waits for a restart.
                try "pools:\n  process: {workers: 1}\n  crunch: {model: process, workers: 1}\n  extra: {model: thread}\n"
                    .write(toFile: config, atomically: true, encoding: .utf8)
                let before = daemon.notifications.messages.count
                kill(daemon.pid, SIGHUP)
                #expect(daemon.notifications.waitFor("READY=1", seconds: 10, afterIndex: before))
                #expect(try pools(daemon).map { $0["size"] as? Int }.last == 1)
                #expect(try pools(daemon).count == 4)
                #expect(daemon.log.contains("adding or removing pools needs a restart"))
            }
        }

        @Test func aBadPoolNameStopsStartWithExit78() async throws {
            try await blocking {
                let path = NSTemporaryDirectory() + "concd-bad-pool-\(getpid()).yaml"
                try "pools:\n  Crunch:\n    model: process\n".write(toFile: path, atomically: true, encoding: .utf8)
                defer { try? FileManager.default.removeItem(atPath: path) }
                let result = try runCommand(binaryDirectory + "/concd", ["--config", path, "--socket", "/tmp/concd-never.sock"])
                #expect(result.status == 78)
                #expect(result.stderr.contains("pools.Crunch: 'Crunch' is not a pool name"), "\(result.stderr)")
            }
        }
    }
}
