/// SplitMix64 (Steele, Lea and Flood, 2014): small, fast, and fully determined by its seed.
/// The one seeded generator of the package: the search's breeding, the needle and passkey
/// prompts, the simulated workers and the fuzz tests all draw from it.
public struct SplitMix64: Sendable {
    public private(set) var state: UInt64

    /// A generator for `stream` of `seed` (distinct streams of one seed are independent),
    /// with two draws discarded.
    public init(seed: UInt64, stream: UInt64 = 0) {
        state = seed ^ (stream &+ 1) &* 0x9E3779B97F4A7C15
        _ = next(); _ = next()
    }

    /// A generator that starts at `state` exactly (no draws discarded).
    public init(state: UInt64) { self.state = state }

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

    /// Uniform in `range`.
    public mutating func int(in range: ClosedRange<Int>) -> Int {
        range.lowerBound + Int(next() % UInt64(range.count))
    }
}
