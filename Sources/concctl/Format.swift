import ConcProtocol
import Foundation

/// How concctl renders numbers and tables for people.
enum Format {
    static func duration(_ duration: Duration) -> String {
        let components = duration.components
        return self.duration(seconds: Double(components.seconds) + Double(components.attoseconds) / 1e18)
    }

    static func duration(seconds: Double) -> String {
        if seconds < 1e-3 { return "\(rounded(seconds * 1e6)) µs" }
        if seconds < 1 { return "\(rounded(seconds * 1e3)) ms" }
        if seconds < 120 { return "\(rounded(seconds)) s" }
        return "\(Int(seconds / 60)) min"
    }

    /// How long ago (or, for a time ahead, how soon) in whole units, for tables: `0 s`, `42 s`, `5 min`, `3 h`, `2 d`.
    static func age(seconds: Double) -> String {
        let whole = Int(max(0, seconds).rounded(.down))
        if whole < 120 { return "\(whole) s" }
        if whole < 7200 { return "\(whole / 60) min" }
        if whole < 172_800 { return "\(whole / 3600) h" }
        return "\(whole / 86400) d"
    }

    /// A time (seconds since the epoch) in ISO 8601, UTC, with how long ago it was or how soon it comes:
    /// `2025-05-01T12:00:03Z (5 min ago)`.
    static func timestamp(_ epochSeconds: Double, now: Double = Date().timeIntervalSince1970) -> String {
        let date = Date(timeIntervalSince1970: epochSeconds).formatted(.iso8601)
        let delta = now - epochSeconds
        return delta >= 0 ? "\(date) (\(age(seconds: delta)) ago)" : "\(date) (in \(age(seconds: -delta)))"
    }

    static func microseconds(_ value: UInt64) -> String {
        duration(seconds: Double(value) / 1e6)
    }

    static func rounded(_ value: Double) -> String {
        let digits = value >= 100 ? 0 : value >= 10 ? 1 : 2
        var scaled = value
        for _ in 0..<digits { scaled *= 10 }
        scaled.round()
        for _ in 0..<digits { scaled /= 10 }
        if digits == 0 { return String(Int(scaled)) }
        let text = String(scaled)
        guard let dot = text.firstIndex(of: ".") else { return text }
        let decimals = text[text.index(after: dot)...].prefix(digits)
        return text[..<dot] + "." + decimals.padding(toLength: digits, withPad: "0", startingAt: 0)
    }

    static func value(_ value: TaskValue?) -> String {
        switch value {
        case .integer(let integer): return String(integer)
        case .http(let summary): return "HTTP \(summary.status), \(summary.bytes) bytes in \(microseconds(summary.timeMicroseconds))"
        case .empty, nil: return "done"
        case .json(let json): return json.text
        case .command(let result):
            let ended = result.exitCode.map { "exit \($0)" } ?? "killed by signal \(result.signal ?? 0)"
            let out = UInt64(result.stdout.utf8.count) + result.stdoutDropped
            let err = UInt64(result.stderr.utf8.count) + result.stderrDropped
            return "\(ended), \(out) bytes out, \(err) bytes err in \(microseconds(result.timeMicroseconds))"
        }
    }

    static func table(_ rows: [[String]]) -> String {
        let widths = rows.reduce(into: [Int]()) { widths, row in
            for (index, cell) in row.enumerated() {
                if index >= widths.count { widths.append(0) }
                widths[index] = max(widths[index], cell.count)
            }
        }
        return rows.map { row in
            row.enumerated().map { index, cell in
                index == row.count - 1 ? cell : cell.padding(toLength: widths[index] + 2, withPad: " ", startingAt: 0)
            }.joined()
        }.joined(separator: "\n")
    }
}
