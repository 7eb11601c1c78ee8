import ConcSystem
import Foundation
import Synchronization

/// Where the hostile clients aim: a daemon's control socket and, when it serves one, its metrics
/// listener on loopback.
package struct HostileTarget: Sendable {
    /// The control socket.
    package var socketPath: String
    /// The metrics listener's port on 127.0.0.1, or nil when it has none.
    package var metricsPort: Int?

    package init(socketPath: String, metricsPort: Int?) {
        self.socketPath = socketPath
        self.metricsPort = metricsPort
    }
}

/// One way a hostile or careless client treats concd, run on a thread of its own until stopped.
/// The soak (`concctl bench-soak`) and the hostile-client tests drive the same ones.
package enum HostileKind: String, CaseIterable, Sendable {
    /// Pipelines `status` requests on one control connection and never reads a reply.
    case controlNonReader = "control-non-reader"
    /// Pipelines `GET /metrics` on one connection and never reads a response.
    case metricsNonReader = "metrics-non-reader"
    /// Sends one header line that never ends, reconnecting each time the daemon closes it.
    case endlessHeader = "endless-header"
    /// Holds 1 000 control connections and 100 metrics connections open, saying nothing.
    case idleCrowd = "idle-crowd"
    /// Connects, sends half a request, and resets the connection, over and over, on both listeners.
    case connectAndVanish = "connect-and-vanish"
    /// Holds 200 control connections, each with 60 000 bytes of a frame that never ends.
    case halfFrames = "half-frames"
    /// Sends random lines (bad JSON, bad UTF-8, wrong fields) on 8 connections and reads the answers.
    case fuzz

    /// Whether it needs the metrics listener.
    package var needsMetrics: Bool {
        switch self {
        case .metricsNonReader, .endlessHeader: return true
        default: return false
        }
    }
}

/// What a hostile client did and what the daemon did to it.
package struct HostileReport: Sendable, CustomStringConvertible {
    /// Bytes the client got the daemon to accept (written without error).
    package var bytesSent = 0
    /// Connections it opened.
    package var connections = 0
    /// Connections the daemon closed or reset on it.
    package var closedByDaemon = 0
    /// HTTP status codes the daemon answered with, by code (endless header, refusals).
    package var statuses: [Int: Int] = [:]
    /// Bytes accepted at most on one connection before the daemon closed it or stopped reading.
    package var mostBytesOnOneConnection = 0
    /// Frames sent (fuzz) and replies read.
    package var frames = 0
    package var replies = 0

    package var description: String {
        var parts = ["sent \(bytesSent) B", "\(connections) connections", "\(closedByDaemon) closed by concd"]
        if mostBytesOnOneConnection > 0 { parts.append("at most \(mostBytesOnOneConnection) B on one") }
        if !statuses.isEmpty {
            parts.append("HTTP " + statuses.sorted { $0.key < $1.key }.map { "\($0.key)×\($0.value)" }.joined(separator: " "))
        }
        if frames > 0 { parts.append("\(frames) frames, \(replies) replies") }
        return parts.joined(separator: ", ")
    }
}

