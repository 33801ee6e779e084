import Foundation
import Runner
import Search
import TestSupport
import Testing
import Wire

/// A worker that answers the same thing whatever it is asked.
struct ScriptedWorker: UnitEvaluator {
    let answer: UnitResult
    func evaluate(_ unit: WorkUnit) async throws -> UnitResult { answer }
}

/// A worker that answers every unit with `error`, counting the calls.
struct FailingWorker: UnitEvaluator {
    let calls: SharedCount
    let error: any Error & Sendable
    func evaluate(_ unit: WorkUnit) async throws -> UnitResult {
        calls.add(1)
        throw error
    }
}

/// Found 3 of issue 13: answers are checked; a worker that lies is removed and its unit is
/// scored by another; geometry comes only from healthy workers that agree.
@Suite struct DispatcherTrustTests {
    func registration(_ name: String, pairs: Int = 4) -> WorkerRegistration {
        WorkerRegistration(name: name, address: "in-process://\(name)", modelSHA256: "m", textSHA256: "t",
                           architecture: "llama", threads: 1, pairs: pairs, ropeBase: 10000, contextLength: 512)
    }

    func unit() -> WorkUnit {
        WorkUnit(searchID: 1, candidateRowID: 1, window: 0, lambda: [1, 1, 1, 1], nHat: 0, attentionFactor: 1,
                 targetContext: 256, windowCount: 1, modelSHA256: "m", textSHA256: "t", textOffset: 0)
    }

    @Test func impossibleAnswersAreRefused() async throws {
        let dispatcher = Dispatcher()
        await dispatcher.register(registration("liar"), connection: ScriptedWorker(answer: UnitResult(nllSum: -1e9, tokens: 255, seconds: 0, worker: "liar")), heartbeats: false)
        // The liar takes the unit first (it is alone), is removed, and the unit waits for an honest worker.
        let task = Task { try await dispatcher.evaluate(unit()) }
        #expect(try await waitUntil(30) { await dispatcher.workerViews().isEmpty }, "the liar must be removed")
        let removed = await dispatcher.removedWorkers()
        #expect(removed.map(\.name) == ["liar"] && removed.first?.reason.contains("impossible result") == true,
                "the liar is named among the removed, with why: \(removed)")
        await dispatcher.register(registration("honest"), connection: ScriptedWorker(answer: UnitResult(nllSum: 500, tokens: 255, seconds: 0, worker: "honest")), heartbeats: false)
        let result = try await task.value
        #expect(result.nllSum == 500 && result.worker == "honest")
        await dispatcher.shutdown()
    }

    @Test func resultsAreCheckedAgainstTheirUnit() {
        var u = unit()
        #expect(UnitResult(nllSum: 500, tokens: 255, seconds: 0, worker: "w").problem(for: u) == nil)
        #expect(UnitResult(nllSum: nil, tokens: 255, seconds: 0, worker: "w").problem(for: u) == nil, "NaN is an answer")
        #expect(UnitResult(nllSum: -1, tokens: 255, seconds: 0, worker: "w").problem(for: u) != nil)
        #expect(UnitResult(nllSum: 5, tokens: 0, seconds: 0, worker: "w").problem(for: u) != nil)
        u.fitness = .keyTokens
        u.positions = [200, 210]
        #expect(UnitResult(nllSum: 5, tokens: 2, seconds: 0, worker: "w").problem(for: u) == nil)
        #expect(UnitResult(nllSum: 5, tokens: 3, seconds: 0, worker: "w").problem(for: u) != nil)
        u.probe = true
        #expect(UnitResult(nllSum: 0, tokens: 1, seconds: 0, worker: "w", positions: [9999]).problem(for: u) != nil)
    }

    @Test func geometryComesFromAgreeingHealthyWorkers() async {
        let dispatcher = Dispatcher()
        let ok = ScriptedWorker(answer: UnitResult(nllSum: 1, tokens: 255, seconds: 0, worker: "w"))
        await dispatcher.register(registration("a", pairs: 4), connection: ok, heartbeats: false)
        #expect(await dispatcher.geometry(modelSHA256: "m")?.pairs == 4)
        await dispatcher.register(registration("b", pairs: 64), connection: ok, heartbeats: false)
        #expect(await dispatcher.geometry(modelSHA256: "m") == nil, "two workers disagree: trust neither")
        await dispatcher.shutdown()
    }
}

