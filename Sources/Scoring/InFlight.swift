/// Joins identical work: a second request for a key whose work is still running waits for
/// that run's result instead of starting another.
///
/// A worker uses it for units: when a coordinator gives up on a lease (it expired, or the
/// coordinator was paused and forgot the worker) and leases the same unit again, the worker
/// would otherwise queue a second forward pass behind the first — on its one serial queue —
/// and every later lease would wait behind both. Scoring is deterministic, so the running
/// pass's result is the answer to both.
///
/// Cancelling a caller (its request was closed) takes it off the run's waiters; when the last
/// one goes so, the run goes on for `linger` seconds — a request for the same key then joins
/// it (a worker paused past its lease gets the same unit again seconds after it resumes) —
/// and is then cancelled and forgotten, so a later request starts a run of its own rather than
/// joining one that stops. A cancelled caller still returns when the run ends: with the run's
/// result if others kept it going.
public actor InFlight<Key: Hashable & Sendable, Value: Sendable> {
    private struct Run {
        let number: Int
        let task: Task<Value, Error>
        /// Who still waits for it (waiter numbers); a cancelled waiter leaves at once.
        var waiters: Set<Int>
    }
    private var running: [Key: Run] = [:]
    private var nextNumber = 0
    /// How long a run nobody waits for any more goes on before it is cancelled.
    public let linger: Double

    public init(linger: Double = 0) {
        self.linger = linger
    }

    /// The result of `work` for `key`: of the run already going for it, or of a new run.
    /// Cancelling the caller cancels the run only if no other caller still waits for it.
    public func run(_ key: Key, _ work: @escaping @Sendable () async throws -> Value) async throws -> Value {
        nextNumber += 1
        let waiter = nextNumber
        let run: Run
        if var joined = running[key] {
            joined.waiters.insert(waiter)
            run = joined
        } else {
            nextNumber += 1
            run = Run(number: nextNumber, task: Task { try await work() }, waiters: [waiter])
        }
        running[key] = run
        let result = await withTaskCancellationHandler {
            await run.task.result
        } onCancel: {
            Task { await self.leave(key, run: run.number, waiter: waiter, cancelled: true) }
        }
        leave(key, run: run.number, waiter: waiter, cancelled: false)
        return try result.get()
    }

    /// `waiter` no longer waits for run `number` of `key`. Once nobody does, a run that ended
    /// is forgotten; one whose last waiter was cancelled is cancelled after `linger` unless
    /// someone joined it meanwhile.
    private func leave(_ key: Key, run number: Int, waiter: Int, cancelled: Bool) {
        guard var run = running[key], run.number == number, run.waiters.remove(waiter) != nil else { return }
        running[key] = run
        guard run.waiters.isEmpty else { return }
        guard cancelled else { running[key] = nil; return }
        guard linger > 0 else { abandon(key, run: number); return }
        Task {
            try? await Task.sleep(nanoseconds: UInt64(linger * 1e9))
            abandon(key, run: number)
        }
    }

    /// Cancels and forgets run `number` of `key` if nobody waits for it.
    private func abandon(_ key: Key, run number: Int) {
        guard let run = running[key], run.number == number, run.waiters.isEmpty else { return }
        running[key] = nil
        run.task.cancel()
    }

    /// How many distinct keys are running now.
    public var count: Int { running.count }

    /// How many callers wait for `key`'s run now (0: none is running).
    public func waiters(_ key: Key) -> Int { running[key]?.waiters.count ?? 0 }
}