/// Runs one `HostileKind` against a target on its own thread until `stop()`.
package final class HostileClient: Sendable {
    package let kind: HostileKind
    private let target: HostileTarget
    private let stopping = Atomic(false)
    private let report = Mutex(HostileReport())
    private let done = DispatchSemaphore(value: 0)

    /// Starts `kind` against `target` at once.
    package init(_ kind: HostileKind, target: HostileTarget) {
        self.kind = kind
        self.target = target
        let thread = Thread { [self] in
            run()
            done.signal()
        }
        thread.stackSize = 1 << 20
        thread.start()
    }

    /// What it has done so far.
    package var progress: HostileReport { report.withLock { $0 } }

    /// Stops it, closes its connections, and returns what it did.
    package func stop() -> HostileReport {
        stopping.store(true, ordering: .relaxed)
        done.wait()
        return progress
    }

    private var running: Bool { !stopping.load(ordering: .relaxed) }

    private func run() {
        switch kind {
        case .controlNonReader:
            nonReader(frame: Array(#"{"v":1,"op":"status"}"#.utf8) + [10], connect: { try .unix(target.socketPath) })
        case .metricsNonReader:
            guard let port = target.metricsPort else { return }
            nonReader(frame: Array("GET /metrics HTTP/1.1\r\nHost: concd\r\n\r\n".utf8), connect: { try .tcp(port: port) })
        case .endlessHeader:
            guard let port = target.metricsPort else { return }
            endlessHeader(port: port)
        case .idleCrowd:
            idleCrowd()
        case .connectAndVanish:
            connectAndVanish()
        case .halfFrames:
            halfFrames()
        case .fuzz:
            fuzz()
        }
    }

    /// Writes `frame` over and over without reading; a closed connection is replaced.
    private func nonReader(frame: [UInt8], connect: () throws -> Socket) {
        let chunk = Array([[UInt8]](repeating: frame, count: max(1, 16_384 / frame.count)).joined())
        while running {
            guard let socket = try? connect() else { return pause(0.05) }
            report.withLock { $0.connections += 1 }
            var onThis = 0
            while running {
                switch socket.write(chunk) {
                case .wrote(let count):
                    onThis += count
                    report.withLock {
                        $0.bytesSent += count
                        $0.mostBytesOnOneConnection = max($0.mostBytesOnOneConnection, onThis)
                    }
                case .wouldBlock:
                    socket.waitWritable(seconds: 0.05)
                case .closed:
                    report.withLock { $0.closedByDaemon += 1 }
                    onThis = -1
                }
                if onThis < 0 { break }
            }
        }
    }

    private func endlessHeader(port: Int) {
        let start = Array("GET /metrics HTTP/1.1\r\nHost: concd\r\nX-Endless: ".utf8)
        let more = [UInt8](repeating: UInt8(ascii: "a"), count: 16_384)
        while running {
            guard let socket = try? Socket.tcp(port: port) else { return pause(0.05) }
            report.withLock { $0.connections += 1 }
            var onThis = 0
            var first = true
            sending: while running {
                switch socket.write(first ? start : more) {
                case .wrote(let count):
                    first = false
                    onThis += count
                    report.withLock { $0.bytesSent += count }
                case .wouldBlock:
                    socket.waitWritable(seconds: 0.05)
                case .closed:
                    break sending
                }
            }
            guard running else { return }
            let answer = socket.readAll(seconds: 1)
            report.withLock {
                $0.closedByDaemon += 1
                $0.mostBytesOnOneConnection = max($0.mostBytesOnOneConnection, onThis)
                if let status = Self.httpStatus(answer) { $0.statuses[status, default: 0] += 1 }
            }
        }
    }

    private func idleCrowd() {
        var held: [Socket] = []
        for _ in 0..<1000 where running {
            if let socket = try? Socket.unix(target.socketPath) { held.append(socket) }
        }
        if let port = target.metricsPort {
            for _ in 0..<100 where running {
                if let socket = try? Socket.tcp(port: port) { held.append(socket) }
            }
        }
        report.withLock { $0.connections = held.count }
        while running { pause(0.05) }
        // Refused metrics connections were answered 503 and closed.
        var closed = 0
        var statuses: [Int: Int] = [:]
        for socket in held where socket.isClosedByPeer {
            closed += 1
            if let status = Self.httpStatus(socket.readAll(seconds: 0)) { statuses[status, default: 0] += 1 }
        }
        report.withLock {
            $0.closedByDaemon = closed
            $0.statuses = statuses
        }
    }

    private func connectAndVanish() {
        let halfControl = Array(#"{"id":1,"op":"sub"#.utf8)
        let halfHTTP = Array("GET /metr".utf8)
        while running {
            if let socket = try? Socket.unix(target.socketPath) {
                _ = socket.write(halfControl)
                socket.reset()
                report.withLock {
                    $0.connections += 1
                    $0.bytesSent += halfControl.count
                }
            }
            if let port = target.metricsPort, let socket = try? Socket.tcp(port: port) {
                _ = socket.write(halfHTTP)
                socket.reset()
                report.withLock {
                    $0.connections += 1
                    $0.bytesSent += halfHTTP.count
                }
            }
            pause(0.001)
        }
    }

    private func halfFrames() {
        let half = Array(#"{"id":1,"op":"submit","kind":"noop","pad":""#.utf8)
            + [UInt8](repeating: UInt8(ascii: "x"), count: 60_000)
        var held: [Socket] = []
        for _ in 0..<200 where running {
            guard let socket = try? Socket.unix(target.socketPath) else { continue }
            if case .wrote(let count) = socket.write(half) {
                report.withLock { $0.bytesSent += count }
            }
            held.append(socket)
        }
        report.withLock { $0.connections = held.count }
        while running { pause(0.05) }
        report.withLock { report in report.closedByDaemon = held.filter(\.isClosedByPeer).count }
    }

    private func fuzz() {
        var generator = SplitMix64(seed: 0x5eed_c0cd)
        var sockets: [Socket] = []
        while running {
            while sockets.count < 8, let socket = try? Socket.unix(target.socketPath) {
                sockets.append(socket)
                report.withLock { $0.connections += 1 }
            }
            for index in sockets.indices.reversed() {
                var lines: [UInt8] = []
                for _ in 0..<32 { lines += Self.fuzzLine(&generator) }
                switch sockets[index].write(lines) {
                case .wrote(let count):
                    report.withLock {
                        $0.bytesSent += count
                        $0.frames += 32
                    }
                case .wouldBlock:
                    break
                case .closed:
                    report.withLock { $0.closedByDaemon += 1 }
                    sockets.remove(at: index)
                    continue
                }
                let answers = sockets[index].readAvailable().reduce(0) { $0 + ($1 == 10 ? 1 : 0) }
                report.withLock { $0.replies += answers }
            }
            pause(0.002)
        }
    }

    /// A line that is mostly wrong: random bytes, truncated or mangled JSON, wrong types and values.
    private static func fuzzLine(_ generator: inout SplitMix64) -> [UInt8] {
        let templates = [
            #"{"id":1,"op":"submit","kind":"cpu","n":-1}"#, #"{"id":"x","op":"ping"}"#, #"{"op":"nothing"}"#,
            #"{"id":2,"op":"submit","kind":"sleep","ms":1e308}"#, #"{"id":3,"op":"submit","pool":"nope","kind":"noop"}"#,
            #"[1,2,3]"#, #"{"id":4,"op":"resize","pool":"thread","size":0}"#, #"{"id":5,"op":"status""#,
        ]
        var line: [UInt8]
        switch generator.next() % 3 {
        case 0:
            line = (0..<Int(generator.next() % 200)).map { _ in UInt8(truncatingIfNeeded: generator.next()) }
            line.removeAll { $0 == 10 }
        case 1:
            line = Array(templates[Int(generator.next() % UInt64(templates.count))].utf8)
            let cut = Int(generator.next() % UInt64(line.count + 1))
            line = Array(line.prefix(cut))
        default:
            line = Array(templates[Int(generator.next() % UInt64(templates.count))].utf8)
            if !line.isEmpty { line[Int(generator.next() % UInt64(line.count))] = UInt8(truncatingIfNeeded: generator.next()) }
            line.removeAll { $0 == 10 }
        }
        return line + [10]
    }

    private static func httpStatus(_ bytes: [UInt8]) -> Int? {
        let text = String(decoding: bytes.prefix(64), as: UTF8.self)
        guard text.hasPrefix("HTTP/1.") else { return nil }
        let parts = text.split(separator: " ", maxSplits: 2)
        return parts.count > 1 ? Int(parts[1]) : nil
    }

    private func pause(_ seconds: Double) {
        usleep(UInt32(seconds * 1e6))
    }
}

/// The seeded generator the fuzzer draws from, so a run can be repeated.
struct SplitMix64 {
    private var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// A non-blocking stream socket the hostile clients use: connect, write what the kernel takes,
/// read what is there, reset.
final class Socket {
    enum WriteOutcome {
        case wrote(Int)
        case wouldBlock
        case closed
    }

    private let descriptor: Int32

    private init(descriptor: Int32) {
        self.descriptor = descriptor
    }

    deinit {
        close(descriptor)
    }

    /// Connects to a Unix socket.
    static func unix(_ path: String) throws -> Socket {
        let address = try UnixSocketAddress(path: path)
        let descriptor = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard descriptor >= 0 else { throw BenchError("socket: \(Syscall.errnoDescription)") }
        guard address.withSockAddr({ connect(descriptor, $0, $1) }) == 0 else {
            close(descriptor)
            throw BenchError("connect \(path): \(Syscall.errnoDescription)")
        }
        return Socket(descriptor: descriptor).nonBlocking()
    }

    /// Connects to 127.0.0.1:`port` (loopback only).
    static func tcp(port: Int) throws -> Socket {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard descriptor >= 0 else { throw BenchError("socket: \(Syscall.errnoDescription)") }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = in_addr_t(UInt32(0x7F00_0001).bigEndian)
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else {
            close(descriptor)
            throw BenchError("connect 127.0.0.1:\(port): \(Syscall.errnoDescription)")
        }
        return Socket(descriptor: descriptor).nonBlocking()
    }

    private func nonBlocking() -> Socket {
        _ = fcntl(descriptor, F_SETFL, fcntl(descriptor, F_GETFL) | O_NONBLOCK)
        return self
    }

    func write(_ bytes: [UInt8]) -> WriteOutcome {
        let count = bytes.withUnsafeBytes { send(descriptor, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        if count >= 0 { return .wrote(count) }
        return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? .wouldBlock : .closed
    }

    func waitWritable(seconds: Double) {
        var entry = pollfd(fd: descriptor, events: Int16(POLLOUT), revents: 0)
        _ = poll(&entry, 1, Int32(seconds * 1000))
    }

    /// What can be read now without waiting.
    func readAvailable() -> [UInt8] {
        var result: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65_536)
        while true {
            let count = chunk.withUnsafeMutableBytes { recv(descriptor, $0.baseAddress, $0.count, 0) }
            guard count > 0 else { return result }
            result += chunk[0..<count]
        }
    }

    /// Everything until the peer closes or `seconds` pass without data.
    func readAll(seconds: Double) -> [UInt8] {
        var result: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65_536)
        while true {
            var entry = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
            guard poll(&entry, 1, Int32(seconds * 1000)) > 0 else { return result }
            let count = chunk.withUnsafeMutableBytes { recv(descriptor, $0.baseAddress, $0.count, 0) }
            guard count > 0 else { return result }
            result += chunk[0..<count]
        }
    }

    /// Whether the peer has closed its side (end of file or reset is waiting to be read).
    var isClosedByPeer: Bool {
        // POLLRDHUP (Linux, hidden from Swift behind _GNU_SOURCE): the peer shut its side down.
        let peerHungUp: Int16 = 0x2000
        var entry = pollfd(fd: descriptor, events: Int16(POLLIN) | peerHungUp, revents: 0)
        guard poll(&entry, 1, 0) > 0 else { return false }
        return entry.revents & (peerHungUp | Int16(POLLHUP | POLLERR)) != 0
    }

    /// Closes with a reset (SO_LINGER 0) instead of an orderly close.
    func reset() {
        var linger = Glibc.linger(l_onoff: 1, l_linger: 0)
        _ = setsockopt(descriptor, SOL_SOCKET, SO_LINGER, &linger, socklen_t(MemoryLayout<Glibc.linger>.size))
    }
}