/// A worker that never answers.
struct StuckWorker: UnitEvaluator {
    func evaluate(_ unit: WorkUnit) async throws -> UnitResult {
        try await Task.sleep(nanoseconds: 3_600_000_000_000)
        throw CancellationError()
    }
}

/// Found 1 and 6 of issue 13: ids are never reused, a heartbeat must come from the worker that
/// registered, a lease expires whatever the heartbeats say, and workers can be removed.
@Suite struct DispatcherIdentityTests {
    let tests = DispatcherTrustTests()

    @Test func idsAreNeverReusedAndHeartbeatsProveIdentity() async {
        let a = Dispatcher(), b = Dispatcher()   // b: the same coordinator after a restart
        let ok = ScriptedWorker(answer: UnitResult(nllSum: 1, tokens: 255, seconds: 0, worker: "w"))
        let first = await a.register(tests.registration("x"), connection: ok)
        let second = await b.register(tests.registration("y"), connection: ok)
        #expect(first != second, "a restarted coordinator must not hand out the same id")
        let secret = b.secret(second)
        #expect(secret != nil && secret!.count >= 16)
        #expect(await !b.heartbeat(second, secret: "guess"), "a heartbeat with the wrong secret is refused")
        #expect(await !b.heartbeat(second, secret: nil))
        #expect(await b.heartbeat(second, secret: secret))
        #expect(await b.remove(second))
        #expect(await b.workerViews().isEmpty)
        #expect(await !b.remove(second))
        await a.shutdown(); await b.shutdown()
    }

    /// Heartbeats are taken off the dispatcher's actor; one from a worker marked unhealthy must
    /// still take it back before it returns.
    @Test func aSilentWorkerIsTakenBackByItsNextHeartbeat() async throws {
        var settings = Dispatcher.Settings()
        settings.heartbeatTimeout = 0.2
        let dispatcher = Dispatcher(settings: settings)
        let id = await dispatcher.register(tests.registration("quiet"),
                                           connection: ScriptedWorker(answer: UnitResult(nllSum: 1, tokens: 255, seconds: 0, worker: "w")))
        #expect(await dispatcher.isHealthy(id))
        #expect(try await waitUntil(30) { await !dispatcher.isHealthy(id) }, "silent past the timeout: no more work")
        #expect(dispatcher.capacity == 0)
        #expect(await dispatcher.heartbeat(id, secret: dispatcher.secret(id)))
        try #require(await dispatcher.isHealthy(id), "the heartbeat took it back before returning")
        #expect(dispatcher.capacity == 1)
        let beating = Task { while !Task.isCancelled {
            _ = await dispatcher.heartbeat(id, secret: dispatcher.secret(id))
            try? await Task.sleep(nanoseconds: 50_000_000)
        } }
        defer { beating.cancel() }
        let answer = try await dispatcher.evaluate(tests.unit())
        #expect(answer.nllSum == 1, "and it gets work again")
        await dispatcher.shutdown()
    }

    @Test func aLeaseExpiresWhateverTheHeartbeatsSay() async throws {
        var settings = Dispatcher.Settings()
        settings.leaseSeconds = 1
        let dispatcher = Dispatcher(settings: settings)
        let stuck = await dispatcher.register(tests.registration("stuck"), connection: StuckWorker())
        let secret = dispatcher.secret(stuck)
        let beating = Task { while !Task.isCancelled {
            _ = await dispatcher.heartbeat(stuck, secret: secret)
            try? await Task.sleep(nanoseconds: 200_000_000)
        } }
        defer { beating.cancel() }
        let started = Date()
        let unit = Task { try await dispatcher.evaluate(tests.unit()) }
        #expect(try await waitUntil(30) { await dispatcher.workerViews().first?.busy == true }, "the stuck worker holds the unit")
        await dispatcher.register(tests.registration("honest"),
                                  connection: ScriptedWorker(answer: UnitResult(nllSum: 7, tokens: 255, seconds: 0, worker: "honest")),
                                  heartbeats: false)
        // The stuck worker never answers: the unit completes only if its 1 s lease expires.
        // (120 s of slack: a loaded machine may starve the dispatcher's monitor for a while.)
        let finished = try await withThrowingTaskGroup(of: UnitResult?.self) { group in
            group.addTask { try await unit.value }
            group.addTask { try await Task.sleep(nanoseconds: 120_000_000_000); return nil }
            let first = try await group.next() ?? nil
            group.cancelAll()
            return first
        }
        let result = try #require(finished, "the lease did not expire within \(Date().timeIntervalSince(started)) s")
        #expect(result.worker == "honest", "the unit must complete elsewhere once the lease expired")
        await dispatcher.shutdown()
    }

