import Foundation
import Synchronization

/// The terminal while `concctl top` draws on it: the alternate screen, a hidden cursor, and stdin in
/// cbreak mode (no echo, keys arrive one at a time) so that q works without Enter. ``restore()``
/// puts everything back and is safe to call more than once.
final class Terminal: Sendable {
    private let saved: Mutex<termios?>
    private let active = Mutex(true)

    /// Whether file descriptor `descriptor` is a terminal.
    static func isTerminal(_ descriptor: Int32) -> Bool {
        isatty(descriptor) == 1
    }

    /// Switches to the alternate screen and, when stdin is a terminal, to cbreak mode.
    init() {
        var settings = termios()
        if isatty(STDIN_FILENO) == 1, tcgetattr(STDIN_FILENO, &settings) == 0 {
            saved = Mutex(settings)
            var cbreak = settings
            cbreak.c_lflag &= ~tcflag_t(ICANON | ECHO)
            // ISIG stays on: Ctrl-C still raises SIGINT, which top catches to restore the terminal.
            withUnsafeMutableBytes(of: &cbreak.c_cc) { cc in
                cc[Int(VMIN)] = 1
                cc[Int(VTIME)] = 0
            }
            tcsetattr(STDIN_FILENO, TCSANOW, &cbreak)
        } else {
            saved = Mutex(nil)
        }
        Self.write("\u{1B}[?1049h\u{1B}[?25l")
    }

    /// Leaves the alternate screen, shows the cursor and restores stdin's settings.
    func restore() {
        let wasActive = active.withLock { active in
            defer { active = false }
            return active
        }
        guard wasActive else { return }
        Self.write("\u{1B}[?25h\u{1B}[?1049l")
        if var settings = saved.withLock({ $0 }) {
            tcsetattr(STDIN_FILENO, TCSANOW, &settings)
        }
    }

    /// Replaces the screen's content with `lines`, cut to the terminal's width. Each line is
    /// overwritten in place and erased to its end, then the rest of the screen, so nothing flickers.
    func draw(_ lines: [String]) {
        let width = Self.columns()
        let body = lines.map { line in (line.count > width ? String(line.prefix(width)) : line) + "\u{1B}[K" }
        Self.write(Self.home + body.joined(separator: "\r\n") + "\r\n\u{1B}[J")
    }

    /// The cursor to the top left corner; each frame starts with it.
    static let home = "\u{1B}[H"

    /// The terminal's width, 80 when unknown.
    static func columns() -> Int {
        var size = winsize()
        guard ioctl(STDOUT_FILENO, UInt(TIOCGWINSZ), &size) == 0, size.ws_col > 0 else { return 80 }
        return Int(size.ws_col)
    }

    /// Writes to stdout at once, bypassing stdio's buffer.
    static func write(_ text: String) {
        var bytes = Array(text.utf8)[...]
        while !bytes.isEmpty {
            let written = bytes.withUnsafeBytes { Glibc.write(STDOUT_FILENO, $0.baseAddress, $0.count) }
            if written < 0 && errno == EINTR { continue }
            guard written > 0 else { return }
            bytes = bytes.dropFirst(written)
        }
    }
}
