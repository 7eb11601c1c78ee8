import ConcBench
import Foundation
import LoopbackHTTP
import Testing

#if canImport(FoundationXML)
import FoundationXML
#endif

extension BinaryLevelTests {
    /// The built concctl's views: help examples, metrics, top, compare (table, JSON, SVG), progress.
    @Suite struct VisibilityCLITests {
        private let concctl = binaryDirectory + "/concctl"

        @Test func everyCommandsHelpShowsAnExample() async throws {
            try await blocking {
                let root = try runCommand(concctl, ["--help"])
                #expect(root.status == 0)
                #expect(root.stdout.contains("Example"), "concctl --help has no example")
                let listed = Self.subcommands(in: root.stdout)
                #expect(Set(["submit", "status", "top", "compare", "metrics", "ping", "bench"]).isSubset(of: Set(listed)), "\(listed)")
                for command in listed {
                    let help = try runCommand(concctl, [command, "--help"])
                    #expect(help.status == 0, "concctl \(command) --help: \(help.stderr)")
                    #expect(help.stdout.contains("Example"), "concctl \(command) --help shows no example:\n\(help.stdout)")
                    #expect(help.stdout.contains("concctl \(command)"), "the example does not run concctl \(command)")
                }
            }
        }

        @Test func loopbackHTTPHelpPrintsUsageAndExitsWithoutServing() async throws {
            try await blocking {
                let help = try runCommand(binaryDirectory + "/loopback-http", ["--help"], timeout: 20)
                #expect(help.status == 0, "loopback-http --help: \(help.stderr)")
                #expect(help.stdout.contains("USAGE: loopback-http"))
                #expect(help.stdout.contains("Example"))
                #expect(!help.stdout.contains("http://127.0.0.1:"), "it started a server")
                let bad = try runCommand(binaryDirectory + "/loopback-http", ["eighty"], timeout: 20)
                #expect(bad.status == 64)
                #expect(bad.stderr.contains("expected one port number"))
            }
        }

        /// The names under SUBCOMMANDS in a help text (`help` itself excluded).
        static func subcommands(in help: String) -> [String] {
            var names: [String] = []
            var inside = false
            for line in help.split(separator: "\n", omittingEmptySubsequences: false) {
                if line.hasPrefix("SUBCOMMANDS:") { inside = true; continue }
                guard inside else { continue }
                if line.isEmpty || !line.hasPrefix("  ") { if !names.isEmpty { break } else { continue } }
                // Wrapped abstracts are indented further; a command's line is indented by two.
                guard !line.hasPrefix("   ") else { continue }
                if let name = line.split(separator: " ").first, !name.hasPrefix("-"), name != "help" { names.append(String(name)) }
            }
            return names
        }

        @Test func metricsPrintsThePrometheusText() async throws {
            try await blocking {
                let daemon = try ConcdProcess(arguments: ["--process-workers", "1"])
                defer { daemon.stop() }
                #expect(try daemon.concctl("submit", "cpu", "1000").status == 0)
                let result = try daemon.concctl("metrics")
                #expect(result.status == 0, "\(result.stderr)")
                #expect(result.stdout.contains(#"concd_tasks_completed_total{pool="process"} 1"#), "\(result.stdout)")
                #expect(result.stdout.contains("# TYPE concd_task_duration_seconds histogram"))
                #expect(result.stdout.contains(#"concd_pool_size{pool="process"} 1"#))
            }
        }

        @Test func theHTTPListenerServesTheSameMetrics() async throws {
            try await blocking {
                let port = try Self.freePort()
                let daemon = try ConcdProcess(arguments: ["--process-workers", "1", "--metrics-listen", "127.0.0.1:\(port)"])
                defer { daemon.stop() }
                #expect(try daemon.concctl("submit", "sleep", "1").status == 0)
                let curl = try runCommand("/usr/bin/curl", ["-sS", "-i", "http://127.0.0.1:\(port)/metrics"])
                #expect(curl.status == 0, "\(curl.stderr)")
                #expect(curl.stdout.contains("Content-Type: text/plain; version=0.0.4"), "\(curl.stdout)")
                #expect(curl.stdout.contains(#"concd_tasks_completed_total{pool="thread"} 1"#))
                let missing = try runCommand("/usr/bin/curl", ["-s", "-o", "/dev/null", "-w", "%{http_code}", "http://127.0.0.1:\(port)/other"])
                #expect(missing.stdout == "404")
            }
        }

