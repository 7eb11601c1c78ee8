import Foundation

/// The progress line of a long `submit --count K`: drawn on stderr with `\r`, at most ten times a
/// second, and erased when the last reply is in, so nothing of it is left in the output. It draws
/// only when stderr is a terminal; ``make(total:json:)`` returns nil otherwise (a pipe, a file, a
/// test) and with --json, so scripts see exactly what they saw before.
struct ProgressBar {
    private let total: Int
    private let started = ContinuousClock.now
    private var done = 0
    private var failed = 0
    private var lastDrawn: ContinuousClock.Instant?

    /// A bar for `total` tasks, or nil when it should not be drawn.
    static func make(total: Int, json: Bool) -> ProgressBar? {
        guard total > 1, !json, isatty(STDERR_FILENO) == 1 else { return nil }
        return ProgressBar(total: total)
    }

    private init(total: Int) {
        self.total = total
    }

    /// Counts one reply and redraws when the last drawing is 100 ms old (or this is the last reply).
    mutating func advance(ok: Bool) {
        done += 1
        if !ok { failed += 1 }
        let now = ContinuousClock.now
        if done == total || lastDrawn.map({ $0.duration(to: now) >= .milliseconds(100) }) ?? true {
            lastDrawn = now
            Self.write("\r" + Self.line(done: done, failed: failed, total: total, elapsed: started.duration(to: now), width: Self.columns()))
        }
    }

    /// Erases the line.
    func finish() {
        Self.write("\r\u{1B}[K")
    }

    /// `[#########.........]  45/100 tasks, 1 failed, 2.1 s`, fitted to `width` columns.
    static func line(done: Int, failed: Int, total: Int, elapsed: Duration, width: Int) -> String {
        var suffix = " \(done)/\(total) tasks"
        if failed > 0 { suffix += ", \(failed) failed" }
        suffix += ", \(Format.duration(elapsed))"
        let barWidth = max(10, min(50, width - suffix.count - 3))
        let filled = total > 0 ? barWidth * done / total : barWidth
        return "[" + String(repeating: "#", count: filled) + String(repeating: ".", count: barWidth - filled) + "]" + suffix
    }

    private static func columns() -> Int {
        var size = winsize()
        guard ioctl(STDERR_FILENO, UInt(TIOCGWINSZ), &size) == 0, size.ws_col > 0 else { return 80 }
        return Int(size.ws_col)
    }

    private static func write(_ text: String) {
        FileHandle.standardError.write(Data(text.utf8))
    }
}
