import ArgumentParser
import ConcClient
import ConcProtocol
import Foundation

struct Submit: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run a workload or call a function on a pool and print its result, pool, worker and wall time.",
        discussion: """
            Kinds: cpu N (count += i for i in 0..<N), io URL (blocking GET),
            async URL (async GET), sleep MS, noop, and exec -- PROGRAM [ARGS...]
            (a command on a parked thread). Each runs on its natural pool unless
            --pool says otherwise. With --count above 1 and stderr
            on a terminal, a progress bar is drawn on stderr and erased at the
            end (never with --json, never into a pipe or file).

            A pool that runs your own program (pools.NAME.command in concd.yaml)
            takes calls instead: concctl submit POOL FUNCTION [ARGS], where ARGS
            is one JSON value (an object for keyword arguments, an array for
            positional ones; default null), @FILE to read it from a file, or -
            to read it from standard input. The function's error comes back as
            task_failed with its type and traceback (exit status 1).

            exec runs a program with its arguments, without a shell unless --shell
            asks for one, as the daemon's user; its standard output and error are
            printed as they were written (up to the daemon's exec.output_kib of
            each), and concctl exits with the command's exit status (128 + the
            signal when one ended it). Root and the daemon's user may run any
            program; others only those the configuration's exec.allow lists.

            Examples:
              concctl submit cpu 10000000
              concctl submit cpu 10000000 --count 4
              concctl submit cpu 10000000 --count 4 --pool thread
              concctl submit io http://127.0.0.1:8080/ --count 8
              concctl submit sleep 2000 --timeout 1
              concctl submit cpu 100000000 --retries 2
              concctl submit thumbnails resize '{"path": "a.png", "width": 320}'
              concctl submit thumbnails resize @job.json --timeout 30
              echo '[1000000]' | concctl submit crunch cpu_bound_task -
              concctl submit exec -- convert a.png b.jpg
              concctl submit exec --timeout 10 -- /usr/bin/make -C /srv/site
              concctl submit exec --shell 'du -sh /var/log | sort -h'

            --durable stores the task in the fleet's queue (PostgreSQL; the daemon
            needs a queue: section) as a job that whichever host of the fleet has
            room runs, and that survives the death of the host running it (run
            again, up to --attempts times in all). Without --detach, submit waits
            for the job's result as for any task and prints its job id with it;
            with --detach it prints the job's id (one a line with --count) as
            soon as the job is stored, and concctl wait ID, job ID, cancel ID
            and jobs follow it from there. exec cannot be durable.

              concctl submit cpu 100000000 --durable
              concctl submit cpu 100000000 --durable --detach --attempts 5
              id=$(concctl submit sleep 60000 --durable --detach) && concctl wait "$id"

            A task the daemon refused because it was stopping (shutting_down: it never ran) is sent
            again on a new connection for up to --restart-wait seconds, so a submission made during
            systemctl restart concd succeeds once the new daemon is up.
            """
    )

    @ParentCommand var root: Concctl
    @OptionGroup var connection: ConnectionOptions
    private var socketPath: String { connection.socketPath(root: root) }

    @Argument(help: "The workload (cpu, io, async, sleep or noop), or the name of a pool that runs a program.")
    var what: String

    @Argument(help: "Its argument: N for cpu, a URL for io and async, milliseconds for sleep; for a program's pool, the function.")
    var argument: String?

    @Argument(help: "For a program's pool: the function's arguments as JSON, @FILE, or - for standard input.")
    var arguments: String?

    @Argument(parsing: .postTerminator, help: "For exec: the program and its arguments, after --.")
    var command: [String] = []

    @Flag(help: "For exec: run one command line through /bin/sh -c instead of a program and its arguments.")
    var shell = false

    @Option(help: "The pool: process, thread, async or a pool the configuration names (default: the workload's natural pool).")
    var pool: PoolName?

    @Option(help: "Submit this many copies at once and wait for all.")
    var count = 1

    @Option(help: "Give up on a task after this many seconds.")
    var timeout: Double?

    @Option(help: "Run a process-pool task again, up to this many times, when its worker dies under it (0...10).")
    var retries = 0

    @Option(help: "Seconds to keep resending tasks the daemon refused as shutting_down (0 = never resend).")
    var restartWait: Double = 30

    @Flag(help: "Store it in the fleet's queue as a durable job that any host may run (the daemon needs a queue: section).")
    var durable = false

    @Flag(help: "With --durable: print the job's id as soon as it is stored instead of waiting for its result.")
    var detach = false

    @Option(help: "With --durable: how many times the job may run in all (1...\(ProtocolLimits.maxJobAttempts); default: the queue's).")
    var attempts: Int?

    @Flag(help: "Print the result as JSON (fields in docs/protocol.md).")
    var json = false

    func validate() throws {
        guard (1...1_000_000).contains(count) else { throw ValidationError("--count must be 1...1000000") }
        try validateDurability()
        guard (0...ProtocolLimits.maxRetries).contains(retries) else {
            throw ValidationError("--retries must be 0...\(ProtocolLimits.maxRetries)")
        }
        guard restartWait >= 0 && restartWait <= 3600 else { throw ValidationError("--restart-wait must be 0...3600 seconds") }
        if let timeout, !(timeout > 0 && timeout <= 86_400) {
            throw ValidationError("--timeout must be more than 0 and at most 86400 seconds")
        }
        if shell && what != WorkloadKind.exec.rawValue { throw ValidationError("--shell applies to exec only") }
        if !command.isEmpty && what != WorkloadKind.exec.rawValue {
            throw ValidationError("arguments after -- are exec's command; \(what) takes none")
        }
        if what == WorkloadKind.exec.rawValue {
            let given = [argument, arguments].compactMap { $0 } + command
            guard !given.isEmpty else {
                throw ValidationError("exec needs a command: concctl submit exec -- PROGRAM [ARGS...], or --shell 'COMMAND LINE'")
            }
            if shell && given.count != 1 {
                throw ValidationError("--shell takes the command line as one argument: concctl submit exec --shell 'ls -l | wc -l'")
            }
        } else if let kind = WorkloadKind(rawValue: what), kind != .call {
            if kind != .noop && argument == nil {
                throw ValidationError("\(kind) needs an argument: \(Self.argumentHint(kind))")
            }
            if arguments != nil { throw ValidationError("\(kind) takes one argument, not two") }
        } else {
            guard PoolName(rawValue: what) != nil, WorkloadKind(rawValue: what) != .call else {
                throw ValidationError(
                    "'\(what)' is neither a workload (cpu, io, async, sleep, noop) nor a pool name; a call is: concctl submit POOL FUNCTION [ARGS]"
                )
            }
            guard argument != nil else {
                throw ValidationError("a call needs the function's name: concctl submit \(what) FUNCTION [ARGS]")
            }
            if pool != nil { throw ValidationError("--pool does not apply to a call: the pool is its first argument ('\(what)')") }
            if arguments == "-" { return }
        }
        do {
            _ = try submission()
        } catch {
            throw ValidationError(error.message)
        }
    }

    /// --detach and --attempts need --durable; exec cannot be durable.
    private func validateDurability() throws {
        guard durable else {
            if detach {
                throw ValidationError("--detach needs --durable: only a job stored in the queue can run on without concctl waiting")
            }
            if attempts != nil {
                throw ValidationError(
                    "--attempts needs --durable: it counts a stored job's runs (a task run at once takes --retries instead)"
                )
            }
            return
        }
        if what == WorkloadKind.exec.rawValue {
            throw ValidationError(
                "exec cannot be durable: it is checked against your permissions on this host and runs at once"
            )
        }
        if let attempts, !(1...ProtocolLimits.maxJobAttempts).contains(attempts) {
            throw ValidationError("--attempts must be 1...\(ProtocolLimits.maxJobAttempts), got \(attempts)")
        }
    }

    /// The call's arguments: the JSON given inline, read from @FILE, or from standard input (-).
    private func callArguments() throws(WireError) -> JSONText {
        guard let arguments else { return .null }
        let bytes: [UInt8]
        if arguments == "-" {
            bytes = Array(FileHandle.standardInput.readDataToEndOfFile())
        } else if arguments.hasPrefix("@") {
            let path = String(arguments.dropFirst())
            guard let data = FileManager.default.contents(atPath: path) else {
                throw WireError(.invalidArgument, "cannot read the arguments file '\(path)'")
            }
            bytes = Array(data)
        } else {
            bytes = Array(arguments.utf8)
        }
        guard let json = JSONText(parsing: bytes) else {
            let shown = String(decoding: bytes.prefix(60), as: UTF8.self)
            throw WireError(.invalidArgument, "the arguments are not JSON: '\(shown)' (quote them for the shell: '{\"path\": \"a.png\"}')")
        }
        return json
    }

    private static func argumentHint(_ kind: WorkloadKind) -> String {
        switch kind {
        case .cpu: return "the number of iterations, e.g. concctl submit cpu 10000000"
        case .io, .async: return "a URL, e.g. concctl submit \(kind) http://127.0.0.1:8080/"
        case .sleep: return "milliseconds, e.g. concctl submit sleep 100"
        case .noop, .call, .exec: return "none"
        }
    }

    /// exec's argument vector: what came before `--` and after it, or /bin/sh -c LINE with --shell.
    private var execArgv: [String] {
        let given = [argument, arguments].compactMap { $0 } + command
        return shell ? ["/bin/sh", "-c"] + given : given
    }

    private func submission() throws(WireError) -> Submission {
        let workload: Workload
        var pool = pool
        if what == WorkloadKind.exec.rawValue {
            workload = try Workload.validated(.exec(argv: execArgv))
        } else if let kind = WorkloadKind(rawValue: what), kind != .call {
            workload = try Workload.parse(kind: kind, argument: argument)
        } else {
            workload = try Workload.validated(.call(function: argument ?? "", arguments: try callArguments()))
            pool = PoolName(rawValue: what)
        }
        return try Submission(
            workload: workload,
            pool: pool,
            timeoutMilliseconds: timeout.map { max(1, Int64(($0 * 1000).rounded())) },
            retries: retries,
            durability: durable ? try Durability(detach: detach, maxAttempts: attempts) : nil
        )
    }

    func run() async throws {
        let submission = try submission()
        let started = ContinuousClock.now
        let replies: [Reply]
        do {
            var progress = ProgressBar.make(total: count, json: json)
            defer { progress?.finish() }
            replies = try await SubmitRun(
                socketPath: socketPath, submission: submission, restartWait: .milliseconds(Int64(restartWait * 1000))
            ).run(count: count) { reply in progress?.advance(ok: reply.ok) }
        } catch {
            throw fail(error)
        }
        let wall = started.duration(to: .now)
        if json {
            try printJSON(replies, wall: wall)
        } else if detach {
            try Self.printJobIDs(replies)
        } else if count == 1, case .command(let result)? = replies[0].value {
            Self.printCommand(result)
            if result.shellStatus != 0 { throw ExitCode(result.shellStatus) }
        } else if count == 1 {
            Self.printOutcome(replies[0])
        } else {
            printSummary(replies, wall: wall)
        }
        if let failure = replies.first(where: { !$0.ok }) {
            throw ExitCode(ExitStatus.code(for: failure.error?.code ?? .internal))
        }
    }

    /// A task's (or a durable job's) result on stdout, or its error on stderr; `concctl wait` prints the same.
    static func printOutcome(_ reply: Reply) {
        if reply.ok {
            print("\(Format.value(reply.value))  \(placement(reply))")
        } else {
            let message = reply.error?.message ?? "the task failed"
            // A durable job's error says which job, unless its message already does.
            let job = reply.jobID.map { "job \($0)" }.flatMap { message.contains($0) ? nil : $0 + ": " } ?? ""
            printError("concctl: \(job)\(message) [\(reply.error?.code.rawValue ?? "internal")]")
            if let traceback = reply.error?.traceback { printError(traceback) }
        }
    }

    /// `--detach`: each stored job's id on a line of its own; each refusal on stderr.
    private static func printJobIDs(_ replies: [Reply]) throws {
        var unnamed = 0
        for reply in replies {
            if !reply.ok {
                printOutcome(reply)
            } else if let id = reply.jobID {
                print(id)
            } else {
                unnamed += 1
            }
        }
        if unnamed > 0 {
            printError("concctl: concd stored \(unnamed) job(s) but did not say their ids (its reply lacks job_id)")
            throw ExitCode(ExitStatus.protocolError)
        }
    }

    /// A command's output as it wrote it, and a note for what was not kept.
    private static func printCommand(_ result: CommandResult) {
        FileHandle.standardOutput.write(Data(result.stdout.utf8))
        FileHandle.standardError.write(Data(result.stderr.utf8))
        for (stream, dropped) in [("standard output", result.stdoutDropped), ("standard error", result.stderrDropped)] where dropped > 0 {
            printError("concctl: \(dropped) more bytes of the command's \(stream) were not kept (the daemon keeps exec.output_kib of each)")
        }
        if let signal = result.signal { printError("concctl: the command was killed by signal \(signal)") }
    }

    static func placement(_ reply: Reply) -> String {
        var parts = ["pool=\(reply.pool?.rawValue ?? "-")", "worker=\(reply.worker ?? "-")"]
        if let job = reply.jobID { parts.insert("job=\(job)", at: 0) }
        if let pid = reply.workerPID { parts.append("pid=\(pid)") }
        if let wall = reply.wallMicroseconds { parts.append("wall=\(Format.microseconds(wall))") }
        if let attempts = reply.attempts { parts.append("attempts=\(attempts)") }
        return parts.joined(separator: " ")
    }

    private func printSummary(_ replies: [Reply], wall: Duration) {
        let ok = replies.filter(\.ok).count
        let seconds = Double(wall.components.seconds) + Double(wall.components.attoseconds) / 1e18
        if replies.count <= 16 {
            for reply in replies {
                if reply.ok {
                    print("\(Format.value(reply.value))  \(Self.placement(reply))")
                } else {
                    print("failed: \(reply.error?.message ?? "?") [\(reply.error?.code.rawValue ?? "internal")]  \(Self.placement(reply))")
                }
            }
        } else {
            var codes: [String: Int] = [:]
            for reply in replies where !reply.ok { codes[reply.error?.code.rawValue ?? "internal", default: 0] += 1 }
            for (code, number) in codes.sorted(by: { $0.key < $1.key }) { print("failed: \(number) × \(code)") }
        }
        let workers = Set(replies.compactMap(\.worker)).sorted()
        let rate = seconds > 0 ? Double(replies.count) / seconds : 0
        print(
            "\(replies.count) tasks: \(ok) ok, \(replies.count - ok) failed, wall \(Format.duration(wall)), "
                + "\(Format.rounded(rate)) tasks/s, \(workers.count) workers"
        )
    }

    private func printJSON(_ replies: [Reply], wall: Duration) throws {
        let encoder = JSONEncoder.concctl
        if count == 1 {
            print(String(decoding: try encoder.encode(replies[0]), as: UTF8.self))
            return
        }
        let microseconds = UInt64(wall.components.seconds) * 1_000_000 + UInt64(wall.components.attoseconds / 1_000_000_000_000)
        let summary = SubmitSummary(
            count: replies.count,
            ok: replies.filter(\.ok).count,
            failed: replies.filter { !$0.ok }.count,
            wallMicroseconds: microseconds,
            tasksPerSecond: microseconds > 0 ? Double(replies.count) * 1e6 / Double(microseconds) : 0,
            tasks: replies
        )
        print(String(decoding: try encoder.encode(summary), as: UTF8.self))
    }
}

/// The JSON `concctl submit --count K --json` prints.
struct SubmitSummary: Encodable {
    var count: Int
    var ok: Int
    var failed: Int
    var wallMicroseconds: UInt64
    var tasksPerSecond: Double
    var tasks: [Reply]

    enum CodingKeys: String, CodingKey {
        case count, ok, failed, tasks
        case wallMicroseconds = "wall_us"
        case tasksPerSecond = "tasks_per_s"
    }
}

extension WorkloadKind: ExpressibleByArgument {}
extension PoolName: ExpressibleByArgument {
    /// Reads `--pool NAME`; the daemon says whether it runs a pool of that name.
    public init?(argument: String) {
        self.init(rawValue: argument)
    }

    /// Completion offers the built-in pools; a configured pool's name is typed out.
    public static var defaultCompletionKind: CompletionKind {
        .list(PoolName.builtIn.map(\.rawValue))
    }
}
