import ConcProtocol
import Foundation

/// How `concctl job` and `concctl jobs` show durable jobs to people.
enum JobView {
    /// `concctl job`: one line per field, labels aligned; an error's traceback follows as it came.
    static func lines(_ job: JobInfo, now: Double = Date().timeIntervalSince1970) -> [String] {
        var rows: [[String]] = [
            ["job", "\(job.id)"],
            ["state", job.state.rawValue],
            ["pool", job.pool],
            ["kind", job.kind],
            ["attempt", "\(job.attempt) of \(job.maxAttempts)"],
            ["host", job.host ?? "-"],
            ["created", Format.timestamp(job.createdAt, now: now)],
        ]
        if let startedAt = job.startedAt { rows.append(["started", Format.timestamp(startedAt, now: now)]) }
        if let runAt = job.runAt, !job.state.isFinal { rows.append(["next run", Format.timestamp(runAt, now: now)]) }
        if let finishedAt = job.finishedAt { rows.append(["finished", Format.timestamp(finishedAt, now: now)]) }
        var traceback: String?
        if let result = job.result {
            if let error = result.error {
                rows.append(["error", error.description])
                traceback = error.traceback
            } else {
                var placement = ["worker=\(result.worker ?? "-")"]
                if let wall = result.wallMicroseconds { placement.append("wall=\(Format.microseconds(wall))") }
                rows.append(["result", "\(Format.value(result.value))  \(placement.joined(separator: " "))"])
            }
        }
        for (index, failure) in job.errors.enumerated() {
            let host = failure.host.map { " on \($0)" } ?? ""
            rows.append([index == 0 ? "errors" : "", "attempt \(failure.attempt)\(host): \(failure.error.description)"])
        }
        var lines = Format.table(rows).components(separatedBy: "\n")
        if let traceback { lines.append(traceback) }
        return lines
    }

    static let header = ["ID", "STATE", "POOL", "KIND", "ATTEMPT", "HOST", "AGE"]

    /// `concctl jobs`: a header and one row per job, in the order given (newest first).
    static func table(_ jobs: [JobInfo], now: Double = Date().timeIntervalSince1970) -> [[String]] {
        [header]
            + jobs.map { job in
                [
                    "\(job.id)", job.state.rawValue, job.pool, job.kind, "\(job.attempt)/\(job.maxAttempts)",
                    job.host ?? "-", Format.age(seconds: now - job.createdAt),
                ]
            }
    }
}
