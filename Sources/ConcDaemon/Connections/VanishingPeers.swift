import NIOCore

/// Peers that keep opening connections that come to nothing: they leave before a whole request
/// (a connect-and-vanish storm, a client stuck in a reconnect loop), or send one the daemon refuses
/// (an endless header). Each such connection costs the daemon a channel built and torn down (about
/// 130 000 instructions for a Unix connection, callgrind, docs/reliability.md), so one peer doing
/// it a thousand times a second slows every other client. Each peer has a bucket of `burst` such
/// connections that refills at `perSecond`; while it is empty, that peer's new connections are
/// closed as they are accepted (`Acceptor`), before NIO builds anything. A connection that sends a
/// request the daemon serves never takes from its peer's bucket, so a client that behaves is never
/// refused, however often it connects.
///
/// A value type (events in, decisions out), so tests drive it without sockets; `VanishGuard` holds
/// it under a lock. A peer is forgotten once its bucket is full again.
package struct VanishingPeers<Peer: Hashable & Sendable>: Sendable {
    /// What a peer may do before it is refused.
    package struct Limits: Sendable, Equatable {
        /// Departures without a request a peer may make at once (0: never refuse anyone).
        package var burst: Double
        /// Departures a second its bucket regains.
        package var perSecond: Double

        /// `perSecond` a second, and five seconds' worth at once.
        package init(perSecond: Int) {
            self.perSecond = Double(perSecond)
            self.burst = Double(perSecond) * 5
        }

        package var isOff: Bool { burst < 1 }
    }

    /// What to do with a new connection.
    package enum Admission: Equatable {
        case admit
        /// Close it unserved; `first` is set for the first refusal since the peer was last calm.
        case refuse(first: Bool)
    }

    /// A peer that was refused and whose bucket has filled again: calm, and forgotten.
    package struct Calmed: Equatable {
        package var peer: Peer
        /// Connections refused since it was first refused.
        package var refused: Int
    }

    private struct Bucket {
        var tokens: Double
        var updated: NIODeadline
        /// Connections refused since the peer was last calm.
        var refused = 0
    }

    package let limits: Limits
    /// The most peers tracked at once: past it a new peer is admitted untracked, so the table's
    /// memory stays bounded even against many processes.
    package let capacity: Int
    private var buckets: [Peer: Bucket] = [:]

    package init(limits: Limits, capacity: Int = 4096) {
        self.limits = limits
        self.capacity = capacity
    }

    /// Peers tracked now (a bucket not yet full).
    package var tracked: Int { buckets.count }

    /// Whether a peer is being refused now.
    package func isRefusing(_ peer: Peer, now: NIODeadline) -> Bool {
        guard let bucket = buckets[peer] else { return false }
        return refilled(bucket, now: now).tokens < 1
    }

    /// A connection from `peer` was accepted at `now`: serve it, or close it unserved.
    package mutating func connected(_ peer: Peer, now: NIODeadline) -> Admission {
        guard !limits.isOff, var bucket = buckets[peer] else { return .admit }
        bucket = refilled(bucket, now: now)
        if bucket.tokens >= 1 {
            buckets[peer] = bucket
            return .admit
        }
        bucket.refused += 1
        buckets[peer] = bucket
        return .refuse(first: bucket.refused == 1)
    }

    /// A connection from `peer` that was served came to nothing at `now`.
    package mutating func vanished(_ peer: Peer, now: NIODeadline) {
        guard !limits.isOff else { return }
        if var bucket = buckets[peer] {
            bucket = refilled(bucket, now: now)
            bucket.tokens = max(0, bucket.tokens - 1)
            buckets[peer] = bucket
            return
        }
        if buckets.count >= capacity {
            _ = sweep(now: now)
            guard buckets.count < capacity else { return }
        }
        buckets[peer] = Bucket(tokens: limits.burst - 1, updated: now)
    }

    /// Forgets the peers whose buckets are full again; returns those of them that were refused.
    package mutating func sweep(now: NIODeadline) -> [Calmed] {
        var calmed: [Calmed] = []
        for (peer, bucket) in buckets where refilled(bucket, now: now).tokens >= limits.burst {
            buckets[peer] = nil
            if bucket.refused > 0 { calmed.append(Calmed(peer: peer, refused: bucket.refused)) }
        }
        return calmed
    }

    private func refilled(_ bucket: Bucket, now: NIODeadline) -> Bucket {
        guard now > bucket.updated else { return bucket }
        var bucket = bucket
        let seconds = Double((now - bucket.updated).nanoseconds) / 1e9
        bucket.tokens = min(limits.burst, bucket.tokens + seconds * limits.perSecond)
        bucket.updated = now
        return bucket
    }
}
