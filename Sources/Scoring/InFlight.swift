/// Joins identical work: a second request for a key whose work is still running waits for
/// that run's result instead of starting another.
///
/// A worker uses it for units: when a coordinator gives up on a lease (it expired, or the
/// coordinator was paused and forgot the worker) and leases the same unit again, the worker
/// would otherwise queue a second forward pass behind the first — on its one serial queue —
/// and every later lease would wait behind both. Scoring is deterministic, so the running
/// pass's result is the answer to both.
public actor InFlight<Key: Hashable & Sendable, Value: Sendable> {
    private var running: [Key: Task<Value, Error>] = [:]

    public init() {}

    /// The result of `work` for `key`: of the run already going for it, or of a new run.
    public func run(_ key: Key, _ work: @escaping @Sendable () async throws -> Value) async throws -> Value {
        if let task = running[key] { return try await task.value }
        let task = Task { try await work() }
        running[key] = task
        defer { running[key] = nil }
        return try await task.value
    }

    /// How many distinct keys are running now.
    public var count: Int { running.count }
}
