import Foundation
import Seeded

/// LongRoPE's evolutionary search as pure functions of (config, seeds, history).
///
/// The search is a sequence of steps: step 0 is the initial population (the seeds plus
/// mutants of them, P in all); then for each iteration g = 1…T, step 2g−1 breeds N1 mutants of
/// random parents and step 2g breeds N2 crossovers of random parent pairs — except in the last
/// `refineIterations` iterations, whose steps score as many neighbours of the best candidate so
/// far (`neighbours(of:config:rng:)`). Parents are always
/// the k best of everything evaluated before the step (which equals the paper's
/// "k best of parents ∪ M ∪ C" by induction). Every random draw of a step comes from a
/// generator seeded by (seed, step), so the same history always breeds the same step: a
/// search rebuilt from stored rows continues exactly as an uninterrupted one.
public enum SearchEngine {
    /// The candidates of `step`, given every evaluated candidate of the earlier steps.
    public static func breed(step: Int, config: SearchConfig, seeds: [Candidate],
                             history: [Evaluated]) throws -> [Candidate] {
        try breed(step: step, config: config, seeds: seeds, history: history,
                  seen: SeenKeys(history.map { $0.candidate.noveltyKey }))
    }

    /// The same, never breeding a candidate of `seen` (which holds at least `history`'s).
    static func breed(step: Int, config: SearchConfig, seeds: [Candidate], history: [Evaluated],
                      seen: SeenKeys) throws -> [Candidate] {
        let problems = config.problems()
        guard problems.isEmpty else { throw SearchError.invalidConfig(problems) }
        var rng = SplitMix64(seed: config.seed, stream: UInt64(step))
        var seen = seen
        var batch: [Candidate] = []
        func accept(_ candidate: Candidate) -> Bool {
            guard candidate.isMonotone, seen.insert(candidate.noveltyKey) else { return false }
            batch.append(candidate)
            return true
        }
        let attempts = 200

        if step == 0 {
            // Seeds in order (at most P of them), then mutants of the seeds up to P.
            for seed in seeds.map({ project($0, config) }) where batch.count < config.population { _ = accept(seed) }
            let base = batch.isEmpty ? [project(Candidate(lambda: Array(repeating: 1, count: config.pairs), operation: .seed, seedName: "none"), config)] : batch
            while batch.count < config.population {
                var made = false
                for _ in 0..<attempts {
                    let parentIndex = rng.below(base.count)
                    var child = mutate(base[parentIndex], config: config, rng: &rng)
                    child.parents = []   // seeds have no ids yet; lineage is "seed"
                    child.seedName = base[parentIndex].seedName
                    if accept(child) { made = true; break }
                }
                if !made { throw SearchError.noveltyExhausted(step: step, attempts: attempts) }
            }
            return batch
        }

        let parents = ranked(history).prefix(config.parents).map { $0 }
        guard !parents.isEmpty else { throw SearchError.noParents(step: step) }
        let isMutationStep = step % 2 == 1
        let count = isMutationStep ? config.mutations : config.crossovers
        if config.isRefinement(step: step), let centre = best(history) {
            for child in neighbours(of: centre, config: config, rng: &rng) where batch.count < count { _ = accept(child) }
            // A best with no neighbour left (a local optimum on the finest moves): mutants of it.
            var misses = 0
            while batch.count < count {
                if !accept(withParents(mutate(centre.candidate, config: config, rng: &rng), [centre.ordinal])) {
                    misses += 1
                    if misses == attempts { throw SearchError.noveltyExhausted(step: step, attempts: attempts) }
                }
            }
            return batch
        }
        for _ in 0..<count {
            var made = false
            for _ in 0..<attempts {
                let child: Candidate
                if isMutationStep || parents.count < 2 {
                    let parent = parents[rng.below(parents.count)]
                    child = withParents(mutate(parent.candidate, config: config, rng: &rng), [parent.ordinal])
                } else {
                    child = crossover(parents, config: config, rng: &rng, seen: seen)
                }
                if accept(child) { made = true; break }
            }
            if !made { throw SearchError.noveltyExhausted(step: step, attempts: attempts) }
        }
        return batch
    }

