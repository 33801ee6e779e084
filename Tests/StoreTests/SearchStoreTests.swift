import Foundation
import Testing
import Digest
import Search
import Store
import TestSupport

@Suite struct SearchStoreTests {
    func makeStore() throws -> SearchStore {
        try SearchStore(path: temporaryDirectory().appendingPathComponent("test.sqlite").path)
    }

    func makeSearch(_ store: SearchStore) throws -> Int64 {
        let config = SearchConfig(pairs: 2, originalContext: 512, targetContext: 1024, seed: 9)
        return try store.createSearch(name: "t", config: config, modelPath: "/m", modelSHA256: "aa",
                                      textPath: "/t", textOffset: 5, textSHA256: "bb")
    }

    @Test func searchesRoundTrip() throws {
        let store = try makeStore()
        let id = try makeSearch(store)
        let record = try #require(try store.search(id))
        #expect(record.config.seed == 9 && record.config.pairs == 2 && record.textOffset == 5)
        #expect(record.status == .queued)
        try store.setStatus(id, .failed, error: "boom")
        #expect(try store.search(id)?.status == .failed)
        #expect(try store.errorMessage(id) == "boom")
        #expect(try store.search(999) == nil)
    }

    @Test func candidatesKeepOrderStepAndOutcome() throws {
        let store = try makeStore()
        let id = try makeSearch(store)
        try store.insertCandidates(id, step: 0, [Candidate(lambda: [1, 2], attentionFactor: 1.1, operation: .seed, seedName: "pi"),
                                                 Candidate(lambda: [1, 3], attentionFactor: 1.25, criticalPair: 1,
                                                           operation: .mutation)])
        try store.insertCandidates(id, step: 1, [Candidate(lambda: [2, 3], attentionFactor: 1.1, operation: .crossover,
                                                           parents: [0, 1])])
        var rows = try store.candidates(id)
        // Each candidate keeps its own m and d_rcd.
        #expect(rows.map(\.attentionFactor) == [1.1, 1.25, 1.1])
        #expect(rows.map(\.candidate.attentionFactor) == [1.1, 1.25, 1.1])
        #expect(rows.map(\.candidate.criticalPair) == [nil, 1, nil])
        #expect(rows.map(\.ordinal) == [0, 1, 2])
        #expect(rows.map(\.step) == [0, 0, 1])
        #expect(rows[2].candidate.parents == [0, 1])
        #expect(rows.allSatisfy { $0.outcome == nil })
        // Two windows: the outcome is written with the last.
        try store.recordEvaluation(EvaluationRecord(candidateRowID: rows[0].rowID, window: 0, nllSum: 10, tokens: 5,
                                                    seconds: 0.1, worker: "w"), outcome: nil)
        try store.recordEvaluation(EvaluationRecord(candidateRowID: rows[0].rowID, window: 1, nllSum: 12, tokens: 5,
                                                    seconds: 0.1, worker: "w"),
                                   outcome: .scored(perplexity: 9, windowNLL: [10, 12]))
        rows = try store.candidates(id)
        #expect(rows[0].outcome == .scored(perplexity: 9, windowNLL: [10, 12]))
        #expect(try store.evaluationCount(id) == 2)
        // A block of a step, by its ordinals (the runner reloads the block it just stored).
        let block = try store.candidates(id, step: 0, ordinals: 1..<5)
        #expect(block.map(\.ordinal) == [1])
        let first = try store.candidates(id, ordinals: 0..<1)
        #expect(first.map(\.ordinal) == [0] && first[0].outcome == .scored(perplexity: 9, windowNLL: [10, 12]))
    }

