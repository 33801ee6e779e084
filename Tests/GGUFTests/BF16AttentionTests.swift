import Foundation
import Testing
import Kernels

/// Attention with BF16 inputs: the rounding, the packed layouts, the result against attention in
/// Double on the same rounded inputs (stated tolerance), independence from the query split, and
/// the same bits with and without the AVX512_BF16 instruction (where this CPU has it).
@Suite struct BF16AttentionTests {
    typealias Random = KernelTests.Random

    static func bf16ToFloat(_ h: UInt16) -> Float { Float(bitPattern: UInt32(h) << 16) }

    /// To nearest with ties to even; subnormals to a signed zero; NaN stays NaN; ±inf stays.
    @Test func roundingToBF16() {
        #expect(lr_f32_to_bf16(1.0) == 0x3f80)
        // 1 + 2⁻⁸ lies halfway between 1 and 1 + 2⁻⁷: ties go to the even one (1).
        #expect(lr_f32_to_bf16(1.0 + 0x1p-8) == 0x3f80)
        // 1 + 3·2⁻⁸ lies halfway between 1 + 2⁻⁷ (odd) and 1 + 2⁻⁶: up to the even one.
        #expect(lr_f32_to_bf16(1.0 + 3 * 0x1p-8) == 0x3f82)
        #expect(lr_f32_to_bf16(1.0 + 0x1p-8 + 0x1p-20) == 0x3f81)   // above halfway: up
        #expect(lr_f32_to_bf16(-2.5) == 0xc020)
        #expect(lr_f32_to_bf16(Float.leastNonzeroMagnitude) == 0)
        #expect(lr_f32_to_bf16(-Float.leastNormalMagnitude / 2) == 0x8000)
        #expect(Self.bf16ToFloat(lr_f32_to_bf16(.nan)).isNaN)
        #expect(lr_f32_to_bf16(.infinity) == 0x7f80)
        var rng = Random(state: 1)
        for _ in 0..<1000 {   // within half a unit of BF16's last place (8 significant bits: 2⁻⁸ relative)
            let x = rng.float(100)
            let r = Self.bf16ToFloat(lr_f32_to_bf16(x))
            #expect(abs(r - x) <= abs(x) * 0x1p-8, "\(x) → \(r)")
        }
    }

    /// Runs BF16 attention over queries [0, n) split at `cuts`; `native` picks the instruction.
    static func attention(q: [Float], k: [Float], v: [Float], n: Int, hd: Int, cuts: [Int] = [], native: Int32) -> [Float] {
        let elements = Int(lr_attention_bf16_packed_elements(Int64(n), Int64(hd)))
        var kp = [UInt16](repeating: 0xffff, count: elements), vp = [UInt16](repeating: 0xffff, count: elements)
        lr_pack_keys_bf16(k, Int64(hd), 0, Int64(n), Int64(hd), &kp)
        lr_pack_values_bf16(v, Int64(hd), 0, Int64(n), Int64(hd), &vp)
        let scratch = alignedScratch(floats: Int(lr_attention_bf16_scratch_floats(Int64(hd))))
        defer { scratch.deallocate() }
        var out = [Float](repeating: .nan, count: n * hd)
        let bounds = [0] + cuts + [n]
        for (begin, end) in zip(bounds, bounds.dropFirst()) {
            // q and out from query `begin`'s row, as the kernel takes them
            q.withUnsafeBufferPointer { qp in out.withUnsafeMutableBufferPointer { op in
                lr_attention_bf16_at(native, qp.baseAddress! + begin * hd, Int64(hd), kp, vp, op.baseAddress! + begin * hd,
                                     Int64(hd), Int64(hd), Int64(begin), Int64(end), Float(1 / Double(hd).squareRoot()), scratch)
            } }
        }
        return out
    }

    /// Keys and values packed in ascending chunks (odd sizes, a chunk inside one tile, one across
    /// tiles) are the same bytes as packed in one call, zero padding included (how the forward
    /// pass packs them, a chunk of tokens at a time).
    @Test func packingInChunksEqualsPackingWhole() {
        let n = 149, hd = 64
        let (_, k, v) = Self.inputs(n: n, hd: hd, seed: 5)
        let elements = Int(lr_attention_bf16_packed_elements(Int64(n), Int64(hd)))
        var kWhole = [UInt16](repeating: 0xffff, count: elements), vWhole = kWhole
        lr_pack_keys_bf16(k, Int64(hd), 0, Int64(n), Int64(hd), &kWhole)
        lr_pack_values_bf16(v, Int64(hd), 0, Int64(n), Int64(hd), &vWhole)
        #expect(kWhole.allSatisfy { $0 != 0xffff } && vWhole.allSatisfy { $0 != 0xffff }, "the whole pack writes every element")
        var kChunked = [UInt16](repeating: 0xffff, count: elements), vChunked = kChunked
        let bounds = [0, 37, 50, 101, 149]
        for (begin, end) in zip(bounds, bounds.dropFirst()) {
            k.withUnsafeBufferPointer { lr_pack_keys_bf16($0.baseAddress! + begin * hd, Int64(hd), Int64(begin), Int64(end), Int64(hd), &kChunked) }
            v.withUnsafeBufferPointer { lr_pack_values_bf16($0.baseAddress! + begin * hd, Int64(hd), Int64(begin), Int64(end), Int64(hd), &vChunked) }
        }
        #expect(kChunked == kWhole)
        #expect(vChunked == vWhole)
    }