        @Test func aBadMetricsListenIsAUsageError() async throws {
            try await blocking {
                let result = try runCommand(binaryDirectory + "/concd", ["--socket", "/tmp/unused.sock", "--metrics-listen", "nowhere"])
                #expect(result.status == 64)
                #expect(result.stderr.contains("--metrics-listen"), "\(result.stderr)")
            }
        }

        @Test func topPrintsOneSnapshotWhenPiped() async throws {
            try await blocking {
                let daemon = try ConcdProcess(arguments: ["--process-workers", "2"])
                defer { daemon.stop() }
                let result = try daemon.concctl("top")
                #expect(result.status == 0, "\(result.stderr)")
                for column in ["POOL", "SIZE", "BUSY", "IDLE", "QUEUED", "TASKS/S", "P50", "P99", "FAILED", "process", "thread", "async"] {
                    #expect(result.stdout.contains(column), "\(column) missing:\n\(result.stdout)")
                }
                #expect(!result.stdout.contains("\u{1B}"), "escape sequences in a pipe")
                #expect(try daemon.concctl("top", "--interval", "0").status == 64)
            }
        }

        @Test func topOnATerminalRedrawsAndRestoresTheTerminalOnQAndOnCtrlC() async throws {
            try await blocking {
                let daemon = try ConcdProcess(arguments: ["--process-workers", "1"])
                defer { daemon.stop() }
                for ending in ["q", "SIGINT"] {
                    let terminal = try PseudoTerminal()
                    let modesBefore = terminal.localModes
                    let child = try ChildProcess(
                        concctl, ["--socket", daemon.socketPath, "top", "--interval", "0.2"],
                        stdout: terminal.slave, stderr: terminal.slave, stdin: terminal.slave
                    )
                    defer {
                        if child.isRunning { kill(child.pid, SIGKILL) }
                        child.wait()
                        terminal.close()
                    }
                    #expect(terminal.waitFor("\u{1B}[?1049h"), "top did not switch to the alternate screen")
                    #expect(terminal.waitFor("q or Ctrl-C quits"))
                    // Two frames at least: the view is redrawn.
                    let first = terminal.output.components(separatedBy: "\u{1B}[H").count
                    #expect(terminal.waitFor("TASKS/S"))
                    let redrawn = (0..<100).contains { _ in
                        usleep(50_000)
                        return terminal.output.components(separatedBy: "\u{1B}[H").count > first
                    }
                    #expect(redrawn, "top did not redraw")
                    #expect(terminal.localModes & tcflag_t(ICANON) == 0, "stdin is not in cbreak mode")
                    if ending == "q" { terminal.type("q") } else { kill(child.pid, SIGINT) }
                    let status = child.wait(seconds: 10)
                    #expect(status == 0, "top ended by \(ending) exited \(String(describing: status))")
                    #expect(terminal.output.contains("\u{1B}[?1049l"), "the alternate screen was not left")
                    #expect(terminal.localModes == modesBefore, "the terminal's modes were not restored after \(ending)")
                }
            }
        }

