import Foundation
import Wire
import Search
import Store

/// One candidate's windows while they are being scored: which are out, which came back, and
/// the outcome once decided.
///
/// Windows may be sent out and come back in any order (several workers score one candidate at
/// once), but they are *consumed* strictly in window order: window k is recorded and the
/// early-rejection test run on windows 0…k only when 0…k−1 are in. So the outcome, and every
/// stored row, is the same as scoring the windows one after another, whatever the number of
/// workers or the order results arrive in. Results past the window that decides the outcome
/// are dropped (never stored).
struct CandidateWindows {
    let record: CandidateRecord
    /// The k-th parent's per-window NLL sums when this candidate's step was bred (nil: no rejection).
    let reference: [Double]?
    let windowCount: Int
    /// NLL sums of the windows consumed so far (windows 0…consumed−1).
    private(set) var nll: [Double]
    private(set) var tokens: Int
    /// The answers of the windows consumed so far (those reloaded from the store: its values,
    /// worker "stored").
    private(set) var results: [UnitResult]
    /// The next window to send out (≥ nll.count).
    private(set) var nextToSend: Int
    /// Windows out with a worker.
    private(set) var outstanding: Set<Int> = []
    /// Results that came back ahead of an earlier window.
    private var waiting: [Int: Result<UnitResult, UnitFailed>] = [:]
    private(set) var outcome: Outcome?

    /// `storedNLL` and `storedTokens`: each window's NLL sum and token count, as stored.
    init(record: CandidateRecord, reference: [Double]?, windowCount: Int, storedNLL: [Double], storedTokens: [Int]) {
        self.record = record
        self.reference = reference
        self.windowCount = windowCount
        self.nll = storedNLL
        self.tokens = storedTokens.prefix(storedNLL.count).reduce(0, +)
        self.results = zip(storedNLL, storedTokens).map {
            UnitResult(nllSum: $0.isFinite ? $0 : nil, tokens: $1, seconds: 0, worker: "stored")
        }
        self.nextToSend = storedNLL.count
        self.outcome = record.outcome
    }

    var isDecided: Bool { outcome != nil }

    /// Nothing of it is out and a window is left: its next window is not a gamble.
    var hasSureWindow: Bool { outcome == nil && outstanding.isEmpty && nextToSend < windowCount }

    /// Windows are out and more are left: sending the next one is speculative (early rejection
    /// may make it useless). `depth` is how far ahead of the consumed windows it would be.
    var speculativeDepth: Int? {
        guard outcome == nil, !outstanding.isEmpty, nextToSend < windowCount else { return nil }
        return nextToSend - nll.count
    }

    /// Windows not yet sent out (none once decided).
    var unsent: Int { outcome == nil ? windowCount - nextToSend : 0 }

    /// Marks the next window as out and returns its index.
    mutating func send() -> Int {
        precondition(outcome == nil && nextToSend < windowCount, "no window left to send")
        let window = nextToSend
        nextToSend += 1
        outstanding.insert(window)
        return window
    }

    /// Once decided: the windows still out (their results will not be used), forgotten.
    mutating func takeAbandoned() -> Set<Int> {
        guard outcome != nil else { return [] }
        defer { outstanding.removeAll() }
        return outstanding
    }

    /// Takes one window's result. Returns, in window order, the rows to store now (each with
    /// the outcome if that window decided it); empty while an earlier window is still out.
    mutating func receive(window: Int, _ result: Result<UnitResult, UnitFailed>,
                          config: SearchConfig) -> [(EvaluationRecord, Outcome?)] {
        guard outstanding.remove(window) != nil, outcome == nil else { return [] }
        waiting[window] = result
        var rows: [(EvaluationRecord, Outcome?)] = []
        while outcome == nil, let next = waiting.removeValue(forKey: nll.count) {
            rows.append(consume(window: nll.count, next, config: config))
        }
        if outcome != nil { waiting.removeAll() }
        return rows
    }

    /// Whether taking `result` for `window` would decide the candidate as scored, and then its
    /// perplexity and every window's answer (the consumed ones, those waiting for an earlier
    /// window, and this one); nil otherwise. Nothing changes.
    func trial(window: Int, _ result: UnitResult, config: SearchConfig) -> (perplexity: Double, answers: [UnitResult])? {
        var copy = self
        _ = copy.receive(window: window, .success(result), config: config)
        guard let perplexity = copy.outcome?.perplexity else { return nil }
        return (perplexity, copy.results)
    }

    /// Replaces a window's answer with the one a second opinion gave (see `Dispatcher.confirm`)
    /// before the candidate is decided. Returns the row to store in place of the stored one when
    /// the window was consumed already; nil when it was still waiting (nothing stored yet).
    mutating func correct(window: Int, _ result: UnitResult) -> EvaluationRecord? {
        precondition(outcome == nil, "a decided candidate is not corrected")
        guard window < nll.count else {
            if waiting[window] != nil { waiting[window] = .success(result) }
            return nil
        }
        let old = results[window]
        guard (old.nllSum, old.tokens, old.worker) != (result.nllSum, result.tokens, result.worker) else { return nil }   // confirmed as it was
        tokens += result.tokens - old.tokens
        results[window] = result
        nll[window] = result.nllSum ?? .nan
        return EvaluationRecord(candidateRowID: record.rowID, window: window, nllSum: result.nllSum, tokens: result.tokens,
                                seconds: result.seconds, worker: result.worker)
    }

    private mutating func consume(window: Int, _ result: Result<UnitResult, UnitFailed>,
                                  config: SearchConfig) -> (EvaluationRecord, Outcome?) {
        let unit: UnitResult
        switch result {
        case let .failure(failure):
            outcome = .infeasible
            return (EvaluationRecord(candidateRowID: record.rowID, window: window, nllSum: nil, tokens: 0, seconds: 0,
                                     worker: "-", error: failure.reason), outcome)
        case let .success(value): unit = value
        }
        let finite = unit.nllSum.flatMap { $0.isFinite ? $0 : nil }
        results.append(unit)
        if let value = finite, unit.tokens > 0 {
            nll.append(value)
            tokens += unit.tokens
            let mean = nll.reduce(0, +) / Double(tokens)
            if !mean.isFinite {
                outcome = .infeasible   // an earlier window corrected to NaN by a second opinion
            } else if nll.count == windowCount {
                outcome = .scored(perplexity: exp(mean), windowNLL: nll)
            } else if let reference, SearchEngine.shouldReject(partial: nll, reference: reference,
                                                               tokens: tokens, config: config) {
                outcome = .rejected(partialPerplexity: exp(mean), windowNLL: nll)
            }
        } else {
            outcome = .infeasible
            nll.append(.nan)   // keeps nll.count = windows consumed
        }
        return (EvaluationRecord(candidateRowID: record.rowID, window: window, nllSum: finite, tokens: unit.tokens,
                                 seconds: unit.seconds, worker: unit.worker), outcome)
    }
}
