import Foundation
import Wire

/// Workers' heartbeats, taken without the dispatcher's actor: a heartbeat is a lock, a secret
/// compared and a clock read, so a thousand workers beating every two seconds never queue
/// behind the scheduling of units. The dispatcher reads the times in its monitor pass and
/// marks a worker `down` when it stops trusting it; the next heartbeat of a down worker is
/// reported (`Beat.wasDown`) so the dispatcher takes it back at once.
final class HeartbeatBoard: @unchecked Sendable {
    enum Beat: Equatable {
        /// Unknown worker, or a secret that is not its own.
        case refused
        case recorded
        /// Recorded, and the worker was marked down: the dispatcher must take it back.
        case wasDown
    }

    private struct Entry {
        var secret: String
        var last: Date
        var down = false
    }

    private let lock = NSLock()
    private var entries: [String: Entry] = [:]

    /// A new worker, beating from now.
    func add(_ id: String, secret: String) {
        lock.withLock { entries[id] = Entry(secret: secret, last: Date()) }
    }

    func remove(_ id: String) {
        lock.withLock { entries[id] = nil }
    }

    func secret(_ id: String) -> String? {
        lock.withLock { entries[id]?.secret }
    }

    /// Records a heartbeat from `id` proving itself with `secret`.
    func beat(_ id: String, secret: String?) -> Beat {
        lock.withLock {
            guard let entry = entries[id], entry.secret.isEmpty || constantTimeEqual(entry.secret, secret ?? "") else {
                return .refused
            }
            entries[id]!.last = Date()
            guard entry.down else { return .recorded }
            entries[id]!.down = false
            return .wasDown
        }
    }

    /// The dispatcher no longer gives `id` work: its next heartbeat says so.
    func markDown(_ id: String) {
        lock.withLock { entries[id]?.down = true }
    }

    /// Every worker's last heartbeat.
    func lastBeats() -> [String: Date] {
        lock.withLock { entries.mapValues(\.last) }
    }
}