    /// Candidates ordered best first: scored ones by perplexity, then rejected ones by their
    /// partial perplexity; infeasible ones are left out. Ties go to the earlier id.
    public static func ranked(_ history: [Evaluated]) -> [Evaluated] {
        var keyed: [(tier: Int, value: Double, item: Evaluated)] = []
        for item in history {
            if let p = item.outcome.perplexity { keyed.append((0, p, item)) }
            else if let p = item.outcome.partialPerplexity { keyed.append((1, p, item)) }
        }
        keyed.sort { a, b in
            if a.tier != b.tier { return a.tier < b.tier }
            if a.value != b.value { return a.value < b.value }
            return a.item.ordinal < b.item.ordinal
        }
        return keyed.map(\.item)
    }

    /// The best candidate evaluated so far, if any was scored.
    public static func best(_ history: [Evaluated]) -> Evaluated? {
        ranked(history).first { $0.outcome.perplexity != nil }
    }

    /// Per-window NLL sums of the k-th parent before `history`'s next step: the bar a new
    /// candidate must stay near on the same windows. Nil until k candidates are scored.
    public static func rejectionReference(_ history: [Evaluated], config: SearchConfig) -> [Double]? {
        let scored = ranked(history).filter { $0.outcome.perplexity != nil }
        guard config.earlyRejection, scored.count >= config.parents,
              case let .scored(_, nll) = scored[config.parents - 1].outcome else { return nil }
        return nll
    }

    /// Whether a candidate whose first windows gave `partial` NLL sums (each over
    /// `tokensPerSample` tokens) is ruled out: its perplexity on those windows is more than
    /// (1 + margin) times the reference's on the same windows, with windows still to go.
    public static func shouldReject(partial: [Double], reference: [Double], tokensPerSample: Int,
                                    config: SearchConfig) -> Bool {
        shouldReject(partial: partial, reference: reference, tokens: partial.count * tokensPerSample, config: config)
    }

    /// The same with the scored tokens of the partial windows given as a total (windows of a
    /// key-token or needle fitness score different counts).
    public static func shouldReject(partial: [Double], reference: [Double], tokens: Int, config: SearchConfig) -> Bool {
        guard !partial.isEmpty, partial.count < config.windowCount, partial.count <= reference.count, tokens > 0 else { return false }
        let ours = partial.reduce(0, +), theirs = reference.prefix(partial.count).reduce(0, +)
        return (ours - theirs) / Double(tokens) > log1p(config.rejectionMargin)
    }

    // MARK: Operators

    /// Resamples each gene with probability p. In the all-pairs space each λ_i is drawn on the
    /// grid between its neighbours' current values (λ_{−1} = 1, λ_{d/2} = λ_max), so the child
    /// stays monotone. In the critical-dimension space d_rcd is drawn from its range, each λ_i
    /// above it between its neighbours inside [s, 2s], and the ramp below is rebuilt. n̂ is
    /// drawn from its choices and, when searched, m from its grid.
    public static func mutate(_ parent: Candidate, config: SearchConfig, rng: inout SplitMix64) -> Candidate {
        var lambda = parent.lambda
        let n = lambda.count
        var critical: Int? = nil
        switch config.searchSpace {
        case .allPairs:
            for i in 0..<n where rng.unit() < config.mutationProbability {
                let low = i == 0 ? 1 : lambda[i - 1]
                let high = i == n - 1 ? config.lambdaMax : lambda[i + 1]
                if let value = draw(between: low, and: high, step: config.step, rng: &rng) { lambda[i] = value }
            }
        case .criticalDimension:
            let range = config.criticalPairs ?? 0...0
            var d = min(max(parent.criticalPair ?? range.upperBound, range.lowerBound), range.upperBound)
            if range.count > 1, rng.unit() < config.mutationProbability { d = range.lowerBound + rng.below(range.count) }
            let (floor, ceiling) = criticalBounds(config)
            repairAbove(&lambda, from: d, floor: floor, ceiling: ceiling)
            for i in d..<n where rng.unit() < config.mutationProbability {
                let low = i == d ? floor : lambda[i - 1]
                let high = i == n - 1 ? ceiling : lambda[i + 1]
                if let value = draw(between: low, and: high, step: config.step, rng: &rng) { lambda[i] = value }
            }
            ramp(&lambda, below: d)
            critical = d
        }
        var nHat = parent.nHat
        if config.nHatChoices.count > 1, rng.unit() < config.mutationProbability {
            nHat = config.nHatChoices[rng.below(config.nHatChoices.count)]
        }
        var m = parent.attentionFactor
        if let range = config.attentionSearch, rng.unit() < config.mutationProbability {
            m = draw(between: range.min, and: range.max, step: range.step, rng: &rng) ?? m
        }
        return Candidate(lambda: lambda, nHat: nHat, attentionFactor: m, criticalPair: critical,
                         operation: .mutation)
    }

