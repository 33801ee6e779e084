import Runner
import Testing

/// `seconds_left`: candidates left × units per finished candidate × the median gap between units.
@Suite struct TimeLeftTests {
    /// Units every `gap` seconds from t = 1,000.
    func arrivals(_ count: Int, gap: Double) -> [Double] { (0..<count).map { 1_000 + Double($0) * gap } }

    @Test func steadyUnitsGiveCandidatesLeftTimesUnitsPerCandidateTimesTheGap() throws {
        // 10 finished candidates took 20 units (two windows each); a unit every 30 s; 5 left.
        let left = try #require(TimeLeft.estimate(candidatesLeft: 5, candidatesFinished: 10, unitsDone: 20,
                                                   arrivals: arrivals(21, gap: 30)))
        #expect(abs(left - 5 * 2 * 30) < 1e-9)
        // Early rejection: 10 candidates in 13 units (most stopped after the first window).
        let rejected = try #require(TimeLeft.estimate(candidatesLeft: 5, candidatesFinished: 10, unitsDone: 13,
                                                       arrivals: arrivals(13, gap: 30)))
        #expect(abs(rejected - 5 * 1.3 * 30) < 1e-9)
    }

    @Test func aStopBetweenTwoUnitsIsNotThePace() throws {
        // A night between units 10 and 11: one gap of 10 h among gaps of 60 s.
        var times = arrivals(10, gap: 60)
        times += arrivals(11, gap: 60).map { $0 + 36_000 + 600 }
        let left = try #require(TimeLeft.estimate(candidatesLeft: 4, candidatesFinished: 21, unitsDone: 21, arrivals: times))
        #expect(abs(left - 4 * 60) < 1e-9)
    }

    @Test func moreWorkersAnswerMoreOftenAndLeaveLessTime() throws {
        let one = try #require(TimeLeft.estimate(candidatesLeft: 8, candidatesFinished: 8, unitsDone: 8, arrivals: arrivals(8, gap: 120)))
        let four = try #require(TimeLeft.estimate(candidatesLeft: 8, candidatesFinished: 8, unitsDone: 8, arrivals: arrivals(8, gap: 30)))
        #expect(abs(one / four - 4) < 1e-9)
    }

    @Test func tooLittleToGoOnIsNilAndNothingLeftIsZero() {
        #expect(TimeLeft.estimate(candidatesLeft: 5, candidatesFinished: 0, unitsDone: 3, arrivals: arrivals(3, gap: 9)) == nil)
        #expect(TimeLeft.estimate(candidatesLeft: 5, candidatesFinished: 1, unitsDone: 3, arrivals: arrivals(3, gap: 9)) == nil)
        #expect(TimeLeft.estimate(candidatesLeft: 0, candidatesFinished: 48, unitsDone: 90, arrivals: arrivals(21, gap: 9)) == 0)
        // Arrivals out of order (clocks are not monotone) count as no gap, never a negative time.
        let shuffled = TimeLeft.estimate(candidatesLeft: 2, candidatesFinished: 4, unitsDone: 4, arrivals: [10, 5, 3, 1, 0])
        #expect(shuffled == 0)
    }

    /// Before the first step of a search whose rules go first (hours at 32k), the rules' units
    /// still out come first, and until a candidate has finished each is taken to need every window.
    @Test func theRulesUnitsLeftComeFirstAndEveryWindowCountsUntilACandidateFinishes() throws {
        // 8 rule units left, 48 candidates of 3 windows, a unit every 400 s.
        let rules = try #require(TimeLeft.estimate(candidatesLeft: 48, candidatesFinished: 0, unitsDone: 0,
                                                    arrivals: arrivals(9, gap: 400), rulesUnitsLeft: 8, windows: 3))
        #expect(abs(rules - (8 + 48 * 3) * 400) < 1e-9)
        // Without the windows to assume, nothing to go on until a candidate finishes.
        #expect(TimeLeft.estimate(candidatesLeft: 48, candidatesFinished: 0, unitsDone: 2, arrivals: arrivals(9, gap: 400),
                                  rulesUnitsLeft: 8) == nil)
        // Once candidates finish, their own units per candidate count (early rejection: fewer).
        let steps = try #require(TimeLeft.estimate(candidatesLeft: 40, candidatesFinished: 8, unitsDone: 16,
                                                    arrivals: arrivals(21, gap: 400), windows: 3))
        #expect(abs(steps - 40 * 2 * 400) < 1e-9)
        // Units of unfinished candidates (7 finished, 4 of the next ones' units in) make no
        // candidate take more than every window (the 32k search read ~25.6 h for ~20 h).
        let started = try #require(TimeLeft.estimate(candidatesLeft: 41, candidatesFinished: 7, unitsDone: 25,
                                                      arrivals: arrivals(21, gap: 400), windows: 3))
        #expect(abs(started - 41 * 3 * 400) < 1e-9)
        // Only rules left: their units alone.
        #expect(TimeLeft.estimate(candidatesLeft: 0, candidatesFinished: 0, unitsDone: 0, arrivals: arrivals(5, gap: 10),
                                  rulesUnitsLeft: 3, windows: 3) == 30)
    }

    @Test func describedAsAPersonReadsIt() {
        #expect(TimeLeft.describe(40) == "~40 s")
        #expect(TimeLeft.describe(12 * 60 + 10) == "~12 min")
        #expect(TimeLeft.describe(3.5 * 3600) == "~3.5 h")
        #expect(TimeLeft.describe(50 * 3600) == "~2.1 d")
    }
}
