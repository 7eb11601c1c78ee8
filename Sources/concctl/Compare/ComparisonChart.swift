import Foundation

/// Draws a ``Comparison`` as an SVG bar chart: one group of bars per pool (the serial estimate,
/// the measured wall time, the CPU time), on a time axis with ticks and its unit, a title, a
/// legend, and each group's speed-up above it. Plain SVG 1.1, readable by any browser; every bar
/// carries `data-pool`, `data-series` and `data-value` (seconds) so tools and tests can read it back.
enum ComparisonChart {
    /// A bar series: its key in `data-series`, its legend text and colour.
    struct Series: Sendable {
        var key: String
        var legend: String
        var colour: String
        var value: @Sendable (PoolComparison) -> Double
    }

    static let series: [Series] = [
        Series(key: "serial", legend: "one after another (estimate)", colour: "#b0b7c3", value: \.serialSeconds),
        Series(key: "wall", legend: "wall time, all at once", colour: "#2f6db5", value: \.wallSeconds),
        Series(key: "cpu", legend: "CPU time used", colour: "#e07b39", value: \.cpuSeconds),
    ]

    static let width = 820.0
    static let height = 460.0
    static let plotLeft = 90.0
    static let plotRight = 540.0
    static let plotTop = 70.0
    static let plotBottom = 380.0