        @Test func compareTableNamesEveryPoolAndModel() async throws {
            try await blocking {
                let daemon = try ConcdProcess(arguments: ["--process-workers", "2"])
                defer { daemon.stop() }
                let result = try daemon.concctl("compare", "cpu", "1000000", "--count", "2")
                #expect(result.status == 0, "\(result.stderr)")
                for expected in ["POOL", "MODEL", "WALL", "CPU", "SPEED-UP", "PARALLELISM", "ERRORS", "processes", "threads", "async"] {
                    #expect(result.stdout.contains(expected), "\(expected) missing:\n\(result.stdout)")
                }
                // io cannot run on the async pool, async only there.
                let server = try LoopbackProcess()
                defer { server.stop() }
                let io = try #require(json(try daemon.concctl("compare", "io", server.url + "/", "--count", "2", "--json").stdout))
                #expect((io["pools"] as? [[String: Any]])?.compactMap { $0["pool"] as? String } == ["process", "thread"])
                let async = try #require(json(try daemon.concctl("compare", "async", server.url + "/", "--count", "2", "--json").stdout))
                #expect((async["pools"] as? [[String: Any]])?.compactMap { $0["pool"] as? String } == ["async"])
                // get: the seed's three columns in one table, the blocking GET where it blocks, the async one where it awaits.
                let get = try #require(json(try daemon.concctl("compare", "get", server.url + "/", "--count", "3", "--json").stdout))
                let pools = get["pools"] as? [[String: Any]] ?? []
                #expect(pools.compactMap { $0["pool"] as? String } == ["process", "thread", "async"])
                #expect(pools.allSatisfy { $0["errors"] as? Int == 0 } && (get["workload"] as? String)?.hasPrefix("get ") == true, "\(get)")
            }
        }

