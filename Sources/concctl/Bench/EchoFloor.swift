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
        var pair: [Int32] = [-1, -1]
        guard socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &pair) == 0 else {
            throw BenchError("socketpair failed")
        }
        let peer: Spawned
        do {
            peer = try Spawned([selfExecutable(), "bench-echo"], descriptors: [(pair[1], 3)])
        } catch {
            close(pair[0])
            close(pair[1])
            throw error
        }
        close(pair[1])
        // Closing our end is what ends the peer, so it comes before the wait.
        defer {
            close(pair[0])
            peer.wait()
        }
        var saved = cpu_set_t()
        if let (own, other) = cpus {
            guard Affinity.get(0, MemoryLayout<cpu_set_t>.size, &saved) == 0,
                pin(0, to: own), pin(peer.pid, to: other)
            else { throw BenchError("cannot pin the floor's processes to CPUs \(own) and \(other)") }
        }
        defer { if cpus != nil { _ = Affinity.set(0, MemoryLayout<cpu_set_t>.size, &saved) } }
        var message = [UInt8](repeating: UInt8(ascii: "x"), count: messageBytes)
        var samples: [UInt64] = []
        samples.reserveCapacity(rounds)
        for round in 0..<(rounds + rounds / 10) {
            let start = monotonicNanoseconds()
            guard write(pair[0], message, messageBytes) == messageBytes else { throw BenchError("echo peer went away") }
            var received = 0
            while received < messageBytes {
                let count = message.withUnsafeMutableBytes { read(pair[0], $0.baseAddress! + received, messageBytes - received) }
                guard count > 0 else { throw BenchError("echo peer went away") }
                received += count
            }
            // The first tenth warms caches and the scheduler; it is not counted.
            if round >= rounds / 10 { samples.append(monotonicNanoseconds() - start) }
        }
        return samples
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
