import Foundation

/// The range and grid of a searched attention factor m.
public struct AttentionSearch: Codable, Sendable, Equatable {
    public var min: Double
    public var max: Double
    public var step: Double

    public init(min: Double, max: Double, step: Double = 0.01) {
        self.min = min
        self.max = max
        self.step = step
    }

    /// The default range for scale s: from 1 (no temperature) to a little above both rules'
    /// values (YaRN's 0.1·ln s + 1 and LongRoPE's sqrt(1 + ln s / ln L)), on a 0.01 grid.
    public static func defaultRange(scale s: Double) -> AttentionSearch {
        AttentionSearch(min: 1, max: s > 1 ? ((0.1 * log(s) + 1.1) * 100).rounded() / 100 : 1.1)
    }
}

/// The λ vectors a search visits.
public enum SearchSpace: String, Codable, Sendable, CaseIterable {
    /// LongRoPE: every λ_i in [1, λ_max], monotone.
    case allPairs = "all-pairs"
    /// LongRoPE2: a critical pair d_rcd (searched); λ_i for i ≥ d_rcd in [s, 2s] and monotone;
    /// below it the NTK-like ramp λ_i = λ_{d_rcd}^(i/d_rcd).
    case criticalDimension = "critical-dimension"

    public init(from decoder: Decoder) throws { self = try decodeChoice(decoder) }
}

/// What a candidate is scored by. Lower is better for all three.
public enum Fitness: String, Codable, Sendable, CaseIterable {
    /// Perplexity over every token of the windows (LongRoPE).
    case ppl
    /// Perplexity over the windows' key tokens only: those whose prediction improves by more
    /// than a threshold with the long context (LongPPL), found once before the search.
    case keyTokens = "key-tokens"
    /// Perplexity of planted needles' answer tokens (LongRoPE2's needle-driven fitness; K
    /// needles per window with `needles`, RULER's multi-key needle).
    case needle
    /// The needle windows' perplexity over every token times their answers' perplexity: the
    /// text's own tokens and retrieval in one figure.
    case mixed

    public init(from decoder: Decoder) throws { self = try decodeChoice(decoder) }
}

/// A string choice decoded strictly: a value that is none of the choices names them all.
func decodeChoice<T: RawRepresentable & CaseIterable>(_ decoder: Decoder) throws -> T where T.RawValue == String {
    let text = try decoder.singleValueContainer().decode(String.self)
    guard let value = T(rawValue: text) else {
        throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription:
            "\"\(text)\" is not one of \(T.allCases.map(\.rawValue).joined(separator: ", "))"))
    }
    return value
}