    /// Relative moves of one λ tried by refinement, coarse first: ×1.18 and ÷1.18, then ×1.07
    /// and ÷1.07 once every coarse neighbour of the best has been scored.
    static let refinementFactors = [1.18, 1.07]

    /// The refinement's neighbours of `best`, in a random order (coarse moves first): λ_i
    /// times or divided by a factor, with the λ it passes pushed along so the vector stays
    /// monotone (in the critical-dimension space only above d_rcd, and d_rcd ± 1); m ± 2 grid
    /// steps (then ± 1) when searched; the next n̂ choice up and down. The caller drops those
    /// already scored, so a step continues where the last left off and narrows the moves once
    /// the coarse ones are spent.
    public static func neighbours(of best: Evaluated, config: SearchConfig, rng: inout SplitMix64) -> [Candidate] {
        let centre = best.candidate
        var out: [Candidate] = []
        for (level, factor) in refinementFactors.enumerated() {
            var ring: [Candidate] = []
            func add(_ lambda: [Double], nHat: Int? = nil, m: Double? = nil, critical: Int? = nil) {
                let child = project(Candidate(lambda: lambda, nHat: nHat ?? centre.nHat, attentionFactor: m ?? centre.attentionFactor,
                                              criticalPair: critical ?? centre.criticalPair, operation: .refinement,
                                              parents: [best.ordinal]), config)
                if child.noveltyKey != centre.noveltyKey { ring.append(child) }
            }
            let first = config.searchSpace == .criticalDimension ? (centre.criticalPair ?? 0) : 0
            for i in first..<centre.lambda.count {
                for f in [factor, 1 / factor] {
                    var lambda = centre.lambda
                    let value = min(max(gridValue((lambda[i] * f / config.step).rounded(), step: config.step), 1), config.lambdaMax)
                    lambda[i] = value
                    for j in (i + 1)..<lambda.count where lambda[j] < value { lambda[j] = value }
                    for j in 0..<i where lambda[j] > value { lambda[j] = value }
                    add(lambda)
                }
            }
            if let range = config.attentionSearch {
                let steps = Double(refinementFactors.count - level)
                for sign in [-1.0, 1.0] {
                    let m = min(max(gridValue((centre.attentionFactor / range.step).rounded() + sign * steps, step: range.step), range.min), range.max)
                    add(centre.lambda, m: m)
                }
            }
            if level == 0, let index = config.nHatChoices.firstIndex(of: centre.nHat) {
                for j in [index - 1, index + 1] where config.nHatChoices.indices.contains(j) { add(centre.lambda, nHat: config.nHatChoices[j]) }
            }
            if level == 0, config.searchSpace == .criticalDimension, let d = centre.criticalPair, let range = config.criticalPairs {
                for e in [d - 1, d + 1] where range.contains(e) { add(centre.lambda, critical: e) }
            }
            // Fisher–Yates with the step's generator: which neighbours a step tries is random
            // but fixed by (seed, step).
            for k in stride(from: ring.count - 1, to: 0, by: -1) { ring.swapAt(k, rng.below(k + 1)) }
            out += ring
        }
        return out
    }