    static func inputs(n: Int, hd: Int, seed: UInt64) -> (q: [Float], k: [Float], v: [Float]) {
        var rng = Random(state: seed)
        return ((0..<(n * hd)).map { _ in rng.float(2) }, (0..<(n * hd)).map { _ in rng.float(2) },
                (0..<(n * hd)).map { _ in rng.float() })
    }

    /// Against causal softmax attention in Double on the same BF16-rounded q, k, v: what is left is
    /// the rounding of the probabilities to BF16 (each within 2⁻⁸ of itself, relative, so the
    /// output, a weighted mean of v with |v| < 1, within 2·2⁻⁸ ≈ 0.008) and FP32 sums. Head dims 64 and 128
    /// (whole blocks of 64 dims) and 96 (a block of 32 last); n off the tile sizes.
    @Test(arguments: [64, 128, 96])
    func matchesDoubleAttentionOnRoundedInputs(hd: Int) {
        let n = 149
        let (q, k, v) = Self.inputs(n: n, hd: hd, seed: 3)
        let out = Self.attention(q: q, k: k, v: v, n: n, hd: hd, cuts: [64, 128], native: lr_bf16_native_available())
        let r = { (x: Float) in Double(Self.bf16ToFloat(lr_f32_to_bf16(x))) }
        let scale = 1 / Double(hd).squareRoot()
        var worst = 0.0
        for i in 0..<n {
            var logits = (0...i).map { j in (0..<hd).reduce(0.0) { $0 + r(q[i * hd + $1]) * r(k[j * hd + $1]) } * Double(Float(scale)) }
            let top = logits.max()!
            logits = logits.map { exp($0 - top) }
            let total = logits.reduce(0, +)
            for d in 0..<hd {
                let exact = (0...i).reduce(0.0) { $0 + logits[$1] / total * r(v[$1 * hd + d]) }
                worst = max(worst, abs(Double(out[i * hd + d]) - exact))
            }
        }
        #expect(worst < 0x1p-7, "worst error \(worst)")
        #expect(worst > 0, "no rounding at all: is this the FP32 kernel?")
    }

    /// Every query's output has the same bits however the queries are split between calls (the
    /// groups of four move with the split; a call may start inside a key tile).
    @Test(arguments: [64, 128, 96])
    func doesNotDependOnTheQuerySplit(hd: Int) {
        let n = 203
        let (q, k, v) = Self.inputs(n: n, hd: hd, seed: 5)
        let native = lr_bf16_native_available()
        let whole = Self.attention(q: q, k: k, v: v, n: n, hd: hd, native: native)
        #expect(whole.allSatisfy { $0.isFinite })
        for cuts in [[64, 128, 192], [37, 101], [1, 2, 3, 130], [99]] {
            let split = Self.attention(q: q, k: k, v: v, n: n, hd: hd, cuts: cuts, native: native)
            let differing = zip(whole, split).filter { $0.0.bitPattern != $0.1.bitPattern }.count
            #expect(differing == 0, "split at \(cuts): \(differing) of \(n * hd) outputs differ")
        }
    }

    /// A node without the instruction computes the same bits (two FMAs per pair, odd half first):
    /// a search's result does not depend on which nodes of a mixed cluster scored its units.
    @Test(.enabled(if: lr_bf16_native_available() != 0, "this CPU lacks AVX512_BF16: nothing to compare the emulation with"),
          arguments: [64, 128, 96])
    func theInstructionAndItsEmulationGiveTheSameBits(hd: Int) {
        let n = 203
        let (q, k, v) = Self.inputs(n: n, hd: hd, seed: 9)
        let native = Self.attention(q: q, k: k, v: v, n: n, hd: hd, native: 1)
        let emulated = Self.attention(q: q, k: k, v: v, n: n, hd: hd, native: 0)
        #expect(native.allSatisfy { $0.isFinite })
        let differing = zip(native, emulated).filter { $0.0.bitPattern != $0.1.bitPattern }.count
        #expect(differing == 0, "\(differing) of \(native.count) outputs differ")
    }
}