    /// A unit whose leases keep failing is retried on the workers there are, then fails for
    /// good with its last reason (never retried for ever, never lost).
    @Test func aUnitFailingEveryLeaseFailsAfterMaxAttempts() async throws {
        var settings = Dispatcher.Settings()
        settings.maxAttempts = 3
        let dispatcher = Dispatcher(settings: settings)
        let calls = SharedCount()
        await dispatcher.register(tests.registration("broken"), connection: FailingWorker(calls: calls, error: UnitFailed(reason: "out of memory")), heartbeats: false)
        do {
            _ = try await dispatcher.evaluate(tests.unit())
            Issue.record("a unit that fails every lease must fail")
        } catch let failure as UnitFailed {
            #expect(failure.reason.contains("3 attempts") && failure.reason.contains("out of memory"), "\(failure.reason)")
        }
        #expect(calls.value == 3)
        await dispatcher.shutdown()
    }

    /// A worker registering again at its address replaces its old entry (a restarted process),
    /// and the unit the old entry held goes to the new one.
    @Test func reRegistrationReplacesTheOldEntryAndItsUnitMovesOn() async throws {
        let dispatcher = Dispatcher()
        let old = await dispatcher.register(tests.registration("w"), connection: StuckWorker(), heartbeats: false)
        let unit = Task { try await dispatcher.evaluate(tests.unit()) }
        #expect(try await waitUntil(30) { await dispatcher.workerViews().first?.busy == true })
        let new = await dispatcher.register(tests.registration("w"),
                                            connection: ScriptedWorker(answer: UnitResult(nllSum: 3, tokens: 255, seconds: 0, worker: "restarted")),
                                            heartbeats: false)
        #expect(new != old)
        #expect(await dispatcher.workerViews().map(\.id) == [new], "one entry per address")
        #expect(await dispatcher.removedWorkers().isEmpty, "a worker that registered again was not removed")
        #expect(try await unit.value.worker == "restarted")
        await dispatcher.shutdown()
    }

    /// Issue 10: at a step's tail, idle workers take a copy of a straggler's unit; the first
    /// answer wins. The slow worker never answers on its own, so the unit can only end through
    /// the copy: the test waits for that event, not for a wall-clock bound (under a loaded
    /// machine the suite's synchronous forward passes hold the cooperative threads for seconds,
    /// which once made this take 35 s).
    @Test func aStragglersUnitIsDuplicatedOntoAnIdleWorker() async throws {
        struct NeverAnswers: UnitEvaluator {
            func evaluate(_ unit: WorkUnit) async throws -> UnitResult {
                while true { try await Task.sleep(nanoseconds: 3_600_000_000_000) }
            }
        }
        var settings = Dispatcher.Settings()
        settings.duplicateAfter = 0.3
        let dispatcher = Dispatcher(settings: settings)
        await dispatcher.register(tests.registration("slow"), connection: NeverAnswers(), heartbeats: false)
        let answered = SharedCount()
        let unit = Task {
            defer { answered.value = 1 }
            return try await dispatcher.evaluate(tests.unit())
        }
        #expect(try await waitUntil(300) { await dispatcher.workerViews().first?.busy == true })
        await dispatcher.register(tests.registration("fast"),
                                  connection: ScriptedWorker(answer: UnitResult(nllSum: 7, tokens: 255, seconds: 0, worker: "fast")),
                                  heartbeats: false)
        // Without duplication nothing ever answers: give up (and fail) rather than hang.
        #expect(try await waitUntil(300) { answered.value == 1 }, "the idle worker's copy answered")
        unit.cancel()
        let worker = try? await unit.value.worker
        #expect(worker == "fast")
        await dispatcher.shutdown()
    }

    @Test func silentWorkersAreForgotten() async throws {
        var settings = Dispatcher.Settings()
        settings.heartbeatTimeout = 0.2
        settings.forgetAfter = 0.6
        let dispatcher = Dispatcher(settings: settings)
        await dispatcher.register(tests.registration("gone"), connection: StuckWorker())
        #expect(await dispatcher.workerViews().count == 1)
        #expect(try await waitUntil(60) { await dispatcher.workerViews().isEmpty }, "a silent worker must be forgotten")
        await dispatcher.shutdown()
    }

