import Foundation

/// How long a search has left, for the people following it (`seconds_left` of GET
/// /v1/searches/{id}, the LEFT column of `longrope status`, `longrope search`'s progress bar;
/// `SearchRunner.secondsLeft` reads its inputs from the store). An estimate that nothing decides by.
///
/// The units still to score — the rules' still out before the first step (a search whose
/// fitness is not `ppl` scores them first: hours at 32k), then the candidates still to score
/// times the units a finished candidate has taken so far (early rejection makes that fewer than
/// the windows, never more; every window until one has finished) — times the time between two
/// units coming back: the median of the gaps between the last timed units' arrivals (`recentUnitArrivals`,
/// the rules' and the candidates'). The gap already counts the workers (four busy workers
/// answer four times as often as one) and the machine's load, and the median ignores a stop: a
/// search resumed after a night has one long gap among many short ones.
public enum TimeLeft {
    /// Arrivals looked at: the last this many units' times.
    public static let arrivalsUsed = 21

    /// Seconds left (0 when nothing is left), or nil while there is too little to go on (fewer
    /// than four timed units stored, or no finished candidate and no `windows` to assume).
    /// - Parameters:
    ///   - candidatesLeft: candidates the search will still score (planned minus finished).
    ///   - candidatesFinished: candidates with an outcome (scored, rejected or infeasible).
    ///   - unitsDone: units stored for the finished and unfinished candidates.
    ///   - arrivals: when the last units were stored, oldest first (seconds, any origin).
    ///   - rulesUnitsLeft: the rules' units still to score before the first step.
    ///   - windows: units per candidate to assume while none has finished.
    public static func estimate(candidatesLeft: Int, candidatesFinished: Int, unitsDone: Int, arrivals: [Double],
                                rulesUnitsLeft: Int = 0, windows: Int? = nil) -> Double? {
        guard candidatesLeft > 0 || rulesUnitsLeft > 0 else { return 0 }
        guard arrivals.count >= 4 else { return nil }
        let unitsPerCandidate: Double
        if candidatesFinished > 0, unitsDone > 0 {
            // `unitsDone` counts the unfinished candidates' units too: never more than every window.
            unitsPerCandidate = min(Double(unitsDone) / Double(candidatesFinished), Double(windows ?? .max))
        } else if let windows {
            unitsPerCandidate = Double(windows)
        } else {
            return nil
        }
        let gaps = zip(arrivals.dropFirst(), arrivals).map { max(0, $0 - $1) }.sorted()
        let median = gaps.count % 2 == 1 ? gaps[gaps.count / 2] : (gaps[gaps.count / 2 - 1] + gaps[gaps.count / 2]) / 2
        return (Double(rulesUnitsLeft) + Double(candidatesLeft) * unitsPerCandidate) * median
    }

    /// "~40 s", "~12 min", "~3.5 h" or "~2.1 d": what a person reads at a glance.
    public static func describe(_ seconds: Double) -> String {
        switch seconds {
        case ..<90: return "~\(Int(seconds.rounded())) s"
        case ..<(90 * 60): return "~\(Int((seconds / 60).rounded())) min"
        case ..<(48 * 3600): return "~" + String(format: "%.1f", seconds / 3600) + " h"
        default: return "~" + String(format: "%.1f", seconds / 86_400) + " d"
        }
    }
}