    /// Starts from the better of two random parents and takes each gene (λ_i, n̂, and m and
    /// d_rcd when searched) from the other with probability ½; a child that is not monotone or
    /// not new is redrawn, and after 20 draws the better parent is mutated instead.
    public static func crossover(_ parents: [Evaluated], config: SearchConfig, rng: inout SplitMix64,
                                 seen: SeenKeys) -> Candidate {
        let a = rng.below(parents.count)
        var b = rng.below(parents.count - 1)
        if b >= a { b += 1 }
        // `parents` is ranked, so the lower index is the better one.
        let better = parents[min(a, b)], other = parents[max(a, b)]
        for _ in 0..<20 {
            var lambda = better.candidate.lambda
            for i in lambda.indices where rng.unit() < 0.5 { lambda[i] = other.candidate.lambda[i] }
            let nHat = rng.unit() < 0.5 ? better.candidate.nHat : other.candidate.nHat
            var m = better.candidate.attentionFactor
            if config.attentionSearch != nil, rng.unit() < 0.5 { m = other.candidate.attentionFactor }
            var critical: Int? = nil
            if config.searchSpace == .criticalDimension {
                var d = better.candidate.criticalPair ?? config.criticalPairs?.upperBound ?? 0
                if rng.unit() < 0.5 { d = other.candidate.criticalPair ?? d }
                let (floor, ceiling) = criticalBounds(config)
                for i in d..<lambda.count { lambda[i] = min(max(lambda[i], floor), ceiling) }
                ramp(&lambda, below: d)
                critical = d
            }
            let child = Candidate(lambda: lambda, nHat: nHat, attentionFactor: m, criticalPair: critical,
                                  operation: .crossover, parents: [better.ordinal, other.ordinal])
            if child.isMonotone, !seen.contains(child.noveltyKey) { return child }
        }
        return withParents(mutate(better.candidate, config: config, rng: &rng), [better.ordinal])
    }

    /// A value on the grid of `step` between `low` and `high` (inclusive), uniformly; nil when
    /// no grid point lies between them.
    static func draw(between low: Double, and high: Double, step: Double, rng: inout SplitMix64) -> Double? {
        let first = (low / step - 1e-9).rounded(.up), last = (high / step + 1e-9).rounded(.down)
        guard first <= last else { return nil }
        let k = Double(rng.below(Int(last - first) + 1))
        return min(max(gridValue(first + k, step: step), low), high)
    }

    /// [s, 2s]: where λ above the critical pair lives (LongRoPE2).
    static func criticalBounds(_ config: SearchConfig) -> (Double, Double) {
        (config.scale, 2 * config.scale)
    }

    /// Clamps λ_i for i ≥ d into [floor, ceiling] and makes that part monotone (running max).
    static func repairAbove(_ lambda: inout [Double], from d: Int, floor: Double, ceiling: Double) {
        var previous = floor
        for i in d..<lambda.count {
            lambda[i] = max(min(max(lambda[i], floor), ceiling), previous)
            previous = lambda[i]
        }
    }

    /// LongRoPE2's ramp below the critical pair: λ_i = λ_d^(i/d) for i < d (λ_0 = 1).
    public static func ramp(_ lambda: inout [Double], below d: Int) {
        guard d > 0, d < lambda.count else { return }
        for i in 0..<d { lambda[i] = pow(lambda[d], Double(i) / Double(d)) }
    }

    /// `index · step`, computed as `index / (1/step)` when 1/step is whole, so that 0.01-steps
    /// give the doubles nearest to their decimals (57 → 0.57, not 0.5700000000000001).
    static func gridValue(_ index: Double, step: Double) -> Double {
        let inverse = (1 / step).rounded()
        return abs(inverse - 1 / step) < 1e-9 ? index / inverse : index * step
    }

    static func withParents(_ candidate: Candidate, _ parents: [Int]) -> Candidate {
        var copy = candidate
        copy.parents = parents
        return copy
    }

    /// A seed made valid for the search's space: in the all-pairs space clamped into [1, λ_max];
    /// in the critical-dimension space given a d_rcd (its own, else the first pair of the range
    /// whose λ reaches s), with λ above clamped into [s, 2s] and the ramp below. m becomes the
    /// search's m when fixed, or is clamped into the searched range.
    static func project(_ candidate: Candidate, _ config: SearchConfig) -> Candidate {
        var copy = candidate
        switch config.searchSpace {
        case .allPairs:
            copy.lambda = candidate.lambda.map { min(max($0, 1), config.lambdaMax) }
            copy.criticalPair = nil
        case .criticalDimension:
            let range = config.criticalPairs ?? 0...0
            let d = candidate.criticalPair.map { min(max($0, range.lowerBound), range.upperBound) }
                ?? range.first { candidate.lambda[$0] >= config.scale - 1e-9 } ?? range.upperBound
            let (floor, ceiling) = criticalBounds(config)
            repairAbove(&copy.lambda, from: d, floor: floor, ceiling: ceiling)
            ramp(&copy.lambda, below: d)
            copy.criticalPair = d
        }
        if let range = config.attentionSearch {
            copy.attentionFactor = min(max(candidate.attentionFactor, range.min), range.max)
        } else {
            copy.attentionFactor = config.attentionFactor
        }
        return copy
    }
}
