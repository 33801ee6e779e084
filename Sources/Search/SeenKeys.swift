/// The candidates a breeding counts as bred already (it never breeds one of them again), by
/// novelty key: the ones it was given and bred itself, and — when it breeds a block of a
/// `BlockLedger` — the ledger's candidates that block counts as seen, looked up in the ledger's
/// index instead of copied into a set for every block (at 32 islands a block counts ~40,000).
public struct SeenKeys {
    private var own: Set<NoveltyKey>
    /// Every key the ledger has bred, with the blocks that bred it.
    private let index: [NoveltyKey: [Block]]
    /// The block being bred and its horizon h: it counts every block of steps ≤ h (every
    /// island's) and its own island's blocks before it.
    private let block: Block
    private let horizon: Int

    /// Exactly these keys.
    public init(_ keys: some Sequence<NoveltyKey>) {
        own = Set(keys)
        index = [:]
        block = Block(step: 0, island: 0)
        horizon = -1
    }

    /// What `block` (horizon h) counts as seen among the keys of `index`.
    init(index: [NoveltyKey: [Block]], block: Block, horizon: Int) {
        own = []
        self.index = index
        self.block = block
        self.horizon = horizon
    }

    public func contains(_ key: NoveltyKey) -> Bool {
        if own.contains(key) { return true }
        guard let blocks = index[key] else { return false }
        return blocks.contains { $0.step <= horizon || ($0.island == block.island && $0.step < block.step) }
    }

    /// Adds `key`; false when it was seen already.
    public mutating func insert(_ key: NoveltyKey) -> Bool {
        guard !contains(key) else { return false }
        own.insert(key)
        return true
    }
}
