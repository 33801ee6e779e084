import RoPE
import Search
import Wire

/// How options become a `SearchConfig`: the one place, so the CLI, a config file and the API
/// give the same defaults — those the search-quality benchmark chose (README, "What each lever
/// gives").
extension SearchOptions {
    /// The defaults a search gets when nothing is said.
    public static let defaultSearchesAttentionFactor = true
    public static let defaultSpace = SearchSpace.allPairs
    public static let defaultFitness = Fitness.ppl
    public static let defaultNHat = [0]
    /// The share of the iterations that refine the best by default (6 of 10: README's table).
    public static let defaultRefineShare = 0.6

    /// The config for a model of this geometry; `problems()` of the result says what is invalid.
    public func config(geometry: RoPEGeometry, originalContext: Int, targetContext: Int) -> SearchConfig {
        var config = SearchConfig(pairs: geometry.pairs, originalContext: originalContext, targetContext: targetContext,
                                  seed: seed ?? 0, lambdaMax: lambdaMax, attentionFactor: attentionFactor)
        if let population { config.setPopulation(population) }
        if let iterations { config.iterations = iterations }
        config.refineIterations = refineIterations ?? Int((Self.defaultRefineShare * Double(config.iterations)).rounded())
        if let windowCount { config.windowCount = windowCount }
        if let earlyRejection { config.earlyRejection = earlyRejection }
        if overlapSteps == true { config.overlapSteps = true }
        config.pipelineDepth = pipelineDepth
        config.islands = islands
        config.migrationInterval = migrationInterval
        config.nHatChoices = nHat ?? Self.defaultNHat
        config.budget = budget
        config.extraSeeds = extraSeeds ?? []
        // Stored only when not the default, so a search's config (and digest) stays what it was.
        if let attentionPrecision, attentionPrecision != "f32" { config.attentionPrecision = attentionPrecision }
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
        if fitness == .needle || fitness == .mixed, let needles, needles != 1 { config.needles = needles }
        if fitness == .keyTokens { config.keyTokenThreshold = keyTokenThreshold ?? SearchConfig.defaultKeyTokenThreshold }
        return config
    }
}

extension CreateSearchRequest {
    /// Why this request cannot become a search, as far as can be told without the model: its
    /// options, and every rule of a search's config that the geometry does not decide. The
    /// coordinator answers these with 400; `longrope request` says them before a body is written.
    public func problemsBeforeGeometry() -> [String] {
        var problems = options.problems()
        if (textOffset ?? 0) < 0 { problems.append("text_offset must be ≥ 0") }
        if let name, let problem = nameProblem(name, label: "name", mayBeEmpty: true) { problems.append(problem) }
        if let pairs, !(1...SearchConfig.maxPairs).contains(pairs) {
            problems.append("pairs must be between 1 and \(SearchConfig.maxPairs)")
        }
        if let ropeBase, !(ropeBase > 1 && ropeBase.isFinite) { problems.append("rope_base must be > 1") }
        guard problems.isEmpty else { return problems }
        return options.config(geometry: RoPEGeometry(rotaryDimension: 2 * (pairs ?? 1), base: 10_000),
                              originalContext: originalContext, targetContext: targetContext)
            .problems(geometryKnown: false)
    }
}