        @Test func compareJSONAndThePlotAgree() async throws {
            try await blocking {
                let daemon = try ConcdProcess(arguments: ["--process-workers", "2"])
                defer { daemon.stop() }
                let plot = daemon.directory + "/sleep.svg"
                let result = try daemon.concctl("compare", "sleep", "100", "--count", "4", "--json", "--plot", plot)
                #expect(result.status == 0, "\(result.stderr)")
                let comparison = try #require(json(result.stdout))
                #expect(comparison["workload"] as? String == "sleep 100")
                #expect(comparison["count"] as? Int == 4)
                let pools = try #require(comparison["pools"] as? [[String: Any]])
                #expect(pools.compactMap { $0["pool"] as? String } == ["process", "thread", "async"])
                for pool in pools {
                    #expect(pool["errors"] as? Int == 0)
                    let serial = try #require(pool["serial_s"] as? Double)
                    let wall = try #require(pool["wall_s"] as? Double)
                    let speedup = try #require(pool["speedup"] as? Double)
                    #expect(abs(speedup - serial / wall) < 1e-6 * max(1, speedup))
                    // Four waits overlap on every pool (two workers at least): more than one at a time.
                    #expect(speedup > 1, "\(pool)")
                    #expect((pool["parallelism"] as? Double).map { $0 >= 0 } == true)
                }

                let svg = try SVGDocument(path: plot)
                #expect(svg.root == "svg")
                #expect(svg.texts(class: "title").first?.contains("sleep 100") == true)
                #expect(svg.texts(class: "axis-label").contains { $0.contains("time (") && $0.contains("s)") }, "no unit on the axis")
                #expect(svg.texts(class: "tick-label").count >= 3)
                #expect(svg.elements(class: "axis-line").count == 2)
                #expect(Set(svg.texts(class: "pool-label")) == ["process", "thread", "async"])
                #expect(svg.texts(class: "legend-label").count == 3)
                #expect(svg.texts(class: "speedup-label").count == 3)
                #expect(svg.texts(class: "speedup-label").allSatisfy { $0.hasSuffix("× speed-up") })
                let bars = svg.elements(class: "bar")
                #expect(bars.count == 9)
                // Heights are proportional to the values the JSON reports, on one scale for all bars.
                let keys = ["serial": "serial_s", "wall": "wall_s", "cpu": "cpu_s"]
                var pairs: [(height: Double, value: Double)] = []
                for bar in bars {
                    let pool = try #require(pools.first { $0["pool"] as? String == bar["data-pool"] })
                    let key = try #require(keys[bar["data-series"] ?? ""])
                    let value = try #require(pool[key] as? Double)
                    pairs.append((try #require(Double(bar["height"] ?? "")), value))
                }
                let tallest = try #require(pairs.max { $0.value < $1.value })
                let scale = tallest.height / tallest.value
                #expect(tallest.height > 100, "the tallest bar is only \(tallest.height) px")
                for pair in pairs {
                    #expect(abs(pair.height - pair.value * scale) < 0.05, "bar of \(pair.value) s is \(pair.height) px, not \(pair.value * scale)")
                }
            }
        }

        @Test func compareRefusesBadInputWithASentence() async throws {
            try await blocking {
                let daemon = try ConcdProcess(arguments: ["--process-workers", "1"])
                defer { daemon.stop() }
                let cases: [([String], String)] = [
                    (["compare", "io"], "needs an argument"),
                    (["compare", "cpu", "many"], "whole number"),
                    (["compare", "cpu", "10", "--count", "0"], "--count"),
                    (["compare", "cpu", "10", "--plot", "chart.png"], ".svg"),
                    (["compare", "cpu", "10", "--plot", "/nonexistent/dir/c.svg"], "does not exist"),
                ]
                for (arguments, sentence) in cases {
                    let result = try runCommand(concctl, ["--socket", daemon.socketPath] + arguments)
                    #expect(result.status == 64, "\(arguments): \(result.status)")
                    #expect(result.stderr.contains(sentence), "\(arguments): \(result.stderr)")
                }
                // A file that cannot be created is refused before anything runs (73, EX_CANTCREAT).
                let plot = try daemon.concctl("compare", "cpu", "10", "--plot", "/proc/self/chart.svg")
                #expect(plot.status == 73 && plot.stdout.isEmpty, "\(plot.status) \(plot.stdout)")
                #expect(plot.stderr.contains("cannot write /proc/self/chart.svg: "), "\(plot.stderr)")
                let unreachable = try daemon.concctl("compare", "io", "http://127.0.0.1:1/", "--count", "2", "--json")
                #expect(unreachable.status == 1, "\(unreachable.stderr)")
                let pools = try #require(json(unreachable.stdout)?["pools"] as? [[String: Any]])
                #expect(pools.allSatisfy { $0["errors"] as? Int == 2 })
            }
        }

        @Test func submitDrawsAProgressBarOnlyOnATerminal() async throws {
            try await blocking {
                let daemon = try ConcdProcess(arguments: ["--process-workers", "1"])
                defer { daemon.stop() }
                let piped = try daemon.concctl("submit", "sleep", "20", "--pool", "thread", "--count", "30")
                #expect(piped.status == 0)
                #expect(piped.stderr.isEmpty, "stderr in a pipe: \(piped.stderr)")
                #expect(!piped.stdout.contains("\r") && !piped.stdout.contains("tasks, "))

                let terminal = try PseudoTerminal()
                var out: [Int32] = [-1, -1]
                guard pipe(&out) == 0 else { throw POSIXError(.EMFILE) }
                for descriptor in out { _ = fcntl(descriptor, F_SETFD, FD_CLOEXEC) }
                let child = try ChildProcess(
                    concctl, ["--socket", daemon.socketPath, "submit", "sleep", "20", "--pool", "thread", "--count", "30"],
                    stdout: out[1], stderr: terminal.slave
                )
                close(out[1])
                var stdout = [UInt8]()
                var buffer = [UInt8](repeating: 0, count: 4096)
                while true {
                    let count = read(out[0], &buffer, buffer.count)
                    if count > 0 { stdout.append(contentsOf: buffer[..<count]) } else if count < 0 && errno == EINTR { continue } else { break }
                }
                close(out[0])
                let status = child.wait()
                defer { terminal.close() }
                #expect(status == 0)
                #expect(terminal.waitFor("30/30 tasks"), "no progress bar on the terminal: \(terminal.output)")
                #expect(terminal.output.contains("[#"))
                #expect(terminal.waitFor("\r\u{1B}[K"), "the bar was not erased")
                let text = String(decoding: stdout, as: UTF8.self)
                #expect(!text.contains("\r") && text.contains("30 tasks: 30 ok"), "\(text)")
                let json = try daemon.concctl("submit", "sleep", "1", "--count", "3", "--json")
                #expect(json.stderr.isEmpty)
            }
        }

        @Test func completionsAndTheManPageAreUpToDate() async throws {
            try await blocking {
                let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
                for (shell, path) in [("bash", "share/completions/concctl.bash"), ("zsh", "share/completions/_concctl"), ("fish", "share/completions/concctl.fish")] {
                    let generated = try runCommand(concctl, ["--generate-completion-script", shell])
                    #expect(generated.status == 0)
                    let committed = try String(contentsOf: repository.appendingPathComponent(path), encoding: .utf8)
                    #expect(committed == generated.stdout, "\(path) is stale; run make completions")
                }
                let manual = try String(contentsOf: repository.appendingPathComponent("share/man/concctl.1"), encoding: .utf8)
                for command in ["submit", "status", "top", "compare", "metrics", "ping", "bench"] {
                    #expect(manual.contains(".It Em \(command)"), "concctl.1 does not describe \(command); run make man")
                    // Every option the command's help lists is in the manual, so a new option cannot go unnoticed.
                    let help = try runCommand(concctl, [command, "--help"]).stdout
                    for line in help.split(separator: "\n") where line.hasPrefix("  --") {
                        let option = line.dropFirst(4).prefix { $0.isLetter || $0 == "-" }
                        #expect(manual.contains("Fl -\(option)"), "concctl.1 lacks --\(option) of \(command); run make man")
                    }
                }
            }
        }

        static func freePort() throws -> Int {
            let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            defer { close(descriptor) }
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_addr.s_addr = inet_addr("127.0.0.1")
            var length = socklen_t(MemoryLayout<sockaddr_in>.size)
            let bound = withUnsafeMutablePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, length) == 0 && getsockname(descriptor, $0, &length) == 0 }
            }
            guard bound else { throw POSIXError(.EADDRINUSE) }
            return Int(UInt16(bigEndian: address.sin_port))
        }
    }
}

