import ConcClient
import ConcProtocol
import Foundation
import Logging
import Testing

import ConcDaemon

/// The optional Prometheus listener: a real daemon, a real HTTP GET over loopback TCP.
@Suite(.serialized) struct MetricsListenerTests {
    @Test func getMetricsServesTheExpositionAndOtherPathsAre404() async throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let socketPath = directory + "/concd.sock"
        var configuration = DaemonConfiguration(socketPath: socketPath, processWorkers: 1, threads: 2, workerExecutable: workerExecutable)
        configuration.metricsListen = ListenAddress(host: "127.0.0.1", port: 0)
        let daemon = Daemon(configuration: configuration, logger: Logger(label: "test"))
        let running = Task { try await daemon.run() }
        await daemon.waitUntilReady()
        do {
            let address = try #require(daemon.metricsAddress)
            #expect(address.port > 0)
            let client = try await ConcClient.connect(socketPath: socketPath)
            let reply = try await client.submit(try Submission(workload: .sleep(milliseconds: 1), pool: .thread))
            #expect(reply.ok)
            let viaSocket = try await client.metrics()
            await client.close()
            #expect(viaSocket.contains(#"concd_tasks_completed_total{pool="thread"} 1"#), "\(viaSocket)")

            let metrics = try await HTTPGet.fetch(host: "127.0.0.1", port: address.port, path: "/metrics")
            #expect(metrics.status == 200)
            #expect(metrics.headers["content-type"]?.hasPrefix("text/plain; version=0.0.4") == true)
            #expect(metrics.body.contains(#"concd_tasks_completed_total{pool="thread"} 1"#), "\(metrics.body)")
            #expect(metrics.body.contains(#"concd_pool_size{pool="process"} 1"#))
            #expect(metrics.body.contains("concd_uptime_seconds"))

            let missing = try await HTTPGet.fetch(host: "127.0.0.1", port: address.port, path: "/")
            #expect(missing.status == 404)
            let posted = try await HTTPGet.fetch(host: "127.0.0.1", port: address.port, path: "/metrics", method: "POST")
            #expect(posted.status == 405)
        } catch {
            await daemon.shutdown()
            _ = await running.result
            throw error
        }
        await daemon.shutdown()
        try await running.value
    }

    @Test func aTakenPortStopsTheStartWithASentence() async throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let holder = try TCPListener()
        defer { holder.close() }
        var configuration = DaemonConfiguration(
            socketPath: directory + "/concd.sock", processWorkers: 1, threads: 1, workerExecutable: workerExecutable
        )
        configuration.metricsListen = ListenAddress(host: "127.0.0.1", port: holder.port)
        let daemon = Daemon(configuration: configuration, logger: Logger(label: "test"))
        do {
            try await daemon.run()
            Issue.record("concd started on a taken port")
        } catch {
            #expect("\(error)".contains("cannot serve metrics on 127.0.0.1:\(holder.port)"), "\(error)")
        }
    }

    @Test func listenAddressesParse() throws {
        #expect(try ListenAddress.parse("127.0.0.1:9464").get() == ListenAddress(host: "127.0.0.1", port: 9464))
        #expect(try ListenAddress.parse("[::1]:80").get() == ListenAddress(host: "::1", port: 80))
        #expect(ListenAddress(host: "::1", port: 80).description == "[::1]:80")
        for bad in ["9464", ":9464", "host:", "host:70000", "host:x"] {
            #expect((try? ListenAddress.parse(bad).get()) == nil, "\(bad)")
        }
    }

    @Test func theConfigurationKeyTheEnvironmentAndTheFlag() async throws {
        let path = try temporaryDirectory() + "/concd.yaml"
        defer { try? FileManager.default.removeItem(atPath: (path as NSString).deletingLastPathComponent) }
        try "metrics: {listen: \"127.0.0.1:9464\"}\n".write(toFile: path, atomically: true, encoding: .utf8)
        #expect(try await ConfigurationLoader(filePath: path).load().metricsListen == ListenAddress(host: "127.0.0.1", port: 9464))
        var overrides = ConfigurationLoader.Overrides()
        overrides.metricsListen = "off"
        #expect(try await ConfigurationLoader(filePath: path, overrides: overrides).load().metricsListen == nil)
        try "metrics: {listen: nowhere}\n".write(toFile: path, atomically: true, encoding: .utf8)
        do {
            _ = try await ConfigurationLoader(filePath: path).load()
            Issue.record("a bad metrics.listen was accepted")
        } catch {
            #expect(error.description.contains("metrics.listen"))
        }
    }
}

/// A bound, listening TCP socket on a kernel-chosen loopback port, to make a port busy.
final class TCPListener {
    private let descriptor: Int32
    let port: Int

    init() throws {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        self.descriptor = descriptor
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0, listen(descriptor, 1) == 0 else { throw POSIXError(.EADDRINUSE) }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(descriptor, $0, &length) }
        }
        port = Int(UInt16(bigEndian: address.sin_port))
    }

    func close() {
        Glibc.close(descriptor)
    }
}

/// A minimal HTTP/1.1 client over a plain TCP socket (Connection: close), run off the cooperative pool.
enum HTTPGet {
    struct Response {
        var status: Int
        var headers: [String: String]
        var body: String
    }

    static func fetch(host: String, port: Int, path: String, method: String = "GET") async throws -> Response {
        try await withCheckedThrowingContinuation { continuation in
            Thread.detachNewThread {
                continuation.resume(with: Result { try fetchBlocking(host: host, port: port, path: path, method: method) })
            }
        }
    }

    private static func fetchBlocking(host: String, port: Int, path: String, method: String) throws -> Response {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        defer { close(descriptor) }
        var timeout = timeval(tv_sec: 10, tv_usec: 0)
        setsockopt(descriptor, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr(host)
        address.sin_port = UInt16(port).bigEndian
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else { throw POSIXError(.ECONNREFUSED) }
        let request = Array("\(method) \(path) HTTP/1.1\r\nHost: \(host):\(port)\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".utf8)
        _ = request.withUnsafeBytes { send(descriptor, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        var data = [UInt8]()
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = recv(descriptor, &buffer, buffer.count, 0)
            if count > 0 { data.append(contentsOf: buffer[..<count]) } else if count < 0 && errno == EINTR { continue } else { break }
        }
        let text = String(decoding: data, as: UTF8.self)
        guard let split = text.range(of: "\r\n\r\n") else { throw POSIXError(.EBADMSG) }
        let lines = text[..<split.lowerBound].split(separator: "\r\n")
        guard let statusLine = lines.first, statusLine.split(separator: " ").count >= 2,
            let status = Int(statusLine.split(separator: " ")[1])
        else { throw POSIXError(.EBADMSG) }
        var headers: [String: String] = [:]
        for line in lines.dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { continue }
            headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        return Response(status: status, headers: headers, body: String(text[split.upperBound...]))
    }
}