/// The options of one LongRoPE search, with the paper's defaults
/// (../shared/docs/longrope-search.md). Everything that decides the result is here, so a
/// config and its seed fix the outcome.
public struct SearchConfig: Codable, Sendable, Equatable {
    /// Rotary pairs of the model (d/2).
    public var pairs: Int
    public var originalContext: Int
    public var targetContext: Int
    /// Upper bound of every λ_i (default 1 + s, the released code's).
    public var lambdaMax: Double
    /// Grid step of mutated values.
    public var step: Double = 0.01
    /// P: the size of the initial population.
    public var population: Int = 64
    /// k: candidates kept as parents.
    public var parents: Int = 32
    /// N1 and N2: mutants and crossovers bred per iteration.
    public var mutations: Int = 16
    public var crossovers: Int = 16
    /// T: iterations after the initial population.
    public var iterations: Int = 40
    /// The last iterations that refine the best candidate instead of breeding parents: each of
    /// their steps scores neighbours of the best so far (nil: none, LongRoPE's search).
    public var refineIterations: Int?
    /// p: probability that a mutation resamples a given λ_i (and n̂).
    public var mutationProbability: Double = 0.3
    /// The n̂ values the search may use ([0] = off, the default).
    public var nHatChoices: [Int] = [0]
    /// m, fixed for the whole search (default sqrt(1 + ln s / ln L_orig)).
    public var attentionFactor: Double
    /// Seed of every random draw.
    public var seed: UInt64
    /// K: windows of the target length scored per candidate.
    public var windowCount: Int = 5
    /// Stop scoring a candidate once its partial perplexity is clearly out of the top k.
    public var earlyRejection: Bool = true
    /// How much worse than the k-th parent on the same windows a partial score must be (0.05 = 5%).
    public var rejectionMargin: Double = 0.05
    /// Stop after this many candidates have been evaluated (nil = run every iteration).
    public var budget: Int?
    /// Extra seed vectors (for example another search's best, rescaled), before the baselines.
    public var extraSeeds: [[Double]] = []
    /// m searched on a grid instead of fixed (nil: m = `attentionFactor` for every candidate).
    public var attentionSearch: AttentionSearch?
    /// Which λ vectors the search may visit (nil: `.allPairs`, LongRoPE's space).
    public var space: SearchSpace?
    /// For `.criticalDimension`: the pair indices d_rcd may take (LongRoPE2: from the last pair
    /// with 10 full periods inside L_train up to the theoretical critical pair).
    public var criticalPairs: ClosedRange<Int>?
    /// What a candidate is scored by (nil: `.ppl`).
    public var fitness: Fitness?
    /// For `.needle` and `.mixed`: needles per window (nil: 1).
    public var needles: Int?
    /// For `.keyTokens`: the NLL drop (nats) with the long context that makes a key token.
    public var keyTokenThreshold: Double?
    /// Breed the next step while the current one still has units out, whenever workers would
    /// otherwise idle (nil/false: one step at a time). Keeps hundreds of workers busy, but the
    /// result then depends on timing: not reproducible run to run.
    public var overlapSteps: Bool?
    /// L: steps in flight at once, deterministically. Step t is bred from the results of steps
    /// 0…t−L only (all complete before it starts), so up to L steps are scored together and the
    /// result does not depend on timing. nil/1: one step at a time.
    public var pipelineDepth: Int?
    /// I: populations evolving side by side from the shared initial population, each with its
    /// own random stream; every step holds I blocks (island 0's candidates, then island 1's, …).
    /// nil/1: one population, LongRoPE's search.
    public var islands: Int?
    /// M: every M iterations each island takes the best of the island before it (a ring) into
    /// its parents. nil/0: islands never exchange.
    public var migrationInterval: Int?
    /// The precision of attention's inputs in every unit: nil (FP32) or "bf16" (BF16 inputs,
    /// FP32 sums; the same bits on nodes with and without AVX512_BF16).
    public var attentionPrecision: String?
    /// The values `attentionPrecision` may take (the evaluator's `AttentionPrecision`).
    public static let attentionPrecisions = ["f32", "bf16"]
    enum CodingKeys: String, CodingKey {
        case pairs, originalContext, targetContext, lambdaMax, step, population, parents, mutations, crossovers
        case iterations, mutationProbability, attentionFactor, seed, earlyRejection, rejectionMargin
        case budget, extraSeeds, attentionSearch, space, criticalPairs, fitness, keyTokenThreshold, overlapSteps
        case refineIterations, needles, pipelineDepth, islands, migrationInterval, attentionPrecision
        /// Stored under its first name, so databases of earlier versions still open.
        case nHatChoices = "startTokenChoices", windowCount = "samples"
    }
    /// LongPPL's threshold, used when none is given.
    public static let defaultKeyTokenThreshold = 2.0

    /// The space actually searched.
    public var searchSpace: SearchSpace { space ?? .allPairs }
    /// The fitness actually used.
    public var fitnessKind: Fitness { fitness ?? .ppl }
    /// Whether candidates are scored on needle windows.
    public var usesNeedles: Bool { fitnessKind == .needle || fitnessKind == .mixed }
    /// The most needles a window may hold.
    public static let maxNeedles = 64

    /// Settings that are allowed but work against the search, one sentence each (the CLI prints
    /// them, the coordinator logs them and lists them in the search's view).
    public var warnings: [String] {
        var out: [String] = []
        if attentionPrecision == "bf16" && usesNeedles {
            out.append("attention_precision bf16 with the \(fitnessKind.rawValue) fitness: BF16 moves the needles' answers "
                       + "enough to reorder candidates within ~1% of each other (Kendall tau 0.905-0.937 against FP32 on "
                       + "SmolLM2, docs/benchmarks.md); f32 ranks them exactly, bf16 suits the ppl fitness")
        }
        return out
    }

