import ConcProtocol
import Glibc
import Logging

extension Dispatcher {
    /// Runs an admin operation for a caller the kernel vouches for: root or the daemon's own user.
    /// Every decision, refusals included, is logged with the caller's uid and pid, which land in
    /// the journal as fields.
    func admin(_ request: Request, peer: PeerCredentials?, reply: @escaping @Sendable (Reply) -> Void) {
        let operation = request.operation
        var audit: Logger.Metadata = [
            "event": "admin", "op": "\(operation.name)",
            "caller_uid": "\(peer.map { "\($0.uid)" } ?? "unknown")",
            "caller_pid": "\(peer.map { "\($0.pid)" } ?? "unknown")",
        ]
        guard let peer, peer.isAdmin else {
            audit["outcome"] = "refused"
            logger.warning("refused an admin command from an unprivileged caller", metadata: audit)
            let who = peer.map { "uid \($0.uid)" } ?? "a caller whose credentials could not be read"
            reply(.failure(id: request.id, WireError(
                .permissionDenied,
                "\(operation.name) is an admin command: it needs root or the daemon's user (uid \(geteuid())), and \(who) is neither"
            )))
            return
        }
        let finish: @Sendable (Result<String, WireError>) -> Void = { [logger, audit] result in
            var audit = audit
            switch result {
            case .success(let detail):
                audit["outcome"] = "done"
                logger.notice("admin command: \(detail)", metadata: audit)
                reply(Reply(id: request.id, ok: true, detail: detail))
            case .failure(let error):
                audit["outcome"] = "failed"
                audit["reason"] = "\(error.message)"
                logger.warning("admin command failed", metadata: audit)
                reply(.failure(id: request.id, error))
            }
        }
        switch operation {
        case .resize(let kind, let size):
            guard let pool = pool(kind) else {
                finish(.failure(noSuchPool(kind)))
                return
            }
            let range = ConfigurationLimits.size(of: pool.model)
            guard range.contains(size) else {
                finish(.failure(WireError(
                    .invalidArgument, "the \(kind) pool's size must be \(range.lowerBound)...\(range.upperBound), got \(size)"
                )))
                return
            }
            Task {
                let before = pool.snapshot()
                do {
                    try await pool.resize(size: size, queueLimit: before.queueLimit)
                    finish(.success("resized the \(kind) pool from \(before.size) to \(size); a reload or restart restores the configured size"))
                } catch {
                    finish(.failure(WireError(.internal, "resizing the \(kind) pool failed: \(error)")))
                }
            }
        case .reload:
            guard let control = daemonControl.withLock({ $0 }) else {
                finish(.failure(WireError(.internal, "this daemon cannot reload")))
                return
            }
            Task {
                await control.reload()
                finish(.success("reloaded the configuration; the journal says what changed"))
            }
        case .shutdown:
            guard let control = daemonControl.withLock({ $0 }) else {
                finish(.failure(WireError(.internal, "this daemon cannot be shut down this way")))
                return
            }
            // Answered first: once the shutdown starts, the control socket stops accepting.
            finish(.success("shutting down: no new tasks; queued and running ones finish first"))
            Task { await control.shutdown() }
        case .killWorker(let pid):
            finish(killWorker(pid: pid))
        case .ping, .status, .submit, .metrics, .job, .waitJob, .cancelJob, .jobs:
            preconditionFailure("\(operation.name) is not an admin operation")
        }
    }

    /// Asks each pool to kill its worker with this pid; the one that owns it answers. Pools whose
    /// workers are not processes answer `unsupported_pool` and are left out of the refusal.
    private func killWorker(pid: Int32) -> Result<String, WireError> {
        var refusals: [String] = []
        for entry in registry.entries {
            switch entry.pool.kill(workerPID: pid) {
            case .success(let detail): return .success(detail)
            case .failure(let error) where error.code == .unsupportedPool: continue
            case .failure(let error): refusals.append(error.message)
            }
        }
        guard !refusals.isEmpty else {
            return .failure(WireError(.unsupportedPool, "this daemon runs no pool whose workers are processes"))
        }
        return .failure(WireError(.notFound, refusals.joined(separator: "; ")))
    }
}
