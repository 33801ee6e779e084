import Seeded

/// What each step is bred from when steps are pipelined (`pipelineDepth` L) or split into
/// islands (`islands` I): pure functions of the config and the results of earlier steps, so the
/// search stays reproducible whatever the workers, their number and their timing.
///
/// - **Pipelining.** Step t ≥ 1 is bred from steps 0…h(t), h(t) = max(0, t − L), all complete
///   before it starts; the candidates of steps h(t)+1…t−1 (bred, maybe not yet scored) only
///   count as already seen. So up to L steps are scored at once. L = 1 is one step at a time.
/// - **Islands.** Step 0 is shared. Every later step holds I blocks of N1 (or N2) candidates,
///   block k bred by island k from the shared step 0, its own earlier blocks and the migrants
///   it received, with its own random stream (island 0's is the search's). Every M iterations
///   each island takes the best of the island before it (a ring) among its parents. A candidate
///   is never bred twice: every other island's candidates count as seen.
extension SearchEngine {
    /// The last step whose results `step` is bred from (nil for step 0, bred from the seeds).
    public static func horizon(of step: Int, config: SearchConfig) -> Int? {
        step == 0 ? nil : max(0, step - config.lag)
    }

    /// The island that bred the candidate at `position` of `step`'s batch (0 for step 0, which
    /// every island shares).
    public static func island(step: Int, position: Int, config: SearchConfig) -> Int {
        guard step > 0, config.islandCount > 1 else { return 0 }
        let block = max(1, step % 2 == 1 ? config.mutations : config.crossovers)
        return min(position / block, config.islandCount - 1)
    }

    /// Island k's random seed: the search's for island 0, a stream of it for the others.
    public static func islandSeed(_ island: Int, config: SearchConfig) -> UInt64 {
        guard island > 0 else { return config.seed }
        var rng = SplitMix64(seed: config.seed, stream: 1 << 32 | UInt64(island))
        return rng.next()
    }

    /// Each island's history after `steps` (steps 0…h in order, each decided): the shared step
    /// 0, the island's own blocks and its migrants. With one island, every step in order.
    public static func islandHistories(_ steps: [[Evaluated]], config: SearchConfig) -> [[Evaluated]] {
        let count = config.islandCount
        guard count > 1 else { return [steps.flatMap { $0 }] }
        var histories = Array(repeating: steps.first ?? [], count: count)
        for step in steps.indices.dropFirst() {
            for (position, item) in steps[step].enumerated() {
                histories[island(step: step, position: position, config: config)].append(item)
            }
            // The end of iteration g = step / 2: migrate when g is a multiple of M.
            if let interval = config.migrationInterval, interval > 0, step % 2 == 0, (step / 2) % interval == 0 {
                let bests = histories.map { best($0) }
                for k in 0..<count {
                    guard let migrant = bests[(k + count - 1) % count],
                          !histories[k].contains(where: { $0.ordinal == migrant.ordinal }) else { continue }
                    histories[k].append(migrant)
                }
            }
        }
        return histories
    }

    /// The candidates of `step`, given the decided steps 0…h (`steps`, h = `horizon(of:)`) and
    /// the candidates of the steps between (`pending`, which only count as seen).
    public static func breed(step: Int, config: SearchConfig, seeds: [Candidate], steps: [[Evaluated]],
                             pending: [Candidate]) throws -> [Candidate] {
        try breed(step: step, config: config, seeds: seeds, steps: steps,
                  histories: islandHistories(steps, config: config), pending: pending)
    }

    /// `breed(step:config:seeds:steps:pending:)` with the islands' histories of `steps` already
    /// computed (`islandHistories`), for a caller that also needs them for `rejectionReferences`.
    public static func breed(step: Int, config: SearchConfig, seeds: [Candidate], steps: [[Evaluated]],
                             histories: [[Evaluated]], pending: [Candidate]) throws -> [Candidate] {
        let seen = pending.map { Evaluated(ordinal: -1, candidate: $0, outcome: .infeasible) }
        guard step > 0, config.islandCount > 1 else {
            return try breed(step: step, config: config, seeds: seeds, history: steps.flatMap { $0 } + seen)
        }
        let everyone = steps.flatMap { $0 }
        var batch: [Candidate] = []
        for (k, history) in histories.enumerated() {
            var own = config
            own.seed = islandSeed(k, config: config)
            let mine = Set(history.map(\.ordinal))
            let others = everyone.filter { !mine.contains($0.ordinal) }
                .map { Evaluated(ordinal: $0.ordinal, candidate: $0.candidate, outcome: .infeasible) }
            let earlier = batch.map { Evaluated(ordinal: -1, candidate: $0, outcome: .infeasible) }
            batch += try breed(step: step, config: own, seeds: seeds, history: history + others + seen + earlier)
        }
        return batch
    }

    /// Early rejection's reference for each island (one entry without islands), from the
    /// islands' histories (`islandHistories`).
    public static func rejectionReferences(histories: [[Evaluated]], config: SearchConfig) -> [[Double]?] {
        histories.map { rejectionReference($0, config: config) }
    }
}
