import Foundation

/// A pseudo-terminal for running concctl as if a person sat at it: the child gets the slave side as
/// its terminal, the test reads everything drawn on the master side (on a thread of its own, so the
/// child never blocks on a full buffer) and types into it.
final class PseudoTerminal: @unchecked Sendable {
    let master: Int32
    let slave: Int32
    private let lock = NSLock()
    private var received: [UInt8] = []
    private var reader: Thread?

    init(columns: UInt16 = 120, rows: UInt16 = 40) throws {
        // posix_openpt and friends are hidden from Swift's Glibc module; these are the ioctls they use
        // (TIOCSPTLCK and TIOCGPTN, whose macros Swift cannot import; the values hold on x86_64 and arm64).
        master = open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC)
        var unlock: Int32 = 0
        var number: UInt32 = 0
        guard master >= 0, ioctl(master, 0x4004_5431, &unlock) == 0, ioctl(master, 0x8004_5430, &number) == 0 else {
            throw POSIXError(.ENODEV)
        }
        slave = open("/dev/pts/\(number)", O_RDWR | O_NOCTTY | O_CLOEXEC)
        guard slave >= 0 else { throw POSIXError(.ENODEV) }
        var size = winsize(ws_row: rows, ws_col: columns, ws_xpixel: 0, ws_ypixel: 0)
        _ = ioctl(slave, UInt(TIOCSWINSZ), &size)
        let master = self.master
        let thread = Thread { [weak self] in
            var buffer = [UInt8](repeating: 0, count: 4096)
            while true {
                let count = read(master, &buffer, buffer.count)
                if count < 0 && errno == EINTR { continue }
                guard count > 0, let self else { return }
                self.lock.lock()
                self.received.append(contentsOf: buffer[..<count])
                self.lock.unlock()
            }
        }
        thread.start()
        reader = thread
    }

    /// Everything the child wrote to the terminal so far.
    var output: String {
        lock.lock()
        defer { lock.unlock() }
        return String(decoding: received, as: UTF8.self)
    }

    /// Waits up to `seconds` until the output contains `text`.
    func waitFor(_ text: String, seconds: Double = 20) -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if output.contains(text) { return true }
            usleep(20_000)
        }
        return output.contains(text)
    }

    /// Types `text`.
    func type(_ text: String) {
        _ = Array(text.utf8).withUnsafeBytes { write(master, $0.baseAddress, $0.count) }
    }

    /// The slave side's local modes (ICANON, ECHO, ...).
    var localModes: tcflag_t {
        var settings = termios()
        tcgetattr(slave, &settings)
        return settings.c_lflag
    }

    /// Closes the slave side (the child keeps its own copies) and, after the child is gone, the master.
    func close() {
        Glibc.close(slave)
        Glibc.close(master)
    }
}
