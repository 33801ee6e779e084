/// The blocks of a reproducible search (`StepSources`) as they are bred and decided, and which
/// block may be bred next and from what. Each island moves through its steps on its own: island
/// k's block of step t may be bred once
/// 1. its own blocks of steps 0…h are decided, h = max(0, t − L) (what it is bred from),
/// 2. every island has bred its blocks of steps 1…h (they count as seen, so none is bred twice),
/// 3. every island has decided the last migration step at or before h (the migrants).
/// What a block is bred from depends only on blocks these rules make wait for, so the order in
/// which blocks open — the workers' timing — never changes a search's result.
public struct BlockLedger: Sendable {
    public let config: SearchConfig
    /// Every block bred so far (decided or not).
    public private(set) var bred: [Block: [Candidate]] = [:]
    /// Every block decided so far.
    public private(set) var decided: [Block: [Evaluated]] = [:]
    /// The novelty key of every candidate bred so far, with the blocks that bred it.
    private var keyIndex: [NoveltyKey: [Block]] = [:]
    /// Island k's next step to breed (`config.stepCount` once it breeds no more).
    public private(set) var nextStep: [Int]
    /// Island k's blocks are decided through this step (−1: not even step 0; blocks the budget
    /// leaves empty count as decided).
    private var decidedThrough: [Int]
    /// Every island's history after step 0 and after each migration step decided by all.
    private var synced: [Int: [[Evaluated]]] = [:]

    public init(config: SearchConfig) {
        self.config = config
        nextStep = Array(repeating: 0, count: config.islandCount)
        decidedThrough = Array(repeating: -1, count: config.islandCount)
        for k in nextStep.indices { skipUnbudgeted(k) }
    }

    /// No block is left to breed.
    public var isExhausted: Bool { nextStep.allSatisfy { $0 >= config.stepCount } }

    /// Every block that may be bred now (each island's next, if the rules above allow it).
    public func blocksToBreed() -> [Block] {
        guard nextStep[0] > 0 else {
            return nextStep[0] < config.stepCount ? [Block(step: 0, island: 0)] : []
        }
        let bredThrough = nextStep.min()! - 1
        let allDecidedThrough = decidedThrough.min()!
        var blocks: [Block] = []
        for k in nextStep.indices where nextStep[k] < config.stepCount {
            let t = nextStep[k]
            let h = SearchEngine.horizon(of: t, config: config)!
            if decidedThrough[k] >= h, bredThrough >= h,
               allDecidedThrough >= SearchEngine.lastMigration(atOrBefore: h, config: config) {
                blocks.append(Block(step: t, island: k))
            }
        }
        return blocks
    }

    /// What `block` (one `blocksToBreed` named) is bred from: its island's history after step
    /// h and the candidates that only count as seen.
    public mutating func sources(of block: Block) -> (history: [Evaluated], seen: [Candidate]) {
        guard let h = SearchEngine.horizon(of: block.step, config: config) else { return ([], []) }
        let history = history(of: block)
        var seen: [Candidate] = []
        if h >= 1 {
            for step in 1...h {
                for k in nextStep.indices where k != block.island { seen += bred[Block(step: step, island: k)] ?? [] }
            }
        }
        for step in (h + 1)..<block.step { seen += bred[Block(step: step, island: block.island)] ?? [] }
        return (history, seen)
    }

    /// What `block` counts as seen — `sources(of:)`' history and seen candidates, which are
    /// every island's blocks of steps ≤ h (the history's migrants among them) and its own
    /// island's blocks after h — as keys looked up in the ledger's index, for
    /// `SearchEngine.breed(_:config:seeds:history:seen:)`. Use it before the ledger changes
    /// again (it shares the index, which a change would then copy).
    public func seenKeys(of block: Block) -> SeenKeys {
        SeenKeys(index: keyIndex, block: block, horizon: SearchEngine.horizon(of: block.step, config: config) ?? -1)
    }

    /// `block`'s island's history after step h: what `sources(of:)` says it is bred from.
    public mutating func history(of block: Block) -> [Evaluated] {
        guard let h = SearchEngine.horizon(of: block.step, config: config) else { return [] }
        let migration = SearchEngine.lastMigration(atOrBefore: h, config: config)
        var history = syncedHistories(through: migration)[block.island]
        if migration < h {
            for step in (migration + 1)...h { history += decided[Block(step: step, island: block.island)] ?? [] }
        }
        return history
    }

    /// Records `block` as bred with `candidates` (bred now or reloaded; at most its
    /// `SearchEngine.budgetedSize`).
    public mutating func recordBred(_ block: Block, _ candidates: [Candidate]) {
        precondition(block.step == nextStep[block.island], "an island breeds its steps in order")
        bred[block] = candidates
        for candidate in candidates { keyIndex[candidate.noveltyKey, default: []].append(block) }
        if block.step == 0 {
            for k in nextStep.indices { nextStep[k] = 1; skipUnbudgeted(k) }
        } else {
            nextStep[block.island] += 1
            skipUnbudgeted(block.island)
        }
    }

    /// Records `block` as decided, its candidates in order.
    public mutating func recordDecided(_ block: Block, _ items: [Evaluated]) {
        decided[block] = items
        for k in (block.step == 0 ? Array(nextStep.indices) : [block.island]) {
            while decidedThrough[k] + 1 < config.stepCount, isDecided(Block(step: decidedThrough[k] + 1, island: k)) {
                decidedThrough[k] += 1
            }
        }
    }

    /// Every decided candidate in ordinal order (the search's history once every block is decided).
    public var result: [Evaluated] {
        decided.keys.sorted { ($0.step, $0.island) < ($1.step, $1.island) }.flatMap { decided[$0]! }
    }

    /// Whether `block` is decided; a block the budget leaves empty counts as decided.
    private func isDecided(_ block: Block) -> Bool {
        if block.step == 0 { return decided[Block(step: 0, island: 0)] != nil }
        return decided[block] != nil || SearchEngine.budgetedSize(block, config: config) == 0
    }

    /// Moves island k past the steps the budget leaves empty (it then breeds nothing more).
    private mutating func skipUnbudgeted(_ k: Int) {
        let t = nextStep[k]
        guard t < config.stepCount else { return }
        if SearchEngine.budgetedSize(Block(step: t, island: k), config: config) == 0 { nextStep[k] = config.stepCount }
    }

    /// Every island's history after step `migration` (0 or a migration step every island has decided).
    private mutating func syncedHistories(through migration: Int) -> [[Evaluated]] {
        if let done = synced[migration] { return done }
        let start = synced.keys.filter { $0 < migration }.max().map { (step: $0, histories: synced[$0]!) }
        let histories = SearchEngine.islandHistories(from: start, through: migration, config: config) { decided[$0] ?? [] }
        synced[migration] = histories
        return histories
    }
}
