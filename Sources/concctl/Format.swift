import ConcProtocol

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