    /// The pace `seconds_left` reads: the last units stored with a result, oldest first; failed,
    /// infeasible and reused (0-second) units and other searches' units are not part of it.
    @Test func recentUnitArrivalsAreTheLastDoneUnitsInOrder() throws {
        let store = try makeStore()
        let id = try makeSearch(store), other = try makeSearch(store)
        #expect(try store.recentUnitArrivals(id, count: 5).isEmpty)
        try store.insertCandidates(id, step: 0, (0..<6).map { _ in Candidate(lambda: [1, 2], operation: .seed) })
        try store.insertCandidates(other, step: 0, [Candidate(lambda: [1, 2], operation: .seed)])
        let rows = try store.candidates(id)
        let before = Date().timeIntervalSince1970
        for (i, row) in rows.enumerated() {
            try store.recordEvaluation(EvaluationRecord(candidateRowID: row.rowID, window: 0, nllSum: i == 2 ? nil : 3, tokens: 5,
                                                        seconds: i == 4 ? 0 : 1, worker: i == 4 ? "reused" : "w"), outcome: nil)
        }
        try store.recordEvaluation(EvaluationRecord(candidateRowID: try store.candidates(other)[0].rowID, window: 0, nllSum: 3,
                                                    tokens: 5, seconds: 1, worker: "w"), outcome: nil)
        let last = try store.recentUnitArrivals(id, count: 3)
        #expect(last.count == 3)
        #expect(last == last.sorted())
        #expect(last.allSatisfy { $0 >= before && $0 <= Date().timeIntervalSince1970 })
        // Four timed units of six (one infeasible, one reused); the other search's is not among them.
        #expect(try store.recentUnitArrivals(id, count: 100).count == 4)
        #expect(try store.recentUnitArrivals(other, count: 100).count == 1)
        // Counted by worker: the reused one apart from the rest.
        #expect(try store.evaluationCount(id) == 6 && store.evaluationCount(id, worker: "reused") == 1
                && store.evaluationCount(id, worker: "w") == 5 && store.evaluationCount(other, worker: "reused") == 0)
    }

    @Test func nanIsStoredAsInfeasibleNotLost() throws {
        let store = try makeStore()
        let id = try makeSearch(store)
        try store.insertCandidates(id, step: 0, [Candidate(lambda: [1, 2], operation: .seed)])
        let row = try store.candidates(id)[0]
        try store.recordEvaluation(EvaluationRecord(candidateRowID: row.rowID, window: 0, nllSum: nil, tokens: 5,
                                                    seconds: 0, worker: "w"), outcome: .infeasible)
        #expect(try store.candidates(id)[0].outcome == .infeasible)
        #expect(try store.windowResults(row.rowID) == [nil])
    }

    @Test func aLateDuplicateIsAcceptedOnce() throws {
        let store = try makeStore()
        let id = try makeSearch(store)
        try store.insertCandidates(id, step: 0, [Candidate(lambda: [1, 2], operation: .seed)])
        let row = try store.candidates(id)[0]
        let unit = EvaluationRecord(candidateRowID: row.rowID, window: 0, nllSum: 3, tokens: 5, seconds: 0, worker: "a")
        #expect(try store.recordEvaluation(unit, outcome: nil))
        var late = unit
        late.worker = "b"
        late.nllSum = 4
        #expect(try store.recordEvaluation(late, outcome: nil) == false)
        #expect(try store.windowResults(row.rowID) == [3])
    }

    @Test func baselinesWithInfeasibleOnes() throws {
        let store = try makeStore()
        let id = try makeSearch(store)
        try store.recordBaseline(id, BaselineRecord(method: "pi", lambda: [2, 2], nHat: 0, attentionFactor: 1,
                                                    perplexity: 7.5, windowNLL: [1, 2]))
        try store.recordBaseline(id, BaselineRecord(method: "ntk", lambda: [1, 2], nHat: 0, attentionFactor: 1,
                                                    perplexity: nil, windowNLL: []))
        let baselines = try store.baselines(id)
        #expect(baselines.map(\.method) == ["pi", "ntk"])
        #expect(baselines[0].perplexity == 7.5 && baselines[1].perplexity == nil)
    }

    @Test func reopeningKeepsEverything() throws {
        let path = temporaryDirectory().appendingPathComponent("reopen.sqlite").path
        let id: Int64
        do {
            let store = try SearchStore(path: path)
            id = try makeSearch(store)
        }
        let again = try SearchStore(path: path)
        #expect(try again.search(id)?.name == "t")
    }

    @Test func sha256KnownAnswers() {
        #expect(SHA256.hex(Data()) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        #expect(SHA256.hex(Data("abc".utf8)) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        let million = Data(repeating: UInt8(ascii: "a"), count: 1_000_000)
        #expect(SHA256.hex(million) == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
    }
}
