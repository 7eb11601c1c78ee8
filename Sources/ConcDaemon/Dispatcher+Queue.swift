import ConcFleet
import ConcProtocol
import Foundation

/// Durable submissions and the job operations (`job`, `wait`, `cancel`, `jobs`): handed to the
/// fleet's queue when the configuration has one, refused with `no_queue` when it does not.
extension Dispatcher {
    /// Lets durable submissions and job operations reach the fleet's queue.
    package func attach(_ queue: FleetService) {
        fleet.withLock { $0 = queue }
    }

    func queueOperation(_ request: Request, reply: @escaping @Sendable (Reply) -> Void) {
        guard let queue = fleet.withLock({ $0 }) else {
            reply(.failure(id: request.id, WireError(
                .noQueue, "this concd has no queue: durable jobs need a queue: section (queue.url) in concd.yaml"
            )))
            return
        }
        let id = request.id
        switch request.operation {
        case .submit(let submission):
            durableSubmit(submission, id: id, queue: queue, reply: reply)
        case .job(let job):
            Task {
                do throws(WireError) {
                    guard let info = try await queue.job(job) else { return reply(.failure(id: id, Self.noSuchJob(job))) }
                    reply(Reply(id: id, ok: true, jobID: job, job: info))
                } catch {
                    reply(.failure(id: id, error))
                }
            }
        case .waitJob(let job):
            Task {
                do throws(WireError) {
                    guard let (state, stored) = try await queue.waitForJob(job) else {
                        return reply(.failure(id: id, Self.noSuchJob(job)))
                    }
                    reply(Self.finalReply(id: id, job: job, state: state, stored: stored))
                } catch {
                    reply(.failure(id: id, error))
                }
            }
        case .cancelJob(let job):
            Task {
                do throws(WireError) {
                    guard let (was, info) = try await queue.cancel(job) else { return reply(.failure(id: id, Self.noSuchJob(job))) }
                    switch was {
                    case .queued:
                        reply(Reply(id: id, ok: true, detail: "job \(job) was queued and will never start", jobID: job, job: info))
                    case .running:
                        let host = info?.host.map { " on \($0)" } ?? ""
                        reply(Reply(id: id, ok: true, detail: "job \(job) was running\(host); it is being stopped", jobID: job, job: info))
                    case .succeeded, .failed, .cancelled:
                        reply(Reply(id: id, ok: false, error: WireError(
                            .invalidArgument, "job \(job) already \(was.rawValue); there is nothing to cancel"
                        ), jobID: job, job: info))
                    }
                } catch {
                    reply(.failure(id: id, error))
                }
            }
        case .jobs(let state, let limit):
            Task {
                do throws(WireError) {
                    reply(Reply(id: id, ok: true, jobs: try await queue.jobs(state: state, limit: limit)))
                } catch {
                    reply(.failure(id: id, error))
                }
            }
        case .ping, .status, .metrics, .resize, .reload, .shutdown, .killWorker:
            preconditionFailure("\(request.operation.name) is not a queue operation")
        }
    }

    private func durableSubmit(_ submission: Submission, id: UInt64?, queue: FleetService, reply: @escaping @Sendable (Reply) -> Void) {
        guard let durability = submission.durability else { preconditionFailure("a durable submission without durability") }
        let pool = submission.resolvedPool
        // A pool this host has is checked here; one it lacks may exist on other hosts of the fleet.
        if let entry = registry.entry(pool), let refusal = refusal(of: submission, on: entry, id: id) {
            return reply(refusal)
        }
        var stored = submission
        stored.durability = nil
        let job = JobStore.NewJob(
            pool: pool.rawValue, kind: submission.workload.kind.rawValue,
            request: String(decoding: RequestCodec.encode(Request(id: nil, operation: .submit(stored))), as: UTF8.self),
            maxAttempts: durability.maxAttempts ?? queue.settings.maxAttempts, waiting: !durability.detach
        )
        Task {
            do throws(WireError) {
                if durability.detach {
                    let job = try await queue.submit(job)
                    reply(Reply(id: id, ok: true, detail: "stored; concctl wait \(job) gives its result", jobID: job))
                } else {
                    let (job, state, text) = try await queue.run(job)
                    reply(Self.finalReply(id: id, job: job, state: state, stored: text))
                }
            } catch {
                reply(.failure(id: id, error))
            }
        }
    }

    /// A finished job's stored reply, as an answer to request `id`.
    static func finalReply(id: UInt64?, job: Int64, state: JobState, stored: String?) -> Reply {
        var reply: Reply
        if let stored, let decoded = try? ReplyCodec.decode(Array(stored.utf8)) {
            reply = decoded
        } else {
            reply = Reply(id: nil, ok: false, error: WireError(.internal, "job \(job) \(state.rawValue) without a stored result"))
        }
        reply.id = id
        reply.jobID = job
        if state != .succeeded && reply.ok {
            reply.ok = false
            reply.error = WireError(.internal, "job \(job) \(state.rawValue)")
        }
        return reply
    }

    static func noSuchJob(_ job: Int64) -> WireError {
        WireError(.notFound, "there is no job \(job) (never stored, or pruned after its retention)")
    }
}
