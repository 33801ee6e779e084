import Foundation
import Runner
import Search
import Store
import TestSupport
import Testing

/// Issue 21: pipelined steps and islands keep more units out than one step at a time, and the
/// result still does not depend on the workers — their number, speed, order or crashes — nor on
/// a stop and resume. Simulated workers behind the real dispatcher, runner and store
/// (`UnitSchedulingTests.run`).
@Suite struct DeterministicScheduleTests {
    static let schedules: [(name: String, config: SearchConfig)] = [
        ("pipeline L=3", UnitSchedulingTests.config(pipelineDepth: 3)),
        ("islands I=3 M=1", UnitSchedulingTests.config(islands: 3, migrationInterval: 1)),
        ("islands I=2 M=1, L=2", UnitSchedulingTests.config(pipelineDepth: 2, islands: 2, migrationInterval: 1)),
    ]

    @Test(arguments: schedules.indices)
    func theResultIsTheSameWhateverTheWorkers(schedule: Int) async throws {
        let (name, config) = Self.schedules[schedule]
        let one = try await UnitSchedulingTests.run(workers: 1, config: config)
        #expect(one.summary.status == "done", "\(name)")
        #expect(one.candidates.count == config.plannedCandidates, "\(name)")
        #expect(one.candidates.contains { if case .rejected = $0.outcome { return true } else { return false } },
                "early rejection must be exercised (\(name))")
        for (workers, dieEvery) in [(5, nil), (24, nil), (6, 9)] as [(Int, Int?)] {
            let many = try await UnitSchedulingTests.run(workers: workers, config: config, dieEvery: dieEvery)
            let label = "\(name), \(workers) workers" + (dieEvery.map { ", crashing every \($0) units" } ?? "")
            #expect(many.candidates.map(\.candidate) == one.candidates.map(\.candidate), "\(label)")
            #expect(many.candidates.map(\.outcome) == one.candidates.map(\.outcome), "\(label)")
            #expect(many.rows == one.rows, "the same units stored, with the same values (\(label))")
            #expect(many.summary.lambda == one.summary.lambda && many.summary.perplexity == one.summary.perplexity, "\(label)")
        }
    }

    /// FNV-1a over every stored candidate (step, λ, n̂, m, outcome) and unit (window, NLL bits):
    /// any change to what a search breeds, scores or stores changes it.
    static func digest(_ run: UnitSchedulingTests.Run) -> String {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        func mix(_ value: UInt64) { h ^= value; h = h &* 0x1000_0000_01b3 }
        for candidate in run.candidates {
            mix(UInt64(candidate.ordinal)); mix(UInt64(candidate.step)); mix(UInt64(candidate.candidate.nHat))
            candidate.candidate.lambda.forEach { mix($0.bitPattern) }
            mix(candidate.attentionFactor.bitPattern)
            switch candidate.outcome {
            case .scored?: mix(1)
            case .rejected?: mix(2)
            case .infeasible?: mix(3)
            case nil: mix(0)
            }
        }
        for row in run.rows { row.forEach { mix($0.bitPattern) } }
        return String(h, radix: 16)
    }

    /// Recorded before the schedule became a value type (`StepSchedule`, issue 22) and checked
    /// since: the stored candidates and units of each mode, whatever the code that schedules
    /// them. A change here is a change of every search's result: say so in the commit.
    @Test func theStoredRowsMatchTheRecordedDigests() async throws {
        let recorded: [(name: String, config: SearchConfig, digest: String)] = [
            ("one step at a time", UnitSchedulingTests.config(), "a6038f851d9a53a2"),
            (Self.schedules[0].name, Self.schedules[0].config, "85d9347803a6cde1"),
            (Self.schedules[1].name, Self.schedules[1].config, "333f87c8afceed09"),
            (Self.schedules[2].name, Self.schedules[2].config, "e44aaaeee17cd8bb"),
        ]
        for (name, config, digest) in recorded {
            let run = try await UnitSchedulingTests.run(workers: 1, config: config)
            #expect(Self.digest(run) == digest, "\(name)")
        }
    }

    /// A run that dies mid-search (the evaluator fails as a killed coordinator's would) and is
    /// resumed from its store ends with the uninterrupted run's candidates, units and best.
    @Test(arguments: schedules.indices)
    func aStoppedSearchResumesToTheSameResult(schedule: Int) async throws {
        let (name, config) = Self.schedules[schedule]
        let uninterrupted = try await UnitSchedulingTests.run(workers: 5, config: config)
        for stop in [70, 130] {
            let store = try SearchStore(path: temporaryDirectory().appendingPathComponent("resume.sqlite").path)
            let id = try store.createSearch(name: "sim", config: config, modelPath: "m", modelSHA256: "m", textPath: "t",
                                            textOffset: 0, textSHA256: "t")
            await #expect(throws: CrashingEvaluator.Crash.self) {
                _ = try await UnitSchedulingTests.run(workers: 5, config: config, resuming: (store, id), stopAfter: stop)
            }
            let partial = try store.evaluationCount(id)
            #expect(partial > 0 && partial < uninterrupted.rows.count, "\(name): the stop after \(stop) units fell mid-search")
            let resumed = try await UnitSchedulingTests.run(workers: 24, config: config, resuming: (store, id))
            #expect(resumed.summary.status == "done", "\(name)")
            #expect(resumed.candidates.map(\.candidate) == uninterrupted.candidates.map(\.candidate), "\(name), stop after \(stop)")
            #expect(resumed.rows == uninterrupted.rows, "\(name), stop after \(stop): the same units, the same values")
            #expect(resumed.summary.lambda == uninterrupted.summary.lambda && resumed.summary.perplexity == uninterrupted.summary.perplexity)
        }
    }

    /// With L = 3, steps run together: some step's first unit starts before the step before it
    /// has finished — and no candidate of step t has a parent from a step after t − 3.
    @Test func pipelinedStepsRunTogetherYetBreedFromCompleteSteps() async throws {
        let config = UnitSchedulingTests.config(pipelineDepth: 3)
        let run = try await UnitSchedulingTests.run(workers: 24, config: config, unitSeconds: 0.02)
        #expect(UnitSchedulingTests.someStepStartedEarly(run, config: config),
                "no step started before its predecessor's last unit ended")
        let stepOfOrdinal = Dictionary(uniqueKeysWithValues: run.candidates.map { ($0.ordinal, $0.step) })
        for candidate in run.candidates where candidate.step > 0 {
            #expect(candidate.candidate.parents.allSatisfy { stepOfOrdinal[$0]! <= max(0, candidate.step - 3) },
                    "step \(candidate.step) bred from a step less than 3 behind it")
        }
    }
}
