import ConcDaemon
import ConcProtocol
import Foundation
import Glibc
import Testing

/// `exec`: who may run what (the policy, without a daemon), and one command's run on the calling
/// thread: its status, its bounded output, and its process group killed at the deadline.
@Suite struct ExecTests {
    static let root = PeerCredentials(pid: 1, uid: 0, gid: 0)
    static let stranger = PeerCredentials(pid: 1, uid: 54_321, gid: 54_321)

    private func prepared(_ argv: [String], outputBytes: Int = 64 * 1024) throws -> PreparedCommand {
        var policy = ExecPolicy()
        policy.outputBytes = outputBytes
        return try policy.authorize(argv, caller: Self.root).get()
    }

    @Test func rootAndTheDaemonsUserMayRunAnyProgramOthersOnlyThoseListed() throws {
        var policy = ExecPolicy()
        let echo = try policy.authorize(["echo", "hi"], caller: Self.root).get()
        #expect(echo.executable.hasSuffix("/echo") && echo.argv == ["echo", "hi"])
        let daemonsUser = PeerCredentials(pid: 1, uid: geteuid(), gid: getegid())
        #expect((try? policy.authorize(["echo"], caller: daemonsUser).get()) != nil)

        // Nobody else, while the list is empty; nor a caller whose credentials could not be read.
        for caller in [Self.stranger, nil] {
            guard case .failure(let refusal) = policy.authorize(["echo"], caller: caller) else {
                Issue.record("a stranger ran echo with an empty exec.allow")
                return
            }
            #expect(refusal.code == .permissionDenied && refusal.message.contains("exec.allow"), "\(refusal)")
        }

        // A listed program, by any name that leads to it (PATH, a path through a link); a listed folder.
        let real = echo.executable
        policy.allow = try ExecPolicy.resolve(allow: [real])
        #expect((try? policy.authorize(["echo"], caller: Self.stranger).get()) != nil)
        #expect((try? policy.authorize([real], caller: Self.stranger).get()) != nil)
        let link = NSTemporaryDirectory() + "concd-exec-link-\(getpid())"
        unlink(link)
        #expect(symlink(real, link) == 0)
        defer { unlink(link) }
        #expect((try? policy.authorize([link], caller: Self.stranger).get())?.executable == real)
        #expect(policy.authorize(["cat"], caller: Self.stranger).failureCode == .permissionDenied)
        policy.allow = try ExecPolicy.resolve(allow: [URL(fileURLWithPath: real).deletingLastPathComponent().path + "/"])
        #expect((try? policy.authorize(["cat"], caller: Self.stranger).get()) != nil)

        // A link the stranger made to a program that is not listed does not widen the list.
        policy.allow = try ExecPolicy.resolve(allow: [NSTemporaryDirectory()])
        #expect(policy.authorize([link], caller: Self.stranger).failureCode == .permissionDenied)
    }

    @Test func aMissingProgramARelativePathAndABadListAreClearErrors() {
        let policy = ExecPolicy()
        let missing = policy.authorize(["no-such-program-\(getpid())"], caller: Self.root)
        #expect(missing.failureCode == .notFound)
        #expect(policy.authorize(["/no/such/program"], caller: Self.root).failureCode == .notFound)
        #expect(policy.authorize(["bin/echo"], caller: Self.root).failureCode == .invalidArgument)
        let plain = NSTemporaryDirectory() + "concd-exec-plain-\(getpid())"
        #expect(FileManager.default.createFile(atPath: plain, contents: Data("#!/bin/sh\n".utf8), attributes: [.posixPermissions: 0o644]))
        defer { unlink(plain) }
        #expect(policy.authorize([plain], caller: Self.root).failureCode == .permissionDenied)
        #expect(throws: ConfigurationLoader.Failure.self) { try ExecPolicy.resolve(allow: ["echo"]) }
        #expect(throws: ConfigurationLoader.Failure.self) { try ExecPolicy.resolve(allow: ["/no/such/program"]) }
    }

    @Test func theReplyCarriesTheExitStatusAndBothStreams() throws {
        let result = try CommandRunner.run(
            try prepared(["sh", "-c", "printf out; printf err >&2; exit 3"]), remaining: nil
        ).get()
        guard case .command(let ran) = result else { throw CancellationError() }
        #expect(ran.exitCode == 3 && ran.signal == nil && ran.stdout == "out" && ran.stderr == "err", "\(ran)")
        #expect(ran.stdoutDropped == 0 && ran.stderrDropped == 0 && ran.timeMicroseconds > 0)
        let killed = try CommandRunner.run(try prepared(["sh", "-c", "kill -TERM $$"]), remaining: nil).get()
        guard case .command(let ended) = killed else { throw CancellationError() }
        #expect(ended.signal == SIGTERM && ended.exitCode == nil && ended.shellStatus == 128 + SIGTERM)
        // argv[0] is the name the client gave, not the resolved path.
        let named = try CommandRunner.run(try prepared(["sh", "-c", "printf %s \"$0\""]), remaining: nil).get()
        guard case .command(let zero) = named else { throw CancellationError() }
        #expect(zero.stdout == "sh")
    }

    @Test func outputPastTheBoundIsCountedNotKept() throws {
        let result = try CommandRunner.run(
            try prepared(["sh", "-c", "head -c 300000 /dev/zero; head -c 10 /dev/zero >&2"], outputBytes: 1024), remaining: nil
        ).get()
        guard case .command(let command) = result else { throw CancellationError() }
        #expect(command.exitCode == 0)
        #expect(command.stdout.utf8.count == 1024 && command.stdoutDropped == 300_000 - 1024)
        #expect(command.stderr.utf8.count == 10 && command.stderrDropped == 0)
    }

    @Test func theDeadlineKillsTheWholeProcessGroup() throws {
        let pidFile = NSTemporaryDirectory() + "concd-exec-group-\(getpid())"
        defer { unlink(pidFile) }
        let started = Date()
        let result = CommandRunner.run(
            try prepared(["sh", "-c", "sleep 30 & echo $! > \(pidFile); wait"]), remaining: .milliseconds(300)
        )
        #expect(Date().timeIntervalSince(started) < 5)
        #expect(result.failureCode == .timeout)
        let grandchild = try #require(Int32(try String(contentsOfFile: pidFile, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)))
        #expect(Self.ends(grandchild), "the command's own child outlived its deadline")
    }

    @Test func whatACommandLeftRunningInItsGroupEndsWithIt() throws {
        let pidFile = NSTemporaryDirectory() + "concd-exec-left-\(getpid())"
        defer { unlink(pidFile) }
        let result = try CommandRunner.run(
            try prepared(["sh", "-c", "sleep 30 & echo $! > \(pidFile); echo started"]), remaining: .seconds(20)
        ).get()
        guard case .command(let command) = result else { throw CancellationError() }
        #expect(command.exitCode == 0 && command.stdout == "started\n")
        let left = try #require(Int32(try String(contentsOfFile: pidFile, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)))
        #expect(Self.ends(left), "a background process outlived its command")
    }

    /// Whether `pid` is gone (or a zombie of someone else's) within two seconds.
    private static func ends(_ pid: Int32) -> Bool {
        for _ in 0..<200 {
            let state = (try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8))?
                .split(separator: ")").last?.split(separator: " ").first
            if state == nil || state == "Z" { return true }
            usleep(10_000)
        }
        return false
    }
}

extension Result where Failure == WireError {
    fileprivate var failureCode: ErrorCode? {
        if case .failure(let error) = self { return error.code }
        return nil
    }
}