    /// Issue 23, item 1: a worker that vanishes mid-unit (here: five restarts in a row) costs
    /// the unit none of its attempts.
    @Test func vanishedWorkersCostTheUnitNoAttempt() async throws {
        struct Vanishing: UnitEvaluator {
            func evaluate(_ unit: WorkUnit) async throws -> UnitResult { throw WorkerUnreachable("connection reset") }
        }
        var settings = Dispatcher.Settings()
        settings.maxAttempts = 2
        let dispatcher = Dispatcher(settings: settings)
        await dispatcher.register(tests.registration("w"), connection: Vanishing(), heartbeats: false)
        let unit = Task { try await dispatcher.evaluate(tests.unit()) }
        for _ in 0..<5 {
            // It vanishes and is unhealthy; the restarted process registers again at its address.
            #expect(try await waitUntil(300) { await dispatcher.workerViews().first?.healthy == false })
            await dispatcher.register(tests.registration("w"), connection: Vanishing(), heartbeats: false)
        }
        #expect(try await waitUntil(300) { await dispatcher.workerViews().first?.healthy == false })
        await dispatcher.register(tests.registration("w"), connection: ScriptedWorker(answer: UnitResult(nllSum: 7, tokens: 255, seconds: 0, worker: "back")),
                                  heartbeats: false)
        #expect(try await unit.value.worker == "back", "the unit never failed, though 6 leases ended without an answer")
        await dispatcher.shutdown()
    }

