import Foundation
import Logging
import Search
import Wire

/// Hands units to workers as leases and collects the results: the only place that knows about
/// time and failure.
///
/// - A unit is one (candidate, window) pair; a worker holds at most one lease at a time, so a
///   finished unit frees its worker at once.
/// - A lease whose worker vanishes (connection refused or reset, heartbeats stop, the worker
///   is removed or registers again) puts the unit back at the front of the queue without
///   spending one of its attempts: that is not the unit's fault. A lease that ends in an error
///   answer, an impossible result or an expired lease spends one; after `maxAttempts` the unit
///   fails with its last reason. A unit whose lease failed goes to another worker when one
///   holds its model and text, and a worker whose answers fail `maxConsecutiveFailures` times
///   in a row is removed (named in the reason of the units it failed). A unit the worker
///   refuses (`UnitRefused`: the unit itself cannot be scored) spends an attempt without
///   counting against the worker.
/// - Redundancy (volunteer computing's answer to plausible lies): a worker's answers until
///   `verifyFirst` of them were confirmed, a seeded `verifyShare` of all units, and (with
///   `verifyNewLows`) every answer below the lowest loss its window has had, are held until a second
///   worker gives the same answer (within `verifyTolerance`); if they disagree a third decides,
///   and a worker outvoted is removed. With `verifyNewBests`, `confirm` does the same for the
///   units the runner asks about: every unit of a candidate that would become the search's new
///   best. A lone worker cannot be checked, and is not.
/// - When the queue is empty, an idle worker may take a duplicate of a straggler's unit; the
///   first result wins and a late one is dropped.
/// - Units only go to workers holding the search's model and text (by sha256).
public actor Dispatcher: UnitEvaluator {
    public let settings: Settings
    private var workers: [String: Worker] = [:]
    /// Heartbeats and the secrets that prove them (ids are public), outside the actor.
    private nonisolated let board = HeartbeatBoard()
    /// Units whose answer was checked on a second worker (the redundancy's cost).
    public private(set) var checkedUnits = 0
    /// Addresses removed with a ban: refused until this process restarts.
    private var banned: Set<String> = []
    /// Workers removed (not those that registered again), the latest `keptRemovals`.
    private var removals: [RemovedWorkerView] = []
    /// With `verifyNewLows`, the lowest loss (NLL per token) accepted for each window: a lower
    /// answer is checked.
    private var lowestLoss: [WindowKey: Double] = [:]
    private let keptRemovals = 100
    /// With `verifyNewBests`: who gave each recently completed unit its answer (the workers that
    /// agreed on it, keyed by the unit's hash: units can be large) and whether two did, so that
    /// `confirm` sends the unit to someone else. The last `keptAnswerers`.
    private var answerers: [Int: (workers: [String], checked: Bool)] = [:]
    private var answererOrder: [Int] = []
    private let keptAnswerers = 20_000
    private var jobs: [Int: Job] = [:]
    private var queue: [Int] = []
    private var nextJob = 0
    private var nextLease = 0
    public let metrics: DispatcherMetrics
    private var monitor: Task<Void, Never>?
    private let logger = Logger(label: "longrope.dispatcher")

    public init(settings: Settings = Settings(), metrics: DispatcherMetrics = DispatcherMetrics()) {
        self.settings = settings
        self.metrics = metrics
    }

    /// How many units can run at once: the healthy workers (read without awaiting the actor,
    /// so the runner knows how far to look ahead).
    public nonisolated var capacity: Int { healthyWorkers.value }
    /// A second opinion is asked only with `verifyNewBests`.
    public nonisolated var confirms: Bool { settings.verifyNewBests }
    private nonisolated let healthyWorkers = SharedCount()
    /// The healthy workers, and those of them without a lease (`idle`): the only ones `schedule` looks at,
    /// so that an answer costs the coordinator the same with 10 workers or 1,000. Kept by
    /// `refresh` wherever a worker's health or lease changes.
    private var healthyIDs: Set<String> = []
    private var idle: Set<String> = []

    /// Puts a worker in (or out of) `healthyIDs` and `idle` after its state changed.
    private func refresh(_ id: String) {
        let worker = workers[id]
        if worker?.healthy == true { healthyIDs.insert(id) } else { healthyIDs.remove(id) }
        if worker?.healthy == true && worker?.lease == nil { idle.insert(id) } else { idle.remove(id) }
        healthyWorkers.value = healthyIDs.count
    }

    // MARK: Workers

    /// Adds a worker and returns its id.
    @discardableResult
    public func register(_ registration: WorkerRegistration, connection: any UnitEvaluator, heartbeats: Bool = true) -> String {
        // A worker registering again at the same address replaces its old entry.
        if let old = workers.first(where: { $0.value.registration.address == registration.address })?.key {
            dropWorker(old, reason: "registered again", listed: false)
        }
        // Random ids: never reused, not even after a coordinator restart, so a worker that
        // still holds an old id can never heartbeat for another.
        var id: String
        repeat { id = "w-" + randomHex(4) } while workers[id] != nil
        workers[id] = Worker(registration: registration, connection: connection, registeredAt: Date())
        workers[id]!.heartbeats = heartbeats
        board.add(id, secret: randomHex(16))
        refresh(id)
        startMonitor()
        schedule()
        return id
    }

    /// The secret a worker must send with its heartbeats.
    public nonisolated func secret(_ id: String) -> String? { board.secret(id) }

    /// Records a heartbeat; false when the worker is unknown or the secret is not its own (it
    /// must register again). Off the actor, unless the worker had been marked unhealthy: then
    /// it is taken back (and given work) before this returns.
    public nonisolated func heartbeat(_ id: String, secret: String?) async -> Bool {
        switch board.beat(id, secret: secret) {
        case .refused: return false
        case .recorded: return true
        case .wasDown:
            await takeBack(id)
            return true
        }
    }

    /// A worker marked unhealthy heartbeats again: it gets work again.
    private func takeBack(_ id: String) {
        guard let worker = workers[id], !worker.healthy else { return }
        worker.healthy = true
        refresh(id)
        schedule()
    }

    /// No more work for `id` until it heartbeats again (after a timeout, or when it could not be reached).
    private func markUnhealthy(_ id: String) {
        guard let worker = workers[id] else { return }
        board.markDown(id)   // first: a heartbeat from now on takes it back (after this actor turn)
        worker.healthy = false
        refresh(id)
    }

    /// Whether a worker is registered and healthy.
    public func isHealthy(_ id: String) -> Bool { workers[id]?.healthy ?? false }

    public func workerViews() -> [WorkerView] {
        let now = Date(), beats = board.lastBeats()
        return workers.sorted { $0.key.count != $1.key.count ? $0.key.count < $1.key.count : $0.key < $1.key }.map { id, w in
            let minutes = max(now.timeIntervalSince(w.registeredAt) / 60, 1e-9)
            return WorkerView(id: id, name: w.registration.name, address: w.registration.address,
                              modelSHA256: w.registration.modelSHA256, textSHA256: w.registration.textSHA256,
                              threads: w.registration.threads, healthy: w.healthy, busy: w.lease != nil,
                              secondsSinceHeartbeat: now.timeIntervalSince(beats[id] ?? w.registeredAt),
                              unitsDone: w.unitsDone, unitsFailed: w.unitsFailed,
                              unitsPerMinute: Double(w.unitsDone) / minutes, kernels: w.registration.kernels)
        }
    }

    /// The geometry a registered worker announced for a model.
    /// Nil when no healthy worker holds the model, or when they disagree (then nothing they
    /// say about it is trusted).
    public func geometry(modelSHA256: String) -> (pairs: Int, ropeBase: Double)? {
        guard case let .known(pairs, ropeBase) = geometryClaims(modelSHA256: modelSHA256) else { return nil }
        return (pairs, ropeBase)
    }

    /// What the healthy workers holding a model say of its geometry (`GeometryClaims`).
    public func geometryClaims(modelSHA256: String) -> GeometryClaims {
        var claims: [GeometryClaims.Claim] = []
        for (id, worker) in workers.sorted(by: { $0.key < $1.key }) where worker.healthy && worker.registration.modelSHA256 == modelSHA256 {
            let r = worker.registration
            if let i = claims.firstIndex(where: { $0.pairs == r.pairs && $0.ropeBase == r.ropeBase }) {
                claims[i].workers.append("\(id) (\(r.name))")
            } else {
                claims.append(.init(pairs: r.pairs, ropeBase: r.ropeBase, workers: ["\(id) (\(r.name))"]))
            }
        }
        switch claims.count {
        case 0: return .none
        case 1: return .known(pairs: claims[0].pairs, ropeBase: claims[0].ropeBase)
        default: return .disagree(claims)
        }
    }

    /// The healthy workers holding a model that said they cannot run an attention precision
    /// ("id (name)"; workers of earlier versions say nothing).
    public func workersWithout(attentionPrecision: String, modelSHA256: String) -> [String] {
        workers.sorted(by: { $0.key < $1.key }).compactMap { id, worker in
            guard worker.healthy, worker.registration.modelSHA256 == modelSHA256,
                  let precisions = worker.registration.attentionPrecisions, !precisions.contains(attentionPrecision) else { return nil }
            return "\(id) (\(worker.registration.name))"
        }
    }

    /// The size of a text as a healthy worker holding it announced (nil: none said).
    public func textBytes(textSHA256: String) -> Int? {
        workers.values.first { $0.healthy && $0.registration.textSHA256 == textSHA256 && $0.registration.textBytes != nil }?
            .registration.textBytes
    }

    /// Whether a healthy worker holds this model and text (a search for others waits).
    public func hasWorker(modelSHA256: String, textSHA256: String) -> Bool {
        workers.values.contains { $0.healthy && $0.registration.modelSHA256 == modelSHA256 && $0.registration.textSHA256 == textSHA256 }
    }

    /// Queued and leased units of a search.
    public func unitCounts(searchID: Int64) -> (queued: Int, inFlight: Int) {
        var queued = 0, inFlight = 0
        for job in jobs.values where job.unit.searchID == searchID {
            if job.leases.isEmpty { queued += 1 } else { inFlight += 1 }
        }
        return (queued, inFlight)
    }

    public func totals() -> (workers: Int, healthy: Int, queued: Int, inFlight: Int) {
        (workers.count, healthyIDs.count, jobs.values.filter { $0.leases.isEmpty }.count,
         jobs.values.filter { !$0.leases.isEmpty }.count)
    }

    /// Removes a worker (DELETE /v1/workers/{id}); its unit, if any, goes to another. With
    /// `ban`, its address may not register again until this process restarts (a live worker
    /// would otherwise be back at its next heartbeat).
    @discardableResult
    public func remove(_ id: String, ban: Bool = false) -> Bool {
        guard let worker = workers[id] else { return false }
        if ban { banned.insert(worker.registration.address) }
        dropWorker(id, reason: "was removed")
        schedule()
        return true
    }

    /// Whether an address was banned by a removal (until this process restarts).
    public func isBanned(address: String) -> Bool { banned.contains(address) }


    /// The one place a worker is removed: its lease, if any, goes back without spending an
    /// attempt, and unless it merely registered again it is listed among the removed.
    private func dropWorker(_ id: String, reason: String, listed: Bool = true) {
        guard let worker = workers.removeValue(forKey: id) else { return }
        board.remove(id)
        refresh(id)
        if listed {
            let view = RemovedWorkerView(id: id, name: worker.registration.name, address: worker.registration.address,
                                         reason: reason, removedAt: ISO8601DateFormatter().string(from: Date()))
            removals = Array((removals + [view]).suffix(keptRemovals))
            logger.warning("worker \(id) (\(worker.registration.name)) removed: \(reason)")
        }
        if let lease = worker.lease {
            release(lease, from: id, error: "worker \(id) (\(worker.registration.name)) \(reason)", spendsAttempt: false)
        }
    }

    /// The workers removed since this process started (the latest 100), oldest first.
    public func removedWorkers() -> [RemovedWorkerView] { removals }

    private func startMonitor() {
        guard monitor == nil else { return }
        monitor = Task { [weak self] in
            while !Task.isCancelled {
                try? await Task.sleep(nanoseconds: 500_000_000)   // cancelled: the loop ends at its test
                await self?.checkHeartbeats()
            }
        }
    }

    /// Workers silent for longer than the timeout get no work, and their lease goes back; those
    /// silent for `forgetAfter` are forgotten. A lease older than `leaseSeconds` ends whatever
    /// the heartbeats say (a worker may heartbeat and never answer).
    private func checkHeartbeats() {
        let now = Date(), beats = board.lastBeats()
        func silence(_ id: String) -> Double { now.timeIntervalSince(beats[id] ?? now) }
        for (id, worker) in workers where worker.heartbeats && silence(id) > settings.forgetAfter {
            dropWorker(id, reason: "was silent for \(Int(settings.forgetAfter)) s and was forgotten")
        }
        for (jobID, job) in jobs {
            guard let leasedAt = job.leasedAt, now.timeIntervalSince(leasedAt) > settings.leaseSeconds else { continue }
            // Only remote workers: an in-process evaluation cannot be abandoned, and is the only one.
            for holder in job.leases where workers[holder]?.heartbeats ?? true {
                if workers[holder]?.lease == jobID { workers[holder]!.lease = nil; refresh(holder) }
                jobs[jobID]?.excluded.insert(holder)
                metrics.increment(.leasesExpired)
                release(jobID, from: holder, error: "lease of \(Int(settings.leaseSeconds)) s expired at worker \(holder)")
            }
        }
        for (id, worker) in workers where worker.heartbeats && worker.healthy && silence(id) > settings.heartbeatTimeout {
            let lease = worker.lease
            worker.lease = nil
            markUnhealthy(id)
            metrics.increment(.workersLost)
            if let lease { release(lease, from: id, error: "worker \(id) stopped heartbeating", spendsAttempt: false) }
        }
        schedule()
    }

    // MARK: Units

    public func evaluate(_ unit: WorkUnit) async throws -> UnitResult {
        let id = nextJob
        nextJob += 1
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                jobs[id] = Job(unit: unit, continuation: continuation)
                queue.append(id)
                metrics.increment(.unitsQueued)
                schedule()
            }
        } onCancel: {
            Task { await self.cancel(id) }
        }
    }

    /// A second opinion on `result`, the answer a worker gave to `unit` (see `UnitEvaluator`):
    /// with `verifyNewBests`, the unit goes to a healthy worker that has not answered it and the
    /// two answers are compared as a checked unit's are (a third decides a disagreement, and a
    /// worker outvoted is removed). `result` itself when two workers agreed on it already, when
    /// no other worker could check it, or with the check off.
    public func confirm(_ unit: WorkUnit, _ result: UnitResult) async throws -> UnitResult {
        guard settings.verifyNewBests else { return result }
        let known = answerers[unit.hashValue]
        if known?.checked == true { return result }
        let id = nextJob
        nextJob += 1
        // The answer under question is the first one held; who gave it (if still remembered) may
        // not give the second.
        let origins = known?.workers ?? ["an earlier answer"]
        guard workers.contains(where: { workerID, worker in
            worker.healthy && matches(unit, worker) && !origins.contains(workerID)
        }) else { return result }
        checkedUnits += 1
        metrics.increment(.unitsVerified)
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                let job = Job(unit: unit, continuation: continuation)
                job.answers = origins.map { ($0, result) }
                job.checked = true
                jobs[id] = job
                queue.insert(id, at: 0)
                schedule()
            }
        } onCancel: {
            Task { await self.cancel(id) }
        }
    }

    /// The unit is no longer wanted (its candidate was decided without it, or the search
    /// stops): its leases' requests are cancelled too, which closes them, and a worker stops
    /// a pass nobody waits for — it is free for the next unit within a layer, not a unit.
    private func cancel(_ id: Int) {
        guard let job = jobs.removeValue(forKey: id) else { return }
        queue.removeAll { $0 == id }
        job.cancelLeaseRequests()
        job.continuation.resume(throwing: CancellationError())
    }

    private func matches(_ unit: WorkUnit, _ worker: Worker) -> Bool {
        worker.registration.modelSHA256 == unit.modelSHA256 && worker.registration.textSHA256 == unit.textSHA256
    }

    /// Gives every idle, healthy worker a unit: the first queued one it can run, else a
    /// duplicate of the longest-running straggler.
    private func schedule() {
        guard !idle.isEmpty else { return }
        let now = Date()
        var stragglers: [Int]?   // units on one worker past `duplicateAfter`, oldest first (found once)
        func findStragglers() -> [Int] {
            var found: [(since: Date, id: Int)] = []
            for (id, job) in jobs where job.leases.count == 1 {
                if let since = job.leasedAt, now.timeIntervalSince(since) > settings.duplicateAfter { found.append((since, id)) }
            }
            return found.sorted { $0.since != $1.since ? $0.since < $1.since : $0.id < $1.id }.map(\.id)
        }
        if queue.isEmpty {
            stragglers = findStragglers()
            if stragglers!.isEmpty { return }   // nothing for any idle worker
        }
        // Idle workers in no particular order (their ids are random anyway); stop as soon as
        // nothing is left to hand out, so an answer costs the same with 10 idle workers or 1,000.
        for id in Array(idle) {
            if queue.isEmpty, stragglers?.isEmpty ?? false { return }
            guard let worker = workers[id], worker.healthy, worker.lease == nil else { continue }
            if let index = queue.firstIndex(where: { jobs[$0].map { matches($0.unit, worker) && !$0.excluded.contains(id)
                    && !$0.answers.contains { $0.worker == id }
                    && !(($0.failedOn.contains(id)) && hasOtherWorker(for: $0, than: id)) } ?? false }) {
                lease(queue.remove(at: index), to: id)
                continue
            }
            if stragglers == nil { stragglers = findStragglers() }
            if let pick = stragglers!.firstIndex(where: { jobID in
                guard let job = jobs[jobID] else { return false }
                return job.leases.count == 1 && !job.leases.contains(id) && !job.excluded.contains(id) && job.answers.isEmpty
                    && !job.failedOn.contains(id) && matches(job.unit, worker)
            }) {
                metrics.increment(.duplicates)
                lease(stragglers!.remove(at: pick), to: id)
            }
        }
    }

    /// Whether a healthy worker other than `id`, on which this unit has not failed, could run it.
    private func hasOtherWorker(for job: Job, than id: String) -> Bool {
        workers.contains { $0.key != id && $0.value.healthy && !job.failedOn.contains($0.key) && !job.excluded.contains($0.key)
            && matches(job.unit, $0.value) }
    }

    private func lease(_ jobID: Int, to workerID: String) {
        guard let job = jobs[jobID], let worker = workers[workerID] else { return }
        job.leases.insert(workerID)
        job.leasedAt = job.leasedAt ?? Date()
        workers[workerID]!.lease = jobID
        refresh(workerID)
        let unit = job.unit, connection = worker.connection
        let number = nextLease
        nextLease += 1
        job.leaseTasks[workerID] = (number, Task {
            let result: Result<UnitResult, Error>
            do { result = .success(try await connection.evaluate(unit)) }
            catch { result = .failure(error) }
            self.finish(jobID, workerID: workerID, lease: number, result)
        })
    }

    private func finish(_ jobID: Int, workerID: String, lease number: Int, _ result: Result<UnitResult, Error>) {
        let job = jobs[jobID]
        let current = job?.leaseTasks[workerID]?.number == number
        if current { job?.leaseTasks[workerID] = nil }
        // The worker's lease of this unit is over, unless a later lease of it holds the worker.
        if current || job == nil, workers[workerID]?.lease == jobID { workers[workerID]!.lease = nil; refresh(workerID) }
        if case .failure = result, !current {
            // A lease that had ended already (released, then cancelled here): nothing new.
            schedule()
            return
        }
        if case let .success(value) = result, let unit = jobs[jobID]?.unit, let problem = value.problem(for: unit) {
            // A worker that answers what cannot be true is not trusted again.
            metrics.increment(.workersLost)
            workers[workerID]?.unitsFailed += 1
            jobs[jobID]?.failedOn.insert(workerID)
            let reason = "sent an impossible result: \(problem)"
            release(jobID, from: workerID, error: "worker \(describe(workerID)) \(reason)")
            dropWorker(workerID, reason: reason)
            schedule()
            return
        }
        switch result {
        case let .success(value):
            // A removed worker's answer (outvoted, broken, replaced) is not taken, whenever it comes.
            guard workers[workerID] != nil, let job = jobs[jobID] else {
                metrics.increment(.lateResultsDropped)   // a duplicate's second result
                break
            }
            workers[workerID]!.unitsDone += 1
            workers[workerID]!.consecutiveFailures = 0
            job.leases.remove(workerID)
            job.answers.append((workerID, value))
            if job.answers.count == 1, needsCheck(job, answeredBy: workerID, value: value) {
                job.checked = true
                checkedUnits += 1
                metrics.increment(.unitsVerified)
            }
            if job.checked {
                verify(jobID)
            } else {
                complete(jobID, job, with: value, agreeing: [workerID])
            }
        case let .failure(error as WorkerUnreachable):
            // The worker vanished (crashed, restarted, cut off): not the unit's fault.
            workers[workerID]?.unitsFailed += 1
            markUnhealthy(workerID)
            release(jobID, from: workerID, error: "\(error)", spendsAttempt: false)
        case let .failure(error as UnitRefused):
            // The unit cannot be scored (bad for every worker holding this model): it spends an
            // attempt and fails after the last; the worker is not blamed.
            workers[workerID]?.unitsFailed += 1
            jobs[jobID]?.failedOn.insert(workerID)
            release(jobID, from: workerID, error: "worker \(describe(workerID)) refused it: \(error.reason)")
        case let .failure(error):
            workers[workerID]?.unitsFailed += 1
            workers[workerID]?.consecutiveFailures += 1
            jobs[jobID]?.failedOn.insert(workerID)
            var reason = "worker \(describe(workerID)): \(error)"
            if let failures = workers[workerID]?.consecutiveFailures, failures >= settings.maxConsecutiveFailures {
                reason += " (its \(failures)th failed answer in a row: the worker was removed)"
                metrics.increment(.workersLost)
                dropWorker(workerID, reason: "failed \(failures) answers in a row, the last: \(error)")
            }
            release(jobID, from: workerID, error: reason)
        }
        schedule()
    }

    /// Whether an answer from this worker must be checked on another, when a second healthy
    /// worker could run it: every answer until `verifyFirst` of them were confirmed, units in
    /// the seeded sample, and with `verifyNewLows` every answer below the lowest loss its
    /// window has had (how a plausible lie too low, or a would-be new best, looks).
    private func needsCheck(_ job: Job, answeredBy workerID: String, value: UnitResult) -> Bool {
        guard let worker = workers[workerID] else { return false }
        let early = worker.confirmed < settings.verifyFirst
        let newLow = settings.verifyNewLows && isNewLow(value, for: job.unit)
        var z = UInt64(bitPattern: job.unit.searchID) &* 0x9E3779B97F4A7C15 &+ UInt64(bitPattern: job.unit.candidateRowID) &* 0xBF58476D1CE4E5B9
            &+ UInt64(job.unit.window) &* 0x94D049BB133111EB
        z = (z ^ (z >> 31)) &* 0xD1B54A32D192ED03
        z ^= z >> 29
        let sampled = Double(z >> 11) / Double(1 << 53) < settings.verifyShare
        return (early || sampled || newLow) && hasOtherWorker(for: job, than: workerID)
    }

    /// Which answers can be compared: the same search, window and kind of unit.
    private struct WindowKey: Hashable {
        var searchID: Int64
        var window: Int
        var targetContext: Int
        var fitness: Fitness?
        var needles: Int?
        var attentionPrecision: String?
    }

    private func windowKey(_ unit: WorkUnit) -> WindowKey? {
        unit.probe == true ? nil
            : WindowKey(searchID: unit.searchID, window: unit.window, targetContext: unit.targetContext,
                        fitness: unit.fitness, needles: unit.needles, attentionPrecision: unit.attentionPrecision)
    }

    /// Whether `value` is below every loss accepted so far for its window.
    private func isNewLow(_ value: UnitResult, for unit: WorkUnit) -> Bool {
        guard let key = windowKey(unit), let nll = value.nllSum, value.tokens > 0 else { return false }
        return nll / Double(value.tokens) < lowestLoss[key] ?? .infinity
    }

    /// A checked unit: done when two answers agree (any worker outvoted by them is removed);
    /// otherwise it goes back to the queue for a worker that has not answered it.
    private func verify(_ jobID: Int) {
        guard let job = jobs[jobID], job.leases.isEmpty else { return }
        func agree(_ a: UnitResult, _ b: UnitResult) -> Bool {
            guard a.tokens == b.tokens, a.positions == b.positions else { return false }
            switch (a.nllSum, b.nllSum) {
            case (nil, nil): return true
            case let (x?, y?): return abs(x - y) <= settings.verifyTolerance * max(1, abs(x), abs(y))
            default: return false
            }
        }
        let answers = job.answers
        for i in answers.indices {
            let peers = answers.indices.filter { $0 != i && agree(answers[i].result, answers[$0].result) }
            guard !peers.isEmpty else { continue }
            for outvoted in answers where !agree(outvoted.result, answers[i].result) {
                metrics.increment(.workersLost)
                dropWorker(outvoted.worker, reason: "was outvoted on a checked unit and removed")
            }
            let agreeing = answers.filter { agree($0.result, answers[i].result) }.map(\.worker)
            for worker in agreeing { workers[worker]?.confirmed += 1 }
            return complete(jobID, job, with: answers[i].result, agreeing: agreeing)
        }
        // No two answers agree yet: one more worker decides.
        job.leasedAt = nil
        if !queue.contains(jobID) { queue.insert(jobID, at: 0) }
    }

    /// Hands `value` to the unit's caller; `agreeing` are the workers that gave it (two or more
    /// when the unit was checked).
    private func complete(_ jobID: Int, _ job: Job, with value: UnitResult, agreeing: [String]) {
        if settings.verifyNewBests {
            let key = job.unit.hashValue
            if answerers.updateValue((agreeing, agreeing.count > 1), forKey: key) == nil { answererOrder.append(key) }
            if answererOrder.count > 2 * keptAnswerers {
                for old in answererOrder.prefix(keptAnswerers) { answerers[old] = nil }
                answererOrder.removeFirst(keptAnswerers)
            }
        }
        if settings.verifyNewLows, let key = windowKey(job.unit), let nll = value.nllSum, nll.isFinite, value.tokens > 0 {
            lowestLoss[key] = min(lowestLoss[key] ?? .infinity, nll / Double(value.tokens))
        }
        jobs[jobID] = nil
        queue.removeAll { $0 == jobID }
        // A duplicate still scoring it (a straggler's) is told to stop: its answer is not needed.
        job.cancelLeaseRequests()
        metrics.increment(.unitsCompleted)
        job.continuation.resume(returning: value)
    }

    /// "w-1a2b (name)" for messages.
    private func describe(_ id: String) -> String {
        workers[id].map { "\(id) (\($0.registration.name))" } ?? id
    }

    /// A lease ended without a result: requeue the unit, or fail it after too many attempts.
    /// A vanished worker (`spendsAttempt` false) costs the unit no attempt.
    private func release(_ jobID: Int, from workerID: String, error: String, spendsAttempt: Bool = true) {
        guard let job = jobs[jobID], job.leases.contains(workerID) else { return }
        job.leases.remove(workerID)
        job.leaseTasks.removeValue(forKey: workerID)?.task.cancel()
        job.lastError = error
        // Every lease that ends without a result is said, with why: the operator's only view
        // of a worker that keeps failing or vanishing.
        logger.warning("unit \(job.unit.candidateRowID)/\(job.unit.window) came back from \(describe(workerID)) without a result\(spendsAttempt ? "" : " (not counted as an attempt)"): \(error)")
        guard job.leases.isEmpty else { return }   // a duplicate still runs
        if spendsAttempt { job.attempts += 1 } else { job.vanishes += 1 }
        job.leasedAt = nil
        if job.attempts >= settings.maxAttempts || job.vanishes >= settings.maxVanishes {
            jobs[jobID] = nil
            metrics.increment(.unitsFailed)
            let count = spendsAttempt ? "\(job.attempts) attempts" : "its workers vanished \(job.vanishes) times"
            job.continuation.resume(throwing: UnitFailed(reason: "\(count), last: \(error)"))
        } else {
            queue.insert(jobID, at: 0)
            metrics.increment(.unitsRequeued)
        }
    }

    public func shutdown() {
        monitor?.cancel()
        monitor = nil
    }
}
