import RoPE
import Search

/// What a user may set for a search, from the CLI, a config file or the API; nil means the
/// default. `config(...)` is the one place where options become a `SearchConfig`, so every
/// way to start a search gets the same defaults — those the search-quality benchmark chose
/// (README, "What each lever gives").
public struct SearchOptions: Sendable, Equatable {
    public var seed: UInt64?
    public var samples: Int?
    public var population: Int?
    public var iterations: Int?
    public var budget: Int?
    public var lambdaMax: Double?
    /// A fixed m; giving one turns the m search off unless `searchAttentionFactor` says otherwise.
    public var attentionFactor: Double?
    public var searchAttentionFactor: Bool?
    /// [min, max] of a searched m.
    public var attentionRange: [Double]?
    public var space: SearchSpace?
    public var fitness: Fitness?
    public var keyTokenThreshold: Double?
    public var nHat: [Int]?
    public var earlyRejection: Bool?
    /// Breed the next step while workers would idle (not reproducible; default off).
    public var overlapSteps: Bool?
    public var extraSeeds: [[Double]]?

    public init() {}

    /// The defaults a search gets when nothing is said.
    public static let defaultSearchesAttentionFactor = true
    public static let defaultSpace = SearchSpace.allPairs
    public static let defaultFitness = Fitness.ppl
    public static let defaultStartTokens = [0]

    /// The config for a model of this geometry; `problems()` of the result says what is invalid.
    public func config(geometry: RoPEGeometry, originalContext: Int, targetContext: Int) -> SearchConfig {
        var config = SearchConfig(pairs: geometry.pairs, originalContext: originalContext, targetContext: targetContext,
                                  seed: seed ?? 0, lambdaMax: lambdaMax, attentionFactor: attentionFactor)
        if let population { config.setPopulation(population) }
        if let iterations { config.iterations = iterations }
        if let samples { config.samples = samples }
        if let earlyRejection { config.earlyRejection = earlyRejection }
        if overlapSteps == true { config.overlapSteps = true }
        config.startTokenChoices = nHat ?? Self.defaultStartTokens
        config.budget = budget
        config.extraSeeds = extraSeeds ?? []
        let searchM = searchAttentionFactor ?? (attentionFactor == nil && Self.defaultSearchesAttentionFactor)
        if searchM, config.scale > 1 {
            var range = AttentionSearch.defaultRange(scale: config.scale)
            if let given = attentionRange, given.count == 2 { range.min = given[0]; range.max = given[1] }
            config.attentionSearch = range
        }
        let space = self.space ?? Self.defaultSpace
        if space != .allPairs || self.space != nil { config.space = space }
        if space == .criticalDimension {
            config.criticalPairs = geometry.criticalPairRange(originalContext: originalContext)
        }
        let fitness = self.fitness ?? Self.defaultFitness
        if fitness != .ppl || self.fitness != nil { config.fitness = fitness }
        if fitness == .keyTokens { config.keyTokenThreshold = keyTokenThreshold ?? SearchConfig.defaultKeyTokenThreshold }
        return config
    }

    /// Problems of the options themselves (beyond the config's).
    public func problems() -> [String] {
        var out: [String] = []
        if let range = attentionRange, range.count != 2 { out.append("attention_range must be [min, max]") }
        if keyTokenThreshold != nil, fitness != .keyTokens { out.append("key_token_threshold needs the key-tokens fitness") }
        return out
    }
}
