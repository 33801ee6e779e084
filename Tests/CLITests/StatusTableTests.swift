import Foundation
import Testing
import Wire
@testable import CLI

/// `longrope status` says how far a search's rules are while they hold up its first candidate
/// (hours of units in a long mixed search, with the candidate counts at 0 all along).
@Suite struct StatusTableTests {
    func search(_ rules: RulesView?, fitness: String = "mixed", status: String = "running") -> SearchView {
        var view = SearchView(id: 3, name: "s", status: status, error: nil, step: 0, steps: 9, candidates: 0,
                              candidatesPlanned: 48, unitsDone: 0, unitsInFlight: 1, unitsQueued: 2, unitsFailed: 0,
                              best: nil, baselines: [:], originalContext: 8192, targetContext: 32768, seed: 0,
                              modelSHA256: "m", textSHA256: "t")
        view.fitness = fitness
        view.rules = rules
        return view
    }

    @Test func theRulesLineFollowsTheirPasses() {
        func line(_ view: SearchView) -> String? {
            StatusTable.render(searches: [view], workers: [], bars: false)
                .split(separator: "\n").first { $0.contains("search 3 rules:") }.map(String.init)
        }
        #expect(line(search(RulesView(planned: 9, windows: 3, perplexityScored: 7, fitnessScored: 0)))
                == "  search 3 rules: perplexity 7 of 9, mixed fitness 0 of the feasible (3 windows each)")
        #expect(line(search(RulesView(planned: 9, windows: 3, perplexityScored: 9, fitnessScored: 2, fitnessPlanned: 8)))
                == "  search 3 rules: perplexity 9 of 9, mixed fitness 2 of 8 (3 windows each)")
        #expect(line(search(RulesView(planned: 9, windows: 1, perplexityScored: 4), fitness: "ppl"))
                == "  search 3 rules: perplexity 4 of 9 (1 window each)")
        // Done, or a search that is not running: no line.
        #expect(line(search(RulesView(planned: 9, windows: 3, perplexityScored: 9, fitnessScored: 8, fitnessPlanned: 8))) == nil)
        #expect(line(search(RulesView(planned: 9, windows: 1, perplexityScored: 9), fitness: "ppl")) == nil)
        #expect(line(search(RulesView(planned: 9, windows: 3, perplexityScored: 2), status: "paused")) == nil)
        #expect(line(search(nil)) == nil)
    }

    /// A coordinator's strings reach the terminal without their control characters (a name
    /// registered by an older coordinator, a worker's error text in a removal's reason).
    @Test func controlCharactersFromTheCoordinatorAreShownAsQuestionMarks() {
        var view = search(nil)
        view.name = "s\u{1B}]0;pwned\u{07}\u{1B}[2J"
        let removed = RemovedWorkerView(id: "w-1", name: "w\r", address: "http://x", reason: "bad\u{1B}[31m", removedAt: "now")
        let text = StatusTable.render(searches: [view], workers: [], removed: [removed], bars: false)
        #expect(!text.unicodeScalars.contains { $0 != "\n" && $0.properties.generalCategory == .control }, "\(text.debugDescription)")
        #expect(text.contains("s?]0;pwned??[2J") && text.contains("bad?[31m"), "\(text)")
    }
}
