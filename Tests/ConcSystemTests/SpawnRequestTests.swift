import ConcSystem
import Glibc
import SystemPackage
import Testing

// Serialized: one test changes the environment another reads.
@Suite(.serialized) struct SpawnRequestTests {
    @Test func aMissingExecutableIsExecutableNotFoundWithENOENT() {
        let request = SpawnRequest(executable: "/nonexistent/concd-worker")
        do {
            _ = try request.spawn()
            Issue.record("a missing executable was started")
        } catch {
            #expect(error.code == .executableNotFound)
            #expect(error.underlyingError == .noSuchFileOrDirectory)
            #expect(error.executable == "/nonexistent/concd-worker")
            #expect(error.description.hasPrefix("cannot start /nonexistent/concd-worker: posix_spawn failed: "))
            #expect(error.description.hasSuffix("(executable_not_found)"))
        }
    }

    @Test func aFileThatCannotBeRunIsNotExecutableWithEACCES() throws {
        let path = "/tmp/concsys-plain-\(getpid())"
        let descriptor = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        #expect(descriptor >= 0)
        close(descriptor)
        defer { unlink(path) }
        #expect(throws: SpawnError(code: .notExecutable, executable: path, underlyingError: .permissionDenied)) {
            try SpawnRequest(executable: path).spawn()
        }
    }

    @Test func placementsEnvironmentAndPathSearchReachTheChild() throws {
        // The pipe's write end is placed at its own number, which needs the move past FD_CLOEXEC.
        var pipe: [Int32] = [-1, -1]
        #expect(Glibc.pipe(&pipe) == 0)
        _ = fcntl(pipe[0], F_SETFD, FD_CLOEXEC)
        let sameNumber = fcntl(pipe[1], F_DUPFD_CLOEXEC, 50)
        close(pipe[1])
        defer { close(pipe[0]) }
        let request = SpawnRequest(
            executable: "sh",
            // dash's `>&N` takes one digit only; /proc/self/fd/N reaches any number.
            arguments: [
                "-c", "echo \"$CONCSYS_VALUE\" >/proc/self/fd/\(sameNumber); read line; echo \"stdin:$line\" >/proc/self/fd/\(sameNumber)",
            ],
            environment: SpawnRequest.currentEnvironment(adding: ["CONCSYS_VALUE": "placed"], removing: ["PATH"]) + ["PATH=/usr/bin:/bin"],
            placements: [.init(sameNumber, at: sameNumber)],
            nullStandardInput: true,
            searchesPath: true
        )
        let pid = try request.spawn()
        close(sameNumber)
        var output = [UInt8]()
        var buffer = [UInt8](repeating: 0, count: 256)
        while true {
            let count = read(pipe[0], &buffer, buffer.count)
            if count <= 0 { break }
            output += buffer[..<count]
        }
        #expect(WaitStatus.wait(for: pid) == .exited(0))
        #expect(String(decoding: output, as: UTF8.self) == "placed\nstdin:\n")
    }

    @Test func theCurrentEnvironmentCanLoseAndGainKeys() {
        setenv("CONCSYS_GONE", "1", 1)
        defer { unsetenv("CONCSYS_GONE") }
        let entries = SpawnRequest.currentEnvironment(adding: ["CONCSYS_NEW": "a=b"], removing: ["CONCSYS_GONE"])
        #expect(entries.contains("CONCSYS_NEW=a=b"))
        #expect(!entries.contains { $0.hasPrefix("CONCSYS_GONE=") })
    }
}
