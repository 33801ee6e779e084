import Foundation

/// LongRoPE's evolutionary search as pure functions of (config, seeds, history).
///
/// The search is a sequence of steps: step 0 is the initial population (the seeds plus
/// mutants of them, P in all); then for each iteration g = 1…T, step 2g−1 breeds N1 mutants of
/// random parents and step 2g breeds N2 crossovers of random parent pairs. Parents are always
/// the k best of everything evaluated before the step (which equals the paper's
/// "k best of parents ∪ M ∪ C" by induction). Every random draw of a step comes from a
/// generator seeded by (seed, step), so the same history always breeds the same step: a
/// search rebuilt from stored rows continues exactly as an uninterrupted one.
public enum SearchEngine {
    /// The candidates of `step`, given every evaluated candidate of the earlier steps.
    public static func breed(step: Int, config: SearchConfig, seeds: [Candidate],
                             history: [Evaluated]) throws -> [Candidate] {
        let problems = config.problems()
        guard problems.isEmpty else { throw SearchError.invalidConfig(problems) }
        var rng = SplitMix64(seed: config.seed, stream: UInt64(step))
        var seen = Set(history.map { $0.candidate.noveltyKey })
        var batch: [Candidate] = []
        func accept(_ candidate: Candidate) -> Bool {
            guard candidate.isMonotone, seen.insert(candidate.noveltyKey).inserted else { return false }
            batch.append(candidate)
            return true
        }
        let attempts = 200

        if step == 0 {
            for seed in seeds.map({ clamp($0, config) }) { _ = accept(seed) }
            let base = batch.isEmpty ? [clamp(Candidate(lambda: Array(repeating: 1, count: config.pairs), operation: .seed, seedName: "none"), config)] : batch
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
        for _ in 0..<count {
            var made = false
            for _ in 0..<attempts {
                let child: Candidate
                if isMutationStep || parents.count < 2 {
                    let parent = parents[rng.below(parents.count)]
                    child = withParents(mutate(parent.candidate, config: config, rng: &rng), [parent.id])
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
            return a.item.id < b.item.id
        }
        return keyed.map(\.item)
    }

    /// The best candidate evaluated so far, if any was scored.
    public static func best(_ history: [Evaluated]) -> Evaluated? {
        ranked(history).first { $0.outcome.perplexity != nil }
    }

    /// Per-sample NLL sums of the k-th parent before `history`'s next step: the bar a new
    /// candidate must stay near on the same windows. Nil until k candidates are scored.
    public static func rejectionReference(_ history: [Evaluated], config: SearchConfig) -> [Double]? {
        let scored = ranked(history).filter { $0.outcome.perplexity != nil }
        guard config.earlyRejection, scored.count >= config.parents,
              case let .scored(_, nll) = scored[config.parents - 1].outcome else { return nil }
        return nll
    }

    /// Whether a candidate whose first samples gave `partial` NLL sums (each over
    /// `tokensPerSample` tokens) is ruled out: its perplexity on those windows is more than
    /// (1 + margin) times the reference's on the same windows, with samples still to go.
    public static func shouldReject(partial: [Double], reference: [Double], tokensPerSample: Int,
                                    config: SearchConfig) -> Bool {
        guard !partial.isEmpty, partial.count < config.samples, partial.count <= reference.count else { return false }
        let ours = partial.reduce(0, +), theirs = reference.prefix(partial.count).reduce(0, +)
        let tokens = Double(partial.count * tokensPerSample)
        return (ours - theirs) / tokens > log1p(config.rejectionMargin)
    }

    // MARK: Operators

    /// Resamples each λ_i with probability p uniformly on the grid between its neighbours'
    /// current values (λ_{−1} = 1, λ_{d/2} = λ_max), so the child stays monotone; n̂ likewise
    /// from the allowed choices.
    public static func mutate(_ parent: Candidate, config: SearchConfig, rng: inout SplitMix64) -> Candidate {
        var lambda = parent.lambda
        let n = lambda.count
        for i in 0..<n where rng.unit() < config.mutationProbability {
            let low = i == 0 ? 1 : lambda[i - 1]
            let high = i == n - 1 ? config.lambdaMax : lambda[i + 1]
            let first = (low / config.step - 1e-9).rounded(.up), last = (high / config.step + 1e-9).rounded(.down)
            guard first <= last else { continue }
            let k = Double(rng.below(Int(last - first) + 1))
            lambda[i] = min(max(gridValue(first + k, step: config.step), low), high)
        }
        var startTokens = parent.startTokens
        if config.startTokenChoices.count > 1, rng.unit() < config.mutationProbability {
            startTokens = config.startTokenChoices[rng.below(config.startTokenChoices.count)]
        }
        return Candidate(lambda: lambda, startTokens: startTokens, operation: .mutation)
    }

    /// Starts from the better of two random parents and takes each gene from the other with
    /// probability ½; a child that is not monotone or not new is redrawn, and after 20 draws
    /// the better parent is mutated instead.
    public static func crossover(_ parents: [Evaluated], config: SearchConfig, rng: inout SplitMix64,
                                 seen: Set<NoveltyKey>) -> Candidate {
        let a = rng.below(parents.count)
        var b = rng.below(parents.count - 1)
        if b >= a { b += 1 }
        // `parents` is ranked, so the lower index is the better one.
        let better = parents[min(a, b)], other = parents[max(a, b)]
        for _ in 0..<20 {
            var lambda = better.candidate.lambda
            for i in lambda.indices where rng.unit() < 0.5 { lambda[i] = other.candidate.lambda[i] }
            let startTokens = rng.unit() < 0.5 ? better.candidate.startTokens : other.candidate.startTokens
            let child = Candidate(lambda: lambda, startTokens: startTokens, operation: .crossover,
                                  parents: [better.id, other.id])
            if child.isMonotone, !seen.contains(child.noveltyKey) { return child }
        }
        return withParents(mutate(better.candidate, config: config, rng: &rng), [better.id])
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

    /// Seeds are clamped into [1, λ_max] (keeping them monotone).
    static func clamp(_ candidate: Candidate, _ config: SearchConfig) -> Candidate {
        var copy = candidate
        copy.lambda = candidate.lambda.map { min(max($0, 1), config.lambdaMax) }
        return copy
    }
}

/// SplitMix64: small, fast, and fully determined by its seed.
public struct SplitMix64: Sendable {
    var state: UInt64

    public init(seed: UInt64, stream: UInt64 = 0) {
        state = seed ^ (stream &+ 1) &* 0x9E3779B97F4A7C15
        _ = next(); _ = next()
    }

    public mutating func next() -> UInt64 {
        state &+= 0x9E3779B97F4A7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58476D1CE4E5B9
        z = (z ^ (z >> 27)) &* 0x94D049BB133111EB
        return z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    public mutating func unit() -> Double { Double(next() >> 11) / Double(1 << 53) }

    /// Uniform in 0..<n.
    public mutating func below(_ n: Int) -> Int {
        precondition(n > 0)
        return Int(next() % UInt64(n))
    }
}
