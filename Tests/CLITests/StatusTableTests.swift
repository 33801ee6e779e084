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

    /// UNITS says how many of the stored units were taken from a rule's identical unit (no
    /// worker time): a search's first step can be mostly those.
    @Test func theUnitsCellCountsTheReusedApart() {
        func units(_ done: Int, reused: Int) -> String {
            var view = search(nil, fitness: "ppl")
            view.unitsDone = done
            view.unitsReused = reused
            let lines = StatusTable.render(searches: [view], workers: [], bars: false).split(separator: "\n")
            guard let header = lines.firstIndex(where: { $0.hasPrefix("ID") }), header + 1 < lines.count else { return "" }
            // Columns are padded to one width: the cell lies under its header's characters.
            let head = String(lines[header]), row = Array(lines[header + 1])
            guard let start = head.range(of: "UNITS"), let end = head.range(of: "IN FLIGHT") else { return "" }
            let from = head.distance(from: head.startIndex, to: start.lowerBound)
            let to = min(row.count, head.distance(from: head.startIndex, to: end.lowerBound))
            return String(row[from..<to]).trimmingCharacters(in: .whitespaces)
        }
        #expect(units(24, reused: 8) == "24 (8 reused)")
        #expect(units(24, reused: 0) == "24")
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
