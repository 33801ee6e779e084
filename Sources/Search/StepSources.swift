import Seeded

/// What each step is bred from when steps are pipelined (`pipelineDepth` L) or split into
/// islands (`islands` I): pure functions of the config and the results of earlier steps, so the
/// search stays reproducible whatever the workers, their number and their timing.
///
/// - **Blocks.** Step 0, the initial population, is one block that every island shares. Every
///   later step holds I blocks of N1 (odd steps) or N2 (even steps) candidates, block k bred by
///   island k with its own random stream (island 0's is the search's). Ordinals are fixed by
///   the config (`firstOrdinal`), so a block stores the same rows whenever it is bred.
/// - **Pipelining.** Island k's block of step t ≥ 1 is bred from its history after step
///   h(t) = max(0, t − L): the shared step 0, its own blocks of steps 1…h and the migrants it
///   received, all decided. Its blocks of steps h+1…t−1 (bred, maybe not yet scored) only count
///   as already seen, as does every other island's block of steps 1…h. So up to L steps of an
///   island are scored at once, and islands move on independently. L = 1, I = 1 is LongRoPE's
///   one step at a time.
/// - **Migration.** At the end of every M-th iteration (step 2M, 4M, …) each island takes the
///   best of the island before it (a ring) among its parents: a block bred after a migration
///   step waits until every island has decided that step.
extension SearchEngine {
    /// The last step whose results `step` is bred from (nil for step 0, bred from the seeds).
    public static func horizon(of step: Int, config: SearchConfig) -> Int? {
        step == 0 ? nil : max(0, step - config.lag)
    }

    /// The candidates a block of `step` holds when the budget allows them all: P for step 0,
    /// N1 for a mutation step, N2 for a crossover step.
    public static func blockSize(step: Int, config: SearchConfig) -> Int {
        step == 0 ? config.population : (step % 2 == 1 ? config.mutations : config.crossovers)
    }

    /// The blocks of `step`: one for the shared step 0, one per island after.
    public static func blockCount(step: Int, config: SearchConfig) -> Int {
        step == 0 ? 1 : config.islandCount
    }

    /// The ordinal of the first candidate of `island`'s block of `step`: the steps before it in
    /// full, then the blocks of the islands before it.
    public static func firstOrdinal(step: Int, island: Int, config: SearchConfig) -> Int {
        guard step > 0 else { return 0 }
        let islands = config.islandCount
        let iterationsBefore = (step - 1) / 2
        var ordinal = config.population + iterationsBefore * islands * (config.mutations + config.crossovers)
        if step % 2 == 0 { ordinal += islands * config.mutations }
        return ordinal + island * blockSize(step: step, config: config)
    }

    /// The candidates of a block the budget allows (0: the island breeds nothing from here on).
    public static func budgetedSize(_ block: Block, config: SearchConfig) -> Int {
        let first = firstOrdinal(step: block.step, island: block.island, config: config)
        return max(0, min(blockSize(step: block.step, config: config), (config.budget ?? .max) - first))
    }

    /// The island that bred the candidate at `position` of `step`'s batch (0 for step 0, which
    /// every island shares).
    public static func island(step: Int, position: Int, config: SearchConfig) -> Int {
        guard step > 0, config.islandCount > 1 else { return 0 }
        let block = max(1, blockSize(step: step, config: config))
        return min(position / block, config.islandCount - 1)
    }

    /// Island k's random seed: the search's for island 0, a stream of it for the others.
    public static func islandSeed(_ island: Int, config: SearchConfig) -> UInt64 {
        guard island > 0 else { return config.seed }
        var rng = SplitMix64(seed: config.seed, stream: 1 << 32 | UInt64(island))
        return rng.next()
    }

    /// Whether islands exchange their best at the end of `step` (the end of iteration step / 2,
    /// a multiple of M).
    public static func isMigration(step: Int, config: SearchConfig) -> Bool {
        guard config.islandCount > 1, let interval = config.migrationInterval, interval > 0 else { return false }
        return step > 0 && step % 2 == 0 && (step / 2) % interval == 0
    }

    /// The last migration step at or before `step` (0 when there was none: step 0, shared, is
    /// where every island's history starts).
    public static func lastMigration(atOrBefore step: Int, config: SearchConfig) -> Int {
        guard config.islandCount > 1, let interval = config.migrationInterval, interval > 0 else { return 0 }
        return (step / (2 * interval)) * 2 * interval
    }

    /// Every island's history after step `through`, continuing `start` (their histories after
    /// step `start.step`; nil: from nothing) with each island's block of the steps after it
    /// (`block(step, island)`; step 0's as island 0's) and migrating where due.
    public static func islandHistories(from start: (step: Int, histories: [[Evaluated]])?, through last: Int,
                                       config: SearchConfig, block: (Block) -> [Evaluated]) -> [[Evaluated]] {
        let count = config.islandCount
        var histories = start?.histories ?? Array(repeating: block(Block(step: 0, island: 0)), count: count)
        let first = (start?.step ?? 0) + 1
        guard first <= last else { return histories }
        for step in first...last {
            for k in 0..<count { histories[k] += block(Block(step: step, island: k)) }
            if isMigration(step: step, config: config) {
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

    /// Each island's history after `steps` (steps 0…h in order, each decided and whole).
    public static func islandHistories(_ steps: [[Evaluated]], config: SearchConfig) -> [[Evaluated]] {
        islandHistories(from: nil, through: steps.count - 1, config: config) { block in
            guard block.step < steps.count else { return [] }
            return steps[block.step].enumerated()
                .filter { island(step: block.step, position: $0.offset, config: config) == block.island }
                .map(\.element)
        }
    }

    /// The candidates of `block`, bred by its island from its `history` (what `BlockLedger`
    /// gives it) with `seen` counting as already bred.
    public static func breed(_ block: Block, config: SearchConfig, seeds: [Candidate], history: [Evaluated],
                             seen: [Candidate]) throws -> [Candidate] {
        try breed(block, config: config, seeds: seeds, history: history,
                  seen: SeenKeys((history.map(\.candidate) + seen).map(\.noveltyKey)))
    }

    /// The same with what counts as seen (`history`'s candidates among them) given as keys:
    /// `BlockLedger.seenKeys(of:)`, without a set of every earlier candidate built per block.
    public static func breed(_ block: Block, config: SearchConfig, seeds: [Candidate], history: [Evaluated],
                             seen: SeenKeys) throws -> [Candidate] {
        var own = config
        if block.step > 0 { own.seed = islandSeed(block.island, config: config) }
        return try breed(step: block.step, config: own, seeds: seeds, history: history, seen: seen)
    }
}

/// One island's candidates of one step (step 0, shared by every island: island 0).
public struct Block: Hashable, Sendable, CustomStringConvertible {
    public var step: Int
    public var island: Int

    public init(step: Int, island: Int) {
        self.step = step
        self.island = island
    }

    public var description: String { "step \(step), island \(island)" }
}
