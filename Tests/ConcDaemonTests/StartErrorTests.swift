import ConcDaemon
import ConcSystem
import Foundation
import SystemPackage
import Testing

/// The errors that stop a start carry a stable code and the errno behind them, not only a sentence.
@Suite struct StartErrorTests {
    @Test func aMissingWorkerBinaryIsExecutableNotFoundWithENOENT() {
        do {
            let worker = try WorkerSpawner.spawn(executable: "/nonexistent/concd-worker")
            Issue.record("a missing worker binary started as pid \(worker.pid)")
        } catch {
            #expect(error.code == .executableNotFound)
            #expect(error.underlyingError == .noSuchFileOrDirectory)
            #expect(error.description.contains("/nonexistent/concd-worker"))
        }
    }
}

// In the serialized configuration suite: its other tests set CONCD_* variables, which win over a file.
extension ConfigurationLoaderTests {
    @Test func aNamedConfigurationFileThatIsMissingIsUnreadableWithENOENT() async {
        do {
            _ = try await ConfigurationLoader(filePath: "/nonexistent/concd.yaml").load()
            Issue.record("a missing named file was accepted")
        } catch {
            #expect(error.code == .unreadableFile)
            #expect(error.underlyingError == .noSuchFileOrDirectory)
            #expect(error.description.hasPrefix("cannot read /nonexistent/concd.yaml"))
        }
    }

    @Test func aBadValueAndABrokenFileHaveTheirOwnCodes() async throws {
        let path = NSTemporaryDirectory() + "concd-codes-\(getpid()).yaml"
        defer { unlink(path) }
        for (yaml, code) in [("queue_limit: 0", ConfigurationLoader.Failure.Code.invalidValue), ("pools: [", .invalidFile)] {
            try yaml.write(toFile: path, atomically: true, encoding: .utf8)
            do {
                _ = try await ConfigurationLoader(filePath: path).load()
                Issue.record("\(yaml) was accepted")
            } catch {
                #expect(error.code == code, "\(yaml): \(error.description)")
                #expect(error.underlyingError == nil)
            }
        }
    }
}
