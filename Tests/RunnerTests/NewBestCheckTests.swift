import Foundation
import RoPE
@testable import Runner
import Search
import Simulation
import Store
import Testing
import Wire

/// Issue 23, item 3: every unit of a candidate that would become the search's new best is
/// scored again on a second worker before it counts (`Dispatcher.Settings.verifyNewBests`, the
/// coordinator's default), so a plausible lie can never be the search's best. Simulated
/// workers behind the real dispatcher, runner and store; one of three halves every candidate
/// unit's NLL, and no other check is on (no early checks, no sample).
@Suite struct NewBestCheckTests {
    /// The true answer to a stored unit (simulated workers score a unit the same, whoever they are).
    static func truth(_ run: UnitSchedulingTests.Run, _ candidate: CandidateRecord, window: Int) async throws -> Double? {
        let record = try #require(try run.store.search(run.searchID))
        let unit = SearchRunner.unit(record, candidateRowID: candidate.rowID, window: window,
                                     scaling: RoPEScaling(method: "candidate", lambda: candidate.candidate.lambda,
                                                          nHat: candidate.candidate.nHat, attentionFactor: candidate.attentionFactor),
                                     fitness: record.config.fitnessKind)
        let honest = SimulatedWorker(profile: .init(meanSeconds: 0), originalContext: record.config.originalContext, seed: 1)
        return try await honest.evaluate(unit).nllSum
    }

    /// The best candidate's stored windows, each against its true answer.
    static func bestIsTrue(_ run: UnitSchedulingTests.Run) async throws -> Bool {
        let best = try #require(try run.store.bestCandidate(run.searchID))
        for (window, stored) in try run.store.windowResults(best.rowID).enumerated() {
            guard let truth = try await truth(run, best, window: window), let stored,
                  abs(stored - truth) <= 1e-9 * max(1, abs(truth)) else { return false }
        }
        return true
    }

    @Test func aLieNeverBecomesTheBest() async throws {
        let config = UnitSchedulingTests.config()
        // Without the check the liar's halved answers win (the control: the test can fail).
        let unchecked = try await UnitSchedulingTests.run(workers: 3, config: config, liars: [0])
        #expect(try await !Self.bestIsTrue(unchecked), "without the check, a lie should have become the best")

        let checked = try await UnitSchedulingTests.run(workers: 3, config: config, liars: [0], verifyNewBests: true)
        #expect(checked.summary.status == "done")
        // (Its lies on candidates that were never the best may still have steered the breeding
        // before it was caught: the best differs from an honest run's, but it is true.)
        #expect(try await Self.bestIsTrue(checked), "the best's every window is the true answer")
    }

    /// On an honest cluster the check changes nothing but the units scored twice.
    @Test func onHonestWorkersTheResultIsTheSame() async throws {
        let plain = try await UnitSchedulingTests.run(workers: 4)
        let checked = try await UnitSchedulingTests.run(workers: 4, verifyNewBests: true)
        #expect(checked.rows == plain.rows && checked.candidates.map(\.outcome) == plain.candidates.map(\.outcome))
        #expect(checked.summary.lambda == plain.summary.lambda)
    }
}
