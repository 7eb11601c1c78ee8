import ArgumentParser
import Foundation

/// The floor every round trip is compared with: a message bounced off another process over an
/// AF_UNIX stream socket, with nothing in between. Waking the other process dominates it.
enum EchoFloor {
    /// The size of a typical no-op request frame.
    static let messageBytes = 64

    /// Round-trip times in nanoseconds, measured against a `concctl bench-echo` child. With
    /// `cpus`, this thread is pinned to the first CPU and the peer to the second for the
    /// measurement (same CPU twice: both on one core), and this thread's mask is restored after.
    static func measure(rounds: Int, cpus: (Int, Int)? = nil) throws -> [UInt64] {
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
    final class Peer {
        private let socket: Int32
        private let child: Spawned
        var pid: pid_t { child.pid }

        init() throws {
            var pair: [Int32] = [-1, -1]
            guard socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &pair) == 0 else {
                throw BenchError("socketpair failed")
            }
            defer { Glibc.close(pair[1]) }
            do {
                child = try Spawned([selfExecutable(), "bench-echo"], descriptors: [(pair[1], 3)])
            } catch {
                Glibc.close(pair[0])
                throw error
            }
            socket = pair[0]
        }

        /// Closing our end is what ends the peer, so it comes before the wait.
        func close() {
            Glibc.close(socket)
            child.wait()
        }

        /// `count` round-trip times in nanoseconds.
        func roundTrips(_ count: Int) throws -> [UInt64] {
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
    static func usableCPUs() -> [Int] {
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

    static func selfExecutable() -> String {
        var buffer = [UInt8](repeating: 0, count: 4096)
        let length = buffer.withUnsafeMutableBufferPointer { raw in
            raw.withMemoryRebound(to: CChar.self) { readlink("/proc/self/exe", $0.baseAddress!, $0.count) }
        }
        return length > 0 ? String(decoding: buffer[..<length], as: UTF8.self) : CommandLine.arguments[0]
    }
}

/// `concctl bench-echo`: the peer of the floor measurement; echoes fd 3 until it closes.
struct BenchEcho: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "bench-echo", shouldDisplay: false)

    func run() throws {
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = read(3, &buffer, buffer.count)
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else { return }
            var sent = 0
            while sent < count {
                let written = buffer.withUnsafeBytes { write(3, $0.baseAddress! + sent, count - sent) }
                guard written > 0 else { return }
                sent += written
            }
        }
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
