import Foundation
import LoopbackHTTP

// Serves the loopback routes until killed, printing the base URL on the first line so that a
// script can read it: `loopback-http [PORT]`.
let requestedPort = CommandLine.arguments.dropFirst().first.flatMap { Int($0) } ?? 0
let server = try await LoopbackHTTPServer.start(port: requestedPort)
FileHandle.standardOutput.write(Data((server.baseURL + "\n").utf8))
while true {
    try await Task.sleep(for: .seconds(3600))
}
