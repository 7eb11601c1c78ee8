import ConcSystem
import Glibc

/// The floor every round trip is compared with: a message bounced off another process over an
/// AF_UNIX stream socket, with nothing in between. Waking the other process dominates it.
package enum EchoFloor {
    /// The size of a typical no-op request frame.
    package static let messageBytes = 64

    /// The command that starts an echo peer on descriptor 3: by default the running executable
    /// with `bench-echo` (concctl's hidden subcommand, which calls `serve`).
    package static func peerCommand() -> [String] { [selfExecutable(), "bench-echo"] }

    /// Echoes `descriptor` until it closes: the peer's whole work.
    package static func serve(descriptor: Int32) {
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = Syscall.retryingEINTR { read(descriptor, &buffer, buffer.count) }
            guard count > 0 else { return }
            var sent = 0
            while sent < count {
                let written = buffer.withUnsafeBytes { write(descriptor, $0.baseAddress! + sent, count - sent) }
                guard written > 0 else { return }
                sent += written
            }
        }
    }

    /// Round-trip times in nanoseconds, measured against a `concctl bench-echo` child. With
    /// `cpus`, this thread is pinned to the first CPU and the peer to the second for the
    /// measurement (same CPU twice: both on one core), and this thread's mask is restored after.
    package static func measure(rounds: Int, cpus: (Int, Int)? = nil) throws -> [UInt64] {
        let peer = try Peer()
        defer { peer.close() }
        var saved = cpu_set_t()
        if let (own, other) = cpus {
            guard Affinity.get(0, MemoryLayout<cpu_set_t>.size, &saved) == 0,
                pin(0, to: own), pin(peer.pid, to: other)
            else { throw BenchError("cannot pin the floor's processes to CPUs \(own) and \(other)") }
        }
        defer { if cpus != nil { _ = Affinity.set(0, MemoryLayout<cpu_set_t>.size, &saved) } }
        // The first tenth warms caches and the scheduler; it is not counted.
        _ = try peer.roundTrips(rounds / 10)
        return try peer.roundTrips(rounds)
    }

    /// A `concctl bench-echo` child on a socketpair, kept for as many round trips as asked, so
    /// that floor samples can be taken in turns with the daemon's.
    package final class Peer {
        private let socket: Int32
        private let child: ChildProcess
        /// The peer's pid.
        package var pid: pid_t { child.pid }

        /// Starts a peer on a fresh socketpair.
        package init() throws {
            var pair: [Int32] = [-1, -1]
            guard socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &pair) == 0 else {
                throw BenchError("socketpair failed")
            }
            defer { Glibc.close(pair[1]) }
            do {
                let command = peerCommand()
                child = try ChildProcess(command[0], Array(command.dropFirst()), placements: [.init(pair[1], at: 3)])
            } catch {
                Glibc.close(pair[0])
                throw error
            }
            socket = pair[0]
        }

        /// Closing our end is what ends the peer, so it comes before the wait.
        package func close() {
            Glibc.close(socket)
            child.wait()
        }

        /// `count` round-trip times in nanoseconds.
        package func roundTrips(_ count: Int) throws -> [UInt64] {
            var message = [UInt8](repeating: UInt8(ascii: "x"), count: messageBytes)
            var samples: [UInt64] = []
            samples.reserveCapacity(count)
            for _ in 0..<count {
                let start = monotonicNanoseconds()
                guard write(socket, message, messageBytes) == messageBytes else { throw BenchError("echo peer went away") }
                var received = 0
                while received < messageBytes {
                    let read = message.withUnsafeMutableBytes { Glibc.read(socket, $0.baseAddress! + received, messageBytes - received) }
                    guard read > 0 else { throw BenchError("echo peer went away") }
                    received += read
                }
                samples.append(monotonicNanoseconds() - start)
            }
            return samples
        }
    }

    /// The CPUs this process may run on.
    package static func usableCPUs() -> [Int] {
        var set = cpu_set_t()
        guard Affinity.get(0, MemoryLayout<cpu_set_t>.size, &set) == 0 else { return [] }
        return withUnsafeBytes(of: &set) { raw in
            (0..<(raw.count * 8)).filter { raw[$0 / 8] & UInt8(1 << ($0 % 8)) != 0 }
        }
    }

    private static func pin(_ pid: pid_t, to cpu: Int) -> Bool {
        var set = cpu_set_t()
        withUnsafeMutableBytes(of: &set) { raw in raw[cpu / 8] |= UInt8(1 << (cpu % 8)) }
        return Affinity.set(pid, MemoryLayout<cpu_set_t>.size, &set) == 0
    }

    /// The running executable's path.
    package static func selfExecutable() -> String {
        var buffer = [UInt8](repeating: 0, count: 4096)
        let length = buffer.withUnsafeMutableBufferPointer { raw in
            raw.withMemoryRebound(to: CChar.self) { readlink("/proc/self/exe", $0.baseAddress!, $0.count) }
        }
        return length > 0 ? String(decoding: buffer[..<length], as: UTF8.self) : CommandLine.arguments[0]
    }
}

/// glibc's sched_getaffinity and sched_setaffinity, which the Glibc module leaves out (they need
/// _GNU_SOURCE); looked up once in the running process.
private enum Affinity {
    typealias Function = @convention(c) (pid_t, Int, UnsafeMutableRawPointer?) -> Int32

    static let get = function("sched_getaffinity")
    static let set = function("sched_setaffinity")

    private static func function(_ name: String) -> Function {
        guard let symbol = dlsym(dlopen(nil, RTLD_NOW), name) else {
            return { _, _, _ in -1 }
        }
        return unsafeBitCast(symbol, to: Function.self)
    }
}
