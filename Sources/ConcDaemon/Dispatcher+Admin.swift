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
                finish(.failure(WireError(.unsupportedPool, "this daemon runs no \(kind) pool")))
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
            guard let processes = pool(.process) as? ProcessPool else {
                finish(.failure(WireError(.unsupportedPool, "this daemon runs no process pool")))
                return
            }
            finish(processes.kill(workerPID: pid))
        case .ping, .status, .submit, .metrics:
            preconditionFailure("\(operation.name) is not an admin operation")
        }
    }
}