    /// A worker that goes silent again and again while it scores a unit (a process stopped and
    /// continued, a node swapping): each time its lease goes back, that lease's request is
    /// cancelled rather than left open. Found on a real search: a worker paused a dozen times
    /// held a dozen open requests, the HTTP client had no connection left for the next lease,
    /// each one "vanished" at once, and after 16 the search failed.
    @Test func aLeaseThatGoesBackLeavesNoRequestOpen() async throws {
        final class PausingWorker: UnitEvaluator, @unchecked Sendable {
            let lock = NSLock()
            var open = 0, calls = 0, answering = false
            func evaluate(_ unit: WorkUnit) async throws -> UnitResult {
                lock.withLock { open += 1; calls += 1 }
                defer { lock.withLock { open -= 1 } }
                while !lock.withLock({ answering }) { try await Task.sleep(nanoseconds: 20_000_000) }
                return UnitResult(nllSum: 3, tokens: 255, seconds: 0, worker: "paused")
            }
        }
        var settings = Dispatcher.Settings()
        settings.heartbeatTimeout = 0.2
        let dispatcher = Dispatcher(settings: settings)
        let worker = PausingWorker()
        let id = await dispatcher.register(tests.registration("paused"), connection: worker)
        let secret = dispatcher.secret(id)
        let unit = Task { try await dispatcher.evaluate(tests.unit()) }
        for round in 1...5 {
            // It beats until it holds the unit, then falls silent until the lease goes back.
            // (≥: on a loaded machine a poll may come late enough for one more silence.)
            #expect(try await waitUntil(60) {
                _ = await dispatcher.heartbeat(id, secret: secret)
                return worker.lock.withLock { worker.calls } >= round
            }, "lease \(round) reached the worker")
            #expect(try await waitUntil(60) { await !dispatcher.isHealthy(id) })
            #expect(try await waitUntil(30) { worker.lock.withLock { worker.open } == 0 },
                    "the lease that went back (\(round)) still has its request open")
        }
        // Five silences are five vanishes or a few more (of 16 allowed), not twice as many: a
        // cancelled request's end releases nothing (it could release the next lease of the same
        // unit); the next lease answers.
        worker.lock.withLock { worker.answering = true }
        let beating = Task { while !Task.isCancelled {
            _ = await dispatcher.heartbeat(id, secret: secret)
            try? await Task.sleep(nanoseconds: 50_000_000)
        } }
        defer { beating.cancel() }
        #expect(try await unit.value.worker == "paused")
        await dispatcher.shutdown()
    }

    /// A unit nobody wants any more (its candidate was rejected early, the search stops):
    /// cancelling its `evaluate` cancels the request its worker is answering, so the worker
    /// can stop the pass, and the worker takes the next unit at once.
    @Test func aCancelledUnitCancelsItsWorkersRequest() async throws {
        let dispatcher = Dispatcher()
        let worker = SlowWorker()
        await dispatcher.register(tests.registration("slow"), connection: worker, heartbeats: false)
        let unwanted = Task { try await dispatcher.evaluate(tests.unit()) }
        #expect(try await waitUntil(30) { worker.lock.withLock { worker.open } == 1 }, "the worker holds the unit")
        unwanted.cancel()
        await #expect(throws: CancellationError.self) { try await unwanted.value }
        #expect(try await waitUntil(30) { worker.lock.withLock { worker.open } == 0 },
                "the cancelled unit's request is still open on the worker")
        #expect(worker.lock.withLock { worker.cancelled } == 1)
        var next = tests.unit()
        next.candidateRowID = 2
        #expect(try await dispatcher.evaluate(next).nllSum == 5, "the worker is free for the next unit")
        #expect(worker.lock.withLock { worker.calls } == 2)
        await dispatcher.shutdown()
    }

    /// A straggler's unit duplicated on an idle worker: the first answer completes it, and the
    /// other lease's request is cancelled (its worker stops scoring a unit already done).
    @Test func theLosingDuplicateIsCancelled() async throws {
        var settings = Dispatcher.Settings()
        settings.duplicateAfter = 0.1
        let dispatcher = Dispatcher(settings: settings)
        let slow = SlowWorker()
        await dispatcher.register(tests.registration("slow"), connection: slow, heartbeats: false)
        let unit = Task { try await dispatcher.evaluate(tests.unit()) }
        #expect(try await waitUntil(30) { slow.lock.withLock { slow.open } == 1 }, "the slow worker holds the unit")
        try await Task.sleep(nanoseconds: 200_000_000)   // past duplicateAfter: a straggler
        await dispatcher.register(tests.registration("quick"), connection: ScriptedWorker(answer: UnitResult(nllSum: 7, tokens: 255, seconds: 0, worker: "quick")),
                                  heartbeats: false)
        #expect(try await unit.value.worker == "quick", "the duplicate answered first")
        #expect(try await waitUntil(30) { slow.lock.withLock { slow.open } == 0 },
                "the losing duplicate's request is still open")
        #expect(slow.lock.withLock { slow.cancelled } == 1)
        await dispatcher.shutdown()
    }

    /// Issue 23, item 2: a unit whose lease failed goes to another worker, and a worker whose
    /// answers fail three times in a row is removed, named in the reason.
    @Test func aFailedUnitGoesElsewhereAndABrokenWorkerIsRemoved() async throws {
        var patient = Dispatcher.Settings()
        patient.maxConsecutiveFailures = 100   // kept, to see where its failed units go
        let dispatcher = Dispatcher(settings: patient)
        let calls = SharedCount()
        await dispatcher.register(tests.registration("broken"), connection: FailingWorker(calls: calls, error: UnitFailed(reason: "unreadable answer")), heartbeats: false)
        await dispatcher.register(tests.registration("honest"), connection: ScriptedWorker(answer: UnitResult(nllSum: 7, tokens: 255, seconds: 0, worker: "honest")),
                                  heartbeats: false)
        for _ in 0..<6 {
            #expect(try await dispatcher.evaluate(tests.unit()).worker == "honest", "every unit ends on the honest worker")
        }
        #expect(calls.value <= 6, "a unit that failed on the broken worker is not sent back to it while another can run it")
        // Alone, the broken worker fails three answers in a row and is removed; the unit then waits.
        let alone = Dispatcher()
        let aloneCalls = SharedCount()
        await alone.register(tests.registration("broken"), connection: FailingWorker(calls: aloneCalls, error: UnitFailed(reason: "unreadable answer")), heartbeats: false)
        let pending = Task { try await alone.evaluate(tests.unit()) }
        #expect(try await waitUntil(300) { await alone.workerViews().isEmpty }, "the broken worker must be removed")
        #expect(aloneCalls.value == 3)
        await alone.register(tests.registration("honest"), connection: ScriptedWorker(answer: UnitResult(nllSum: 7, tokens: 255, seconds: 0, worker: "honest")),
                             heartbeats: false)
        #expect(try await pending.value.worker == "honest", "3 of 4 attempts spent, the fourth on the honest worker")
        await dispatcher.shutdown()
        await alone.shutdown()
    }

    /// `longrope search`'s settings: its lone in-process worker, failing every answer (a unit it
    /// cannot score), is kept, and the unit fails with the worker's reason after its attempts
    /// instead of waiting for ever for a worker that will not come.
    @Test func theEmbeddedSearchsLoneWorkerIsKeptAndTheUnitFails() async throws {
        let settings = Dispatcher.Settings.embedded
        let dispatcher = Dispatcher(settings: settings)
        let calls = SharedCount()
        await dispatcher.register(tests.registration("in-process"), connection: FailingWorker(calls: calls, error: UnitFailed(reason: "this unit cannot be scored here")),
                                  heartbeats: false)
        let pending = Task { try await dispatcher.evaluate(tests.unit()) }
        // Until its attempts are spent, or the worker is gone (what this test is against).
        let settled = try await waitUntil(300) {
            if calls.value >= settings.maxAttempts { return true }
            return await dispatcher.workerViews().isEmpty
        }
        #expect(settled)
        let kept = await dispatcher.workerViews().count == 1
        #expect(kept, "the lone worker is kept (after \(calls.value) failed answers)")
        if kept {
            await #expect(throws: UnitFailed.self) { try await pending.value }
            #expect(calls.value == settings.maxAttempts)
        }
        pending.cancel()
        await dispatcher.shutdown()
    }

    /// A unit a worker refuses (the unit itself cannot be scored: its 400) does not count
    /// against the worker: however many such units, it is kept, and each unit fails after its
    /// attempts with the refusal as its reason.
    @Test func aRefusedUnitFailsAndItsWorkerIsKept() async throws {
        let dispatcher = Dispatcher()   // the coordinator's settings: 3 failed answers in a row remove a worker
        let calls = SharedCount()
        await dispatcher.register(tests.registration("refusing"), connection: FailingWorker(calls: calls, error: UnitRefused(reason: "BF16 attention needs a head dimension that is a multiple of 32")), heartbeats: false)
        for round in 0..<2 {
            let pending = Task { try await dispatcher.evaluate(tests.unit()) }
            let settled = try await waitUntil(300) {
                if calls.value >= (round + 1) * Dispatcher.Settings().maxAttempts { return true }
                return await dispatcher.workerViews().isEmpty
            }
            #expect(settled)
            #expect(await dispatcher.workerViews().count == 1, "the worker is kept (after \(calls.value) refusals)")
            guard await dispatcher.workerViews().count == 1 else { pending.cancel(); break }
            do { _ = try await pending.value; Issue.record("a refused unit has no result") }
            catch let error as UnitFailed { #expect(error.reason.contains("refused") && error.reason.contains("head dimension"), "\(error)") }
        }
        await dispatcher.shutdown()
    }

    /// Issue 23, item 3: a worker answering a plausible lie (0, or a constant) on every unit is
    /// outvoted on its first checked answer and removed; no lie reaches the caller.
    @Test(arguments: [0.0, 123.0])
    func aPlausibleLiarIsOutvotedAndRemoved(lie: Double) async throws {
        var settings = Dispatcher.Settings()
        settings.verifyFirst = 2
        settings.verifyShare = 0.02
        let dispatcher = Dispatcher(settings: settings)
        let calls = SharedCount()
        struct Counted: UnitEvaluator {
            let answer: UnitResult, calls: SharedCount
            func evaluate(_ unit: WorkUnit) async throws -> UnitResult { calls.add(1); return answer }
        }
        await dispatcher.register(tests.registration("liar"), connection: Counted(answer: UnitResult(nllSum: lie, tokens: 255, seconds: 0, worker: "liar"), calls: calls),
                                  heartbeats: false)
        for name in ["a", "b", "c"] {
            await dispatcher.register(tests.registration(name), connection: ScriptedWorker(answer: UnitResult(nllSum: 500, tokens: 255, seconds: 0, worker: name)),
                                      heartbeats: false)
        }
        let results = try await evaluateAtOnce(40, on: dispatcher)
        #expect(results.count == 40 && results.allSatisfy { $0.nllSum == 500 }, "no lie got through")
        #expect(await !dispatcher.workerViews().contains { $0.name == "liar" }, "the liar is removed")
        #expect(calls.value <= 4, "caught within its first answers (\(calls.value))")
        await dispatcher.shutdown()
    }

    /// Units 0..<count (candidate row k, one window each) evaluated all at once.
    func evaluateAtOnce(_ count: Int, on dispatcher: Dispatcher) async throws -> [UnitResult] {
        try await withThrowingTaskGroup(of: UnitResult.self) { group in
            for k in 0..<count {
                var unit = tests.unit()
                unit.candidateRowID = Int64(k)
                group.addTask { try await dispatcher.evaluate(unit) }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
    }

    /// Issue 23, item 3: with `verifyNewLows`, every answer below the lowest loss its window
    /// has had is checked — how a plausible lie too low looks, from a worker however trusted.
    /// With no early checks and no sample, only that check can catch this liar, and it does
    /// before any lie gets through.
    @Test func anAnswerBelowItsWindowsLowestIsChecked() async throws {
        var settings = Dispatcher.Settings()
        settings.verifyFirst = 0
        settings.verifyShare = 0
        settings.verifyNewLows = true
        let dispatcher = Dispatcher(settings: settings)
        let lies = SharedCount()
        struct Liar: UnitEvaluator {
            let lies: SharedCount
            func evaluate(_ unit: WorkUnit) async throws -> UnitResult {
                lies.add(1)
                return UnitResult(nllSum: 100, tokens: 255, seconds: 0, worker: "liar")
            }
        }
        await dispatcher.register(tests.registration("liar"), connection: Liar(lies: lies), heartbeats: false)
        for name in ["a", "b"] {
            await dispatcher.register(tests.registration(name),
                                      connection: ScriptedWorker(answer: UnitResult(nllSum: 500, tokens: 255, seconds: 0, worker: name)),
                                      heartbeats: false)
        }
        let results = try await evaluateAtOnce(60, on: dispatcher)
        try #require(lies.value > 0, "the liar must have been asked")
        #expect(results.allSatisfy { $0.nllSum == 500 }, "no lie got through: \(results.map { $0.nllSum ?? .nan })")
        let removed = await dispatcher.removedWorkers()
        #expect(removed.map(\.name) == ["liar"] && removed[0].reason.contains("outvoted"), "\(removed)")
        await dispatcher.shutdown()
    }

    /// The cost of the check on an honest cluster: each worker's first two answers and ~2% of
    /// the rest are scored twice.
    @Test func checkingCostsFewUnitsOnAnHonestCluster() async throws {
        var settings = Dispatcher.Settings()
        settings.verifyFirst = 2
        settings.verifyShare = 0.02
        let dispatcher = Dispatcher(settings: settings)
        let calls = SharedCount()
        struct Counted: UnitEvaluator {
            let name: String, calls: SharedCount
            func evaluate(_ unit: WorkUnit) async throws -> UnitResult {
                calls.add(1)
                return UnitResult(nllSum: Double(unit.candidateRowID) + 1, tokens: 255, seconds: 0, worker: name)
            }
        }
        for name in ["a", "b", "c", "d"] {
            await dispatcher.register(tests.registration(name), connection: Counted(name: name, calls: calls), heartbeats: false)
        }
        let units = 1_000
        let sum = try await withThrowingTaskGroup(of: Double.self) { group in
            for k in 0..<units {
                var unit = tests.unit()
                unit.candidateRowID = Int64(k)
                group.addTask { try await dispatcher.evaluate(unit).nllSum ?? -1 }
            }
            return try await group.reduce(0, +)
        }
        #expect(sum == Double(units * (units + 1) / 2), "every unit answered with its own value")
        let extra = Double(calls.value - units) / Double(units)
        #expect(extra > 0 && extra <= 0.05, "checked share \(extra)")
        #expect(await dispatcher.workerViews().count == 4, "no honest worker removed")
        await dispatcher.shutdown()
    }
}

/// A worker whose units take a minute (candidate row 2: none), unless their request is
/// cancelled; it counts the requests open, made and cancelled.
final class SlowWorker: UnitEvaluator, @unchecked Sendable {
    let lock = NSLock()
    var open = 0, calls = 0, cancelled = 0
    func evaluate(_ unit: WorkUnit) async throws -> UnitResult {
        lock.withLock { open += 1; calls += 1 }
        defer { lock.withLock { open -= 1 } }
        if unit.candidateRowID == 2 { return UnitResult(nllSum: 5, tokens: 255, seconds: 0, worker: "slow") }
        for _ in 0..<6_000 {
            if Task.isCancelled { lock.withLock { cancelled += 1 }; throw CancellationError() }
            try? await Task.sleep(nanoseconds: 10_000_000)
        }
        return UnitResult(nllSum: 3, tokens: 255, seconds: 0, worker: "slow")
    }
}
