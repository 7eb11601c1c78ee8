import Foundation
import LoopbackHTTP

let usage = """
    USAGE: loopback-http [PORT]

    Serves the loopback test routes on 127.0.0.1 until killed, printing the base URL on the
    first line so that a script can read it. PORT 0 (the default) picks a free port.

    Example:
      loopback-http 8080
    """

let arguments = Array(CommandLine.arguments.dropFirst())
if arguments.contains(where: { $0 == "--help" || $0 == "-h" }) {
    print(usage)
    exit(0)
}
let port = arguments.isEmpty ? 0 : arguments.count == 1 ? Int(arguments[0]) : nil
guard let requestedPort = port, (0...65_535).contains(requestedPort) else {
    let given = arguments.joined(separator: " ")
    FileHandle.standardError.write(Data("loopback-http: expected one port number 0...65535, got '\(given)'\n\n\(usage)\n".utf8))
    exit(64)
}
let server = try await LoopbackHTTPServer.start(port: requestedPort)
FileHandle.standardOutput.write(Data((server.baseURL + "\n").utf8))
while true {
    try await Task.sleep(for: .seconds(3600))
}
