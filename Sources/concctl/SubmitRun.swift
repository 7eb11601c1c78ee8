import ConcClient
import ConcProtocol

/// Sends K copies of a task over one connection and collects the replies. A copy refused as
/// `shutting_down` never ran, so it is safe to send again: those are resent on a new connection
/// until `restartWait` passes. Under socket activation the new connection waits in the socket's
/// backlog until the restarted daemon accepts it; otherwise connecting is retried.
struct SubmitRun {
    let socketPath: String
    let submission: Submission
    let restartWait: Duration

    /// Sends the batch; `onAnswer` sees each final reply as it arrives (for a progress bar).
    func run(count: Int, onAnswer: (Reply) -> Void = { _ in }) async throws(ConcClientError) -> [Reply] {
        let giveUp = ContinuousClock.now + restartWait
        var done: [Reply] = []
        var remaining = count
        var pause = Duration.milliseconds(20)
        while true {
            let replies: [Reply]
            do {
                replies = try await sendAll(count: remaining, onAnswer: onAnswer)
            } catch {
                // Only reconnecting after a refusal: a first connection that fails is the user's answer.
                guard remaining < count, case .unreachable = error, ContinuousClock.now < giveUp else { throw error }
                try? await Task.sleep(for: pause)
                pause = min(pause * 2, .milliseconds(500))
                continue
            }
            let refused = replies.filter { $0.error?.code == .shuttingDown }
            done += replies.filter { $0.error?.code != .shuttingDown }
            remaining = refused.count
            if remaining == 0 || ContinuousClock.now >= giveUp {
                return done + refused
            }
            try? await Task.sleep(for: pause)
        }
    }

    private func sendAll(count: Int, onAnswer: (Reply) -> Void) async throws(ConcClientError) -> [Reply] {
        let client = try await ConcClient.connect(socketPath: socketPath)
        let submission = self.submission
        let result: Result<[Reply], ConcClientError> = await withTaskGroup(of: Result<Reply, ConcClientError>.self) { group in
            for _ in 0..<count {
                group.addTask {
                    do throws(ConcClientError) {
                        return .success(try await client.submit(submission))
                    } catch {
                        return .failure(error)
                    }
                }
            }
            var replies: [Reply] = []
            replies.reserveCapacity(count)
            for await result in group {
                switch result {
                case .success(let reply):
                    replies.append(reply)
                    if reply.error?.code != .shuttingDown { onAnswer(reply) }
                case .failure(let error):
                    group.cancelAll()
                    return .failure(error)
                }
            }
            return .success(replies)
        }
        await client.close()
        return try result.get()
    }
}
