import Seeded

extension SplitMix64 {
    /// The generator of the probes built here (needle keys and depths, passkeys): the same seed
    /// always gives the same prompts. Its start (no draws discarded, stream offset 0x5EED) is
    /// the one these prompts have always had, so stored needle searches keep their windows.
    static func probes(seed: UInt64, stream: UInt64) -> SplitMix64 {
        SplitMix64(state: seed ^ (stream &+ 0x5EED) &* 0x9E3779B97F4A7C15)
    }
}
