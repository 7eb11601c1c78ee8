import ConcSystem
import Glibc
import Testing

@Suite struct UnixSocketAddressTests {
    @Test func sunPathHolds107BytesAndNoMore() throws {
        #expect(UnixSocketAddress.maximumPathBytes == 107)
        let longest = "/tmp/" + String(repeating: "a", count: 102)
        #expect(try UnixSocketAddress(path: longest).path == longest)
        let tooLong = longest + "b"
        #expect(throws: UnixSocketAddressError(code: .pathTooLong, path: tooLong)) { try UnixSocketAddress(path: tooLong) }
        do {
            _ = try UnixSocketAddress(path: tooLong)
        } catch {
            #expect(error.description == "socket path \(tooLong) is longer than 107 bytes")
        }
    }

    @Test func anEmptyPathOrOneWithAZeroByteIsRefused() {
        #expect(throws: UnixSocketAddressError(code: .emptyPath, path: "")) { try UnixSocketAddress(path: "") }
        #expect(throws: UnixSocketAddressError(code: .zeroByteInPath, path: "/tmp/a\0b")) {
            try UnixSocketAddress(path: "/tmp/a\0b")
        }
    }

    @Test func theAddressBindsAndConnects() throws {
        let path = "/tmp/concsys-\(getpid()).sock"
        unlink(path)
        defer { unlink(path) }
        let address = try UnixSocketAddress(path: path)
        let server = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        defer { close(server) }
        #expect(address.withSockAddr { bind(server, $0, $1) } == 0)
        #expect(listen(server, 1) == 0)
        let client = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        defer { close(client) }
        #expect(address.withSockAddr { connect(client, $0, $1) } == 0)
    }
}
