import Search

/// What a user may set for a search — the same fields, under the same snake_case names, in
/// `longrope search`'s config file, its flags and `POST /v1/searches`; nil means the default.
/// `config(geometry:originalContext:targetContext:)` (Runner) turns them into a `SearchConfig`.
public struct SearchOptions: Codable, Sendable, Equatable, StrictDecodable {
    public var seed: UInt64?
    public var windowCount: Int?
    public var population: Int?
    public var iterations: Int?
    /// How many of the last iterations refine the best candidate (neighbours of it) instead of
    /// breeding parents.
    public var refineIterations: Int?
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
    /// Needles per window for the needle and mixed fitness.
    public var needles: Int?
    public var nHat: [Int]?
    public var earlyRejection: Bool?
    /// Breed the next step while workers would idle (not reproducible; default off).
    public var overlapSteps: Bool?
    /// Steps scored at once, reproducibly (L; default 1).
    public var pipelineDepth: Int?
    /// Populations evolving side by side (I; default 1).
    public var islands: Int?
    /// Iterations between migrations of the islands' best (M; default 0: none).
    public var migrationInterval: Int?
    /// Extra seed vectors (each one λ per pair) for the initial population.
    public var extraSeeds: [[Double]]?
    /// Attention's inputs in every unit: "f32" (default) or "bf16".
    public var attentionPrecision: String?


    public enum CodingKeys: String, CodingKey, CaseIterable {
        case seed, windowCount = "windows", population, iterations, budget, space, fitness
        case refineIterations = "refine_iterations"
        case lambdaMax = "lambda_max", attentionFactor = "attention_factor"
        case searchAttentionFactor = "search_attention_factor", attentionRange = "attention_range"
        case keyTokenThreshold = "key_token_threshold", needles, nHat = "n_hat", earlyRejection = "early_rejection"
        case overlapSteps = "overlap_steps", extraSeeds = "seeds"
        case pipelineDepth = "pipeline_depth", islands, migrationInterval = "migration_interval"
        case attentionPrecision = "attention_precision"
    }

    public init() {}

    /// Problems of the options themselves (beyond the config's).
    public func problems() -> [String] {
        var out: [String] = []
        if let range = attentionRange, range.count != 2 { out.append("attention_range must be [min, max]") }
        if keyTokenThreshold != nil, fitness != .keyTokens { out.append("key_token_threshold needs the key-tokens fitness") }
        if needles != nil, fitness != .needle, fitness != .mixed { out.append("needles needs the needle or mixed fitness") }
        return out
    }
}