    /// Limits that keep one request from exhausting the coordinator (2M tokens is LongRoPE's reach).
    public static let maxContext = 2_097_152
    public static let maxPopulation = 10_000
    public static let maxIterations = 10_000
    public static let maxWindows = 1_000
    /// Rotary pairs (head dim 8,192) and λ beyond any model or scale.
    public static let maxPairs = 4_096
    public static let maxLambda = 1e7
    /// The largest attention factor m a search takes. m multiplies every attention logit by m²:
    /// at 100 (×10⁴) softmax is already an argmax, and the rules' m stay below 3 up to 2M tokens
    /// (YaRN: 0.1·ln s + 1). Beyond it, m's grid and candidate keys overflowed: a search with m =
    /// 1e20 crashed (a coordinator with it).
    public static let maxAttentionFactor = 100.0

    /// The most steps in flight and islands a search may have.
    public static let maxPipelineDepth = 64
    public static let maxIslands = 256

    /// L, the steps in flight (1: one step at a time).
    public var lag: Int { pipelineDepth ?? 1 }
    /// I, the islands (1: one population).
    public var islandCount: Int { islands ?? 1 }

    /// λ's upper bound when none is given: 1 + s (room above s for the low-frequency pairs).
    public static func defaultLambdaMax(scale: Double) -> Double { 1 + scale }

    /// s = target / original context.
    public var scale: Double { Double(targetContext) / Double(originalContext) }

    public init(pairs: Int, originalContext: Int, targetContext: Int, seed: UInt64 = 0,
                lambdaMax: Double? = nil, attentionFactor: Double? = nil) {
        self.pairs = pairs
        self.originalContext = originalContext
        self.targetContext = targetContext
        self.seed = seed
        let s = Double(targetContext) / Double(originalContext)
        self.lambdaMax = lambdaMax ?? Self.defaultLambdaMax(scale: s)
        self.attentionFactor = attentionFactor
            ?? (s <= 1 ? 1 : (1 + log(s) / log(Double(originalContext))).squareRoot())
    }

    /// Sizes the search for a population P with the paper's ratios: k = P/2, N1 = N2 = P/4.
    public mutating func setPopulation(_ p: Int) {
        population = p
        parents = max(2, p / 2)
        mutations = max(1, p / 4)
        crossovers = max(1, p / 4)
    }

    /// Steps of the search: the initial population, then mutants and crossovers per iteration.
    public var stepCount: Int { 1 + 2 * iterations }

    /// Candidates the search breeds if it runs every step: P, then N1 + N2 per iteration and
    /// island, at most the budget.
    public var plannedCandidates: Int {
        min(budget ?? .max, population + iterations * islandCount * (mutations + crossovers))
    }

    /// Whether `step` refines the best candidate (it lies in one of the last `refineIterations`
    /// iterations) rather than breeding mutants or crossovers.
    public func isRefinement(step: Int) -> Bool {
        step > 0 && (step + 1) / 2 > iterations - (refineIterations ?? 0)
    }

