import Foundation
import Wire

/// The rules' units, so that a candidate equal to a rule is not scored again.
///
/// The initial population holds every rule's λ and m as seed candidates (`Baselines.seeds`), so
/// their units — same factors, window and fitness — are the units the rules were scored with.
/// A unit is deterministic, so scoring it twice only costs time: eight units per search, hours
/// at 32k on a small machine. This evaluator sits in front of the real one and
/// - remembers every rule unit's result (`remember`, and each rule unit it passes on);
/// - answers a candidate's unit that equals a remembered one at once (worker "reused",
///   0 seconds: no time was spent on it);
/// - makes a candidate's unit whose rule unit is *promised* (sent, or about to be) wait for it,
///   so rules and the first step can still be dispatched together. A promise broken (the rule
///   unit failed or was cancelled) sends the waiting units to be scored themselves.
/// - answers a rule unit that equals a remembered one at once too: two rules with the same
///   factors (YaRN and YaRN-rcd often are) where a stop came between their stored rows.
/// Only rule units (candidate row −1) are remembered: candidates never repeat each other.
final class ReusedUnits: UnitEvaluator, @unchecked Sendable {
    private let inner: UnitEvaluator
    private let lock = NSLock()
    private var known: [WorkUnit: UnitResult] = [:]
    private var promised: Set<WorkUnit> = []
    private var waiting: [WorkUnit: [UUID: CheckedContinuation<UnitResult?, Never>]] = [:]

    init(_ inner: UnitEvaluator) { self.inner = inner }

    var capacity: Int { inner.capacity }
    var confirms: Bool { inner.confirms }

    /// What makes two units the same work: everything but the candidate they are for.
    static func key(_ unit: WorkUnit) -> WorkUnit {
        var key = unit
        key.candidateRowID = -1
        return key
    }

    /// A rule unit's result, known from the store.
    func remember(_ unit: WorkUnit, _ result: UnitResult) {
        fulfil(Self.key(unit), result)
    }

    /// Rule units that will be scored: candidates' equal units wait for them.
    func promise(_ units: [WorkUnit]) {
        lock.withLock {
            for unit in units where known[Self.key(unit)] == nil { promised.insert(Self.key(unit)) }
        }
    }

    /// Drops what is left of a promise (its rule units were never scored): their waiters are
    /// scored themselves.
    func release(_ units: [WorkUnit]) {
        for unit in units { fulfil(Self.key(unit), nil) }
    }

    /// A reused answer is the rule unit's: the second opinion is asked on that unit.
    func confirm(_ unit: WorkUnit, _ result: UnitResult) async throws -> UnitResult {
        try await inner.confirm(result.worker == UnitResult.reusedWorker ? Self.key(unit) : unit, result)
    }

    func evaluate(_ unit: WorkUnit) async throws -> UnitResult {
        let key = Self.key(unit)
        let isRule = unit.candidateRowID < 0
        // A rule unit never waits for a promise (the promises are the rule units themselves).
        if var result = isRule ? lock.withLock({ known[key] }) : try await result(of: key) {
            result.seconds = 0
            result.worker = UnitResult.reusedWorker
            return result
        }
        do {
            let result = try await inner.evaluate(unit)
            if isRule { fulfil(key, result) }
            return result
        } catch {
            if isRule { fulfil(key, nil) }
            throw error
        }
    }

    /// The known result of `key`, after waiting for it if it is promised; nil when it is neither
    /// known nor promised (or the promise was broken).
    private func result(of key: WorkUnit) async throws -> UnitResult? {
        let id = UUID()
        let result: UnitResult? = await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<UnitResult?, Never>) in
                let now: UnitResult?? = lock.withLock {
                    if let result = known[key] { return .some(result) }
                    guard promised.contains(key), !Task.isCancelled else { return .some(nil) }
                    waiting[key, default: [:]][id] = continuation
                    return .none
                }
                if case let .some(answer) = now { continuation.resume(returning: answer) }
            }
        } onCancel: {
            lock.withLock { waiting[key]?.removeValue(forKey: id) }?.resume(returning: nil)
        }
        try Task.checkCancellation()
        return result
    }

    /// Records `result` for `key` (nil: the promise is broken) and wakes its waiters.
    private func fulfil(_ key: WorkUnit, _ result: UnitResult?) {
        let waiters: [CheckedContinuation<UnitResult?, Never>] = lock.withLock {
            if let result { known[key] = result }
            promised.remove(key)
            return waiting.removeValue(forKey: key).map { Array($0.values) } ?? []
        }
        for waiter in waiters { waiter.resume(returning: result) }
    }
}