/// An SVG file read back with Foundation's XMLParser: each element's name and attributes, and the text of each.
final class SVGDocument: NSObject, XMLParserDelegate {
    struct Element {
        var name: String
        var attributes: [String: String]
        var text = ""
        subscript(key: String) -> String? { attributes[key] }
    }

    private(set) var all: [Element] = []
    private var open: [Int] = []
    private(set) var root = ""

    init(path: String) throws {
        super.init()
        let parser = try #require(XMLParser(contentsOf: URL(fileURLWithPath: path)))
        parser.delegate = self
        guard parser.parse() else {
            throw SVGError(description: "not well-formed XML: \(parser.parserError.map { "\($0)" } ?? "?")")
        }
    }

    struct SVGError: Error, CustomStringConvertible {
        var description: String
    }

    func elements(class name: String) -> [Element] {
        all.filter { ($0.attributes["class"] ?? "").split(separator: " ").contains(Substring(name)) }
    }

    func texts(class name: String) -> [String] {
        elements(class: name).map(\.text)
    }

    func parser(_ parser: XMLParser, didStartElement elementName: String, namespaceURI: String?, qualifiedName: String?, attributes: [String: String] = [:]) {
        if all.isEmpty { root = elementName }
        all.append(Element(name: elementName, attributes: attributes))
        open.append(all.count - 1)
    }

    func parser(_ parser: XMLParser, foundCharacters string: String) {
        if let index = open.last { all[index].text += string }
    }

    func parser(_ parser: XMLParser, didEndElement elementName: String, namespaceURI: String?, qualifiedName: String?) {
        open.removeLast()
    }
}

/// The loopback-http binary on a free port, for the io and async comparisons.
final class LoopbackProcess {
    let process: ChildProcess
    let url: String

    init() throws {
        let port = try BinaryLevelTests.VisibilityCLITests.freePort()
        let devNull = open("/dev/null", O_WRONLY | O_CLOEXEC)
        defer { close(devNull) }
        process = try ChildProcess(binaryDirectory + "/loopback-http", ["\(port)"], stdout: devNull)
        url = "http://127.0.0.1:\(port)"
        let deadline = Date().addingTimeInterval(20)
        while Date() < deadline {
            if (try? runCommand("/usr/bin/curl", ["-s", "-o", "/dev/null", url + "/"]))?.status == 0 { return }
            usleep(50_000)
        }
        stop()
        throw POSIXError(.ETIMEDOUT)
    }

    func stop() {
        if process.isRunning { kill(process.pid, SIGTERM) }
        process.wait()
    }
}