    /// Why a config cannot run. With `geometryKnown` false (the model's pairs are not known yet),
    /// the checks that depend on them — pairs, d_rcd's range, the extra seeds' lengths — are left out.
    public func problems(geometryKnown: Bool = true) -> [String] {
        var out: [String] = []
        if geometryKnown, pairs < 1 || pairs > Self.maxPairs { out.append("pairs must be between 1 and \(Self.maxPairs)") }
        if originalContext < 1 || targetContext < 2 { out.append("contexts must be positive") }
        if targetContext < originalContext {
            out.append("target_context (\(targetContext)) must be at least original_context (\(originalContext)): a search extends a model")
        }
        if targetContext > Self.maxContext { out.append("target_context must be at most \(Self.maxContext) tokens") }
        if population > Self.maxPopulation { out.append("population must be at most \(Self.maxPopulation)") }
        if iterations > Self.maxIterations { out.append("iterations must be at most \(Self.maxIterations)") }
        if windowCount > Self.maxWindows { out.append("windows must be at most \(Self.maxWindows)") }
        if !(lambdaMax >= 1 && lambdaMax <= Self.maxLambda) { out.append("lambda_max must be between 1 and \(Int(Self.maxLambda))") }
        if !(step > 0 && step.isFinite) { out.append("step must be > 0") }
        if population < 2 { out.append("population must be at least 2") }
        if parents < 2 || parents > population { out.append("parents must be between 2 and the population") }
        if mutations < 0 || crossovers < 0 || mutations + crossovers == 0 && iterations > 0 {
            out.append("mutations and crossovers must be ≥ 0, not both 0")
        }
        if iterations < 0 { out.append("iterations must be ≥ 0") }
        if let r = refineIterations, r < 0 || r > iterations {
            out.append("refine iterations must be between 0 and the iterations (\(iterations))")
        }
        if !(0...1).contains(mutationProbability) { out.append("mutation probability must be in [0, 1]") }
        if nHatChoices.isEmpty || nHatChoices.contains(where: { $0 < 0 || $0 > targetContext }) {
            out.append("n_hat choices must be non-empty, each between 0 and the target context (\(targetContext))")
        }
        let mMost = Int(Self.maxAttentionFactor)
        if !(attentionFactor > 0 && attentionFactor <= Self.maxAttentionFactor) { out.append("attention factor must be > 0 and at most \(mMost)") }
        if windowCount < 1 { out.append("windows must be at least 1") }
        if !(rejectionMargin >= 0) { out.append("rejection margin must be ≥ 0") }
        if let budget, budget < 1 { out.append("budget must be at least 1") }
        for seed in extraSeeds where geometryKnown && seed.count != pairs { out.append("an extra seed has \(seed.count) factors, not \(pairs)") }
        if let m = attentionSearch {
            if !(m.min > 0 && m.min <= m.max && m.max <= Self.maxAttentionFactor) {
                out.append("the attention factor range must have 0 < min ≤ max ≤ \(mMost)")
            }
            if !(m.step > 0 && m.step.isFinite) { out.append("the attention factor step must be > 0") }
        }
        if geometryKnown, searchSpace == .criticalDimension {
            if let range = criticalPairs {
                if range.lowerBound < 0 || range.upperBound >= pairs {
                    out.append("the critical pair range \(range) must lie inside 0…\(pairs - 1)")
                }
            } else {
                out.append("the critical-dimension space needs the range of d_rcd (critical_pairs)")
            }
            if scale <= 1 { out.append("the critical-dimension space needs a target above the original context") }
        }
        if let t = keyTokenThreshold, !(t > 0 && t.isFinite) { out.append("the key-token threshold must be > 0") }
        if let l = pipelineDepth, l < 1 || l > Self.maxPipelineDepth {
            out.append("pipeline_depth must be between 1 and \(Self.maxPipelineDepth)")
        }
        if let i = islands, i < 1 || i > Self.maxIslands { out.append("islands must be between 1 and \(Self.maxIslands)") }
        if let m = migrationInterval {
            if m < 0 || m > Self.maxIterations { out.append("migration_interval must be between 0 and \(Self.maxIterations)") }
            if islandCount < 2 && m > 0 { out.append("migration_interval needs islands (2 or more)") }
        }
        if overlapSteps == true && (lag > 1 || islandCount > 1) {
            out.append("overlap_steps cannot be combined with pipeline_depth or islands (they are the reproducible ways to keep workers busy)")
        }
        if let p = attentionPrecision, !Self.attentionPrecisions.contains(p) {
            out.append("attention_precision must be one of \(Self.attentionPrecisions.joined(separator: ", ")), not '\(p)'")
        }
        if let k = needles {
            if !usesNeedles { out.append("needles needs the needle or mixed fitness") }
            if k < 1 || k > Self.maxNeedles { out.append("needles must be between 1 and \(Self.maxNeedles)") }
        }
        return out
    }
}