    static func svg(_ comparison: Comparison) -> String {
        let largest = comparison.pools.flatMap { pool in series.map { $0.value(pool) } }.max() ?? 0
        let unit = TimeUnit.fitting(largest)
        // Headroom above the tallest bar for its group's two-line label.
        let axis = Axis(maximum: largest * unit.scale * 1.15)
        var out: [String] = []
        out.append(##"<?xml version="1.0" encoding="UTF-8"?>"##)
        out.append(
            ##"<svg xmlns="http://www.w3.org/2000/svg" version="1.1" width="\##(n(width))" height="\##(n(height))" viewBox="0 0 \##(n(width)) \##(n(height))" font-family="sans-serif" font-size="13">"##
        )
        let title = "\(comparison.workload), \(comparison.count) at once on each pool"
        out.append("<title>\(escape(title))</title>")
        out.append(##"<rect class="background" x="0" y="0" width="\##(n(width))" height="\##(n(height))" fill="#ffffff"/>"##)
        out.append(##"<text class="title" x="\##(n(width / 2))" y="30" text-anchor="middle" font-size="17" font-weight="bold">\##(escape(title))</text>"##)
        out.append(
            ##"<text class="subtitle" x="\##(n(width / 2))" y="50" text-anchor="middle" fill="#555555">concctl compare: lower wall time is better; speed-up = one after another / wall</text>"##
        )

        // Y axis: ticks, grid lines, labels and the unit.
        out.append(##"<g class="y-axis">"##)
        for tick in axis.ticks {
            let y = plotBottom - (tick / axis.top) * (plotBottom - plotTop)
            out.append(##"<line class="grid" x1="\##(n(plotLeft))" y1="\##(n(y))" x2="\##(n(plotRight))" y2="\##(n(y))" stroke="#e3e3e3"/>"##)
            out.append(##"<line class="tick" x1="\##(n(plotLeft - 5))" y1="\##(n(y))" x2="\##(n(plotLeft))" y2="\##(n(y))" stroke="#333333"/>"##)
            out.append(##"<text class="tick-label" x="\##(n(plotLeft - 9))" y="\##(n(y + 4))" text-anchor="end">\##(axis.label(tick))</text>"##)
        }
        out.append(##"<line class="axis-line" x1="\##(n(plotLeft))" y1="\##(n(plotTop))" x2="\##(n(plotLeft))" y2="\##(n(plotBottom))" stroke="#333333"/>"##)
        let middle = (plotTop + plotBottom) / 2
        out.append(
            ##"<text class="axis-label" x="24" y="\##(n(middle))" text-anchor="middle" transform="rotate(-90 24 \##(n(middle)))">time (\##(unit.symbol))</text>"##
        )
        out.append("</g>")

        // X axis: one group per pool.
        out.append(##"<g class="x-axis">"##)
        out.append(##"<line class="axis-line" x1="\##(n(plotLeft))" y1="\##(n(plotBottom))" x2="\##(n(plotRight))" y2="\##(n(plotBottom))" stroke="#333333"/>"##)
        let groupWidth = (plotRight - plotLeft) / Double(max(comparison.pools.count, 1))
        for (index, pool) in comparison.pools.enumerated() {
            let centre = plotLeft + groupWidth * (Double(index) + 0.5)
            out.append(##"<text class="pool-label" x="\##(n(centre))" y="\##(n(plotBottom + 20))" text-anchor="middle" font-weight="bold">\##(pool.pool.rawValue)</text>"##)
            out.append(##"<text class="model-label" x="\##(n(centre))" y="\##(n(plotBottom + 37))" text-anchor="middle" fill="#555555">\##(pool.model)\##(pool.errors > 0 ? ", \(pool.errors) errors" : "")</text>"##)
        }
        out.append(##"<text class="axis-label" x="\##(n((plotLeft + plotRight) / 2))" y="\##(n(plotBottom + 62))" text-anchor="middle">pool (concurrency model)</text>"##)
        out.append("</g>")

        // Bars.
        out.append(##"<g class="bars">"##)
        let barWidth = min(48, groupWidth * 0.8 / Double(series.count))
        for (index, pool) in comparison.pools.enumerated() {
            let groupLeft = plotLeft + groupWidth * Double(index) + (groupWidth - barWidth * Double(series.count)) / 2
            var tallest = plotBottom
            for (offset, item) in series.enumerated() {
                let value = item.value(pool)
                let barHeight = axis.top > 0 ? value * unit.scale / axis.top * (plotBottom - plotTop) : 0
                let x = groupLeft + barWidth * Double(offset)
                tallest = min(tallest, plotBottom - barHeight)
                out.append(
                    ##"<rect class="bar" data-pool="\##(pool.pool.rawValue)" data-series="\##(item.key)" data-value="\##(value)" x="\##(n(x))" y="\##(n(plotBottom - barHeight))" width="\##(n(barWidth - 2))" height="\##(n(barHeight))" fill="\##(item.colour)"><title>\##(pool.pool.rawValue): \##(escape(item.legend)) \##(Format.duration(seconds: value))</title></rect>"##
                )
            }
            let centre = plotLeft + groupWidth * (Double(index) + 0.5)
            out.append(
                ##"<text class="speedup-label" x="\##(n(centre))" y="\##(n(tallest - 24))" text-anchor="middle" font-weight="bold">\##(Format.rounded(pool.speedup))× speed-up</text>"##
            )
            out.append(
                ##"<text class="parallelism-label" x="\##(n(centre))" y="\##(n(tallest - 8))" text-anchor="middle" fill="#555555">\##(Format.rounded(pool.parallelism)) cores busy</text>"##
            )
        }
        out.append("</g>")

        // Legend.
        out.append(##"<g class="legend">"##)
        for (index, item) in series.enumerated() {
            let y = plotTop + 10 + Double(index) * 24
            out.append(##"<rect class="legend-swatch" x="\##(n(plotRight + 24))" y="\##(n(y - 11))" width="14" height="14" fill="\##(item.colour)"/>"##)
            out.append(##"<text class="legend-label" x="\##(n(plotRight + 44))" y="\##(n(y))">\##(escape(item.legend))</text>"##)
        }
        out.append("</g>")
        out.append("</svg>")
        return out.joined(separator: "\n") + "\n"
    }

    /// Seconds, milliseconds or microseconds, whichever keeps the axis labels short.
    struct TimeUnit {
        var symbol: String
        var scale: Double

        static func fitting(_ seconds: Double) -> TimeUnit {
            if seconds >= 1 { return TimeUnit(symbol: "s", scale: 1) }
            if seconds >= 1e-3 { return TimeUnit(symbol: "ms", scale: 1e3) }
            return TimeUnit(symbol: "µs", scale: 1e6)
        }
    }

    /// A linear axis from 0 with 4–10 ticks at 1, 2 or 5 times a power of ten.
    struct Axis {
        var step: Double
        var top: Double

        init(maximum: Double) {
            guard maximum > 0, maximum.isFinite else {
                step = 1
                top = 1
                return
            }
            let rough = maximum / 5
            let power = pow(10, floor(log10(rough)))
            let fraction = rough / power
            step = (fraction <= 1 ? 1 : fraction <= 2 ? 2 : fraction <= 5 ? 5 : 10) * power
            top = (maximum / step).rounded(.up) * step
        }

        var ticks: [Double] {
            let count = Int((top / step).rounded())
            return (0...count).map { Double($0) * step }
        }

        func label(_ value: Double) -> String {
            let decimals = max(0, -Int(floor(log10(step))))
            return String(format: "%.\(decimals)f", value)
        }
    }

    /// A coordinate with at most two decimals.
    private static func n(_ value: Double) -> String {
        let rounded = (value * 100).rounded() / 100
        return rounded == rounded.rounded() ? String(Int(rounded)) : String(rounded)
    }

    private static func escape(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
    }
}
