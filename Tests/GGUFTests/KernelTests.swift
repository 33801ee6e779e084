import Foundation
import Testing
import Kernels
import GGUF

/// Every C kernel against a naive reference in Double on random inputs (llm.c style), with the
/// tolerance stated per test. Shapes are chosen off the kernels' block sizes (70 rows, not a
/// multiple of the 32-row panel; 29 tokens, not a multiple of the 12-token tile). The matrix
/// product and attention are checked at every CPU level this machine can run (avx2, and avx512
/// where the CPU has it), as the build chooses between them at run time.
@Suite struct KernelTests {
    /// The levels of the hot kernels this CPU can run, lowest first.
    static let levels: [Int32] = [Int32(LR_KERNELS_BASE), Int32(LR_KERNELS_AVX512)].filter { lr_kernels_available($0) != 0 }

    struct Random {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E3779B97F4A7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58476D1CE4E5B9
            z = (z ^ (z >> 27)) &* 0x94D049BB133111EB
            return z ^ (z >> 31)
        }
        mutating func float(_ scale: Float = 1) -> Float { (Float(next() >> 40) / Float(1 << 24) * 2 - 1) * scale }
        mutating func byte() -> UInt8 { UInt8(truncatingIfNeeded: next()) }
    }

    func f16Bytes(_ x: Float) -> [UInt8] {
        let bits = Float16(x).bitPattern
        return [UInt8(bits & 0xFF), UInt8(bits >> 8)]
    }

    /// `rows` random rows of `k` values in `type`: random bytes with valid, small f16 scales.
    func randomMatrix(_ type: GGMLType, rows: Int, k: Int, rng: inout Random) -> [UInt8] {
        var out: [UInt8] = []
        let blocks = k / type.blockSize
        for _ in 0..<rows {
            switch type {
            case .f32: for _ in 0..<k { withUnsafeBytes(of: rng.float()) { out += $0 } }
            case .f16: for _ in 0..<k { out += f16Bytes(rng.float()) }
            case .bf16: for _ in 0..<k { let bits = rng.float().bitPattern >> 16; out += [UInt8(bits & 0xFF), UInt8(bits >> 8)] }
            default:
                for _ in 0..<blocks {
                    var block = (0..<type.bytesPerBlock).map { _ in rng.byte() }
                    func scale(_ at: Int, _ value: Float) { block.replaceSubrange(at..<(at + 2), with: f16Bytes(value)) }
                    switch type {
                    case .q8_0, .q4_0, .q5_0: scale(0, 0.01 + abs(rng.float(0.05)))
                    case .q4_1, .q5_1, .q4_K, .q5_K: scale(0, 0.01 + abs(rng.float(0.05))); scale(2, rng.float(0.05))
                    case .q6_K: scale(208, 0.01 + abs(rng.float(0.01)))
                    default: break
                    }
                    out += block
                }
            }
        }
        return out
    }

    static let types: [GGMLType] = [.f32, .f16, .bf16, .q8_0, .q4_0, .q4_1, .q5_0, .q5_1, .q4_K, .q5_K, .q6_K]

    /// lr_matmul equals Σ_k x·dequantize(w) in Double to 1e-4 relative (float accumulation).
    @Test(arguments: types, levels)
    func matmulMatchesTheNaiveProduct(type: GGMLType, level: Int32) {
        var rng = Random(state: UInt64(type.rawValue) &+ 7)
        let k = 512, rows = 70, tokens = 29
        let w = randomMatrix(type, rows: rows, k: k, rng: &rng)
        let rowBytes = w.count / rows
        let x = (0..<(tokens * k)).map { _ in rng.float() }
        // Reference: each row dequantised by lr_dequantize_row (checked by hand in DequantizeTests).
        var dense = [Float](repeating: 0, count: rows * k)
        w.withUnsafeBytes { raw in
            for r in 0..<rows {
                if type == .f32 {
                    for i in 0..<k { dense[r * k + i] = raw.load(fromByteOffset: r * rowBytes + 4 * i, as: Float.self) }
                } else {
                    dense.withUnsafeMutableBufferPointer {
                        _ = lr_dequantize_row(type.rawValue, raw.baseAddress! + r * rowBytes, $0.baseAddress! + r * k, Int64(k))
                    }
                }
            }
        }
        #expect(dense.allSatisfy { $0.isFinite })
        var y = [Float](repeating: .nan, count: tokens * rows)
        let scratch = alignedScratch(floats: Int(LR_MATMUL_PANEL) * (k + 16) + k + 64)
        defer { scratch.deallocate() }
        // Two calls over [0, 32) and [32, 70), as two threads would split the panels.
        w.withUnsafeBytes { raw in
            for (begin, end) in [(0, 32), (32, rows)] {
                lr_matmul_at(level, type.rawValue, raw.baseAddress, Int64(rowBytes), Int64(k), x, Int64(k), Int64(tokens),
                          &y, Int64(rows), Int64(begin), Int64(end), 0, scratch)
            }
        }
        var worst = 0.0
        for t in 0..<tokens {
            for o in 0..<rows {
                var exact = 0.0, magnitude = 0.0
                for i in 0..<k {
                    exact += Double(x[t * k + i]) * Double(dense[o * k + i])
                    magnitude += abs(Double(x[t * k + i]) * Double(dense[o * k + i]))
                }
                worst = max(worst, abs(Double(y[t * rows + o]) - exact) / max(magnitude, 1e-30))
            }
        }
        #expect(worst < 1e-5, "\(type) at \(String(cString: lr_kernels_name(level))): worst error \(worst) of Σ|x·w|")
    }

    /// A product split over k — columns [0, 256) by lr_matmul, [256, 512) with accumulate, as the
    /// feed-forward's down product runs panel by panel — gives the bits of the whole product,
    /// for full panels and the 6-row tail, full token blocks and the tail.
    @Test(arguments: types, levels)
    func aProductSplitOverKGivesTheWholeProductsBits(type: GGMLType, level: Int32) {
        var rng = Random(state: UInt64(type.rawValue) &+ 11)
        let k = 512, half = 256, rows = 70, tokens = 29
        let w = randomMatrix(type, rows: rows, k: k, rng: &rng)
        let rowBytes = w.count / rows
        let x = (0..<(tokens * k)).map { _ in rng.float() }
        let scratch = alignedScratch(floats: Int(LR_MATMUL_PANEL) * (k + 16) + k + 64)
        defer { scratch.deallocate() }
        var whole = [Float](repeating: .nan, count: tokens * rows)
        var split = [Float](repeating: .nan, count: tokens * rows)
        w.withUnsafeBytes { raw in
            lr_matmul_at(level, type.rawValue, raw.baseAddress, Int64(rowBytes), Int64(k), x, Int64(k), Int64(tokens),
                         &whole, Int64(rows), 0, Int64(rows), 0, scratch)
            x.withUnsafeBufferPointer { xs in
                for (part, accumulate) in [(0, Int32(0)), (1, Int32(1))] {
                    lr_matmul_at(level, type.rawValue, raw.baseAddress! + type.rowBytes(part * half), Int64(rowBytes),
                                 Int64(half), xs.baseAddress! + part * half, Int64(k), Int64(tokens),
                                 &split, Int64(rows), 0, Int64(rows), accumulate, scratch)
                }
            }
        }
        #expect(whole.allSatisfy { $0.isFinite })
        let differing = zip(whole, split).filter { $0.0.bitPattern != $0.1.bitPattern }.count
        #expect(differing == 0, "\(type) at \(String(cString: lr_kernels_name(level))): \(differing) outputs differ")
    }

    /// lr_attention equals causal softmax attention in Double to 1e-5, for each code path of the
    /// head dimension (64 and 128 whole rows in registers, other multiples of 16, 8, any) and a
    /// last query block that is not a multiple of the four queries scored together.
    @Test(arguments: [64, 128, 48, 8, 12], levels)
    func attentionMatchesTheNaiveSoftmax(hd: Int, level: Int32) {
        var rng = Random(state: 3)
        let n = 149, scale = Float(1 / Double(hd).squareRoot())
        let q = (0..<(n * hd)).map { _ in rng.float(2) }, k = (0..<(n * hd)).map { _ in rng.float(2) }
        let v = (0..<(n * hd)).map { _ in rng.float() }
        var out = [Float](repeating: .nan, count: n * hd)
        let scratch = alignedScratch(floats: Int(lr_attention_scratch_floats(Int64(hd))))
        defer { scratch.deallocate() }
        for begin in stride(from: 0, to: n, by: 64) {   // query blocks, as the forward pass deals them
            // q and out from query `begin`'s row, as the kernel takes them
            q.withUnsafeBufferPointer { qp in out.withUnsafeMutableBufferPointer { op in
                lr_attention_at(level, qp.baseAddress! + begin * hd, Int64(hd), k, Int64(hd), v, Int64(hd),
                                op.baseAddress! + begin * hd, Int64(hd), Int64(hd), Int64(begin),
                                Int64(min(n, begin + 64)), scale, scratch)
            } }
        }
        var worst = 0.0
        for i in 0..<n {
            var logits = (0...i).map { j in (0..<hd).reduce(0.0) { $0 + Double(q[i * hd + $1]) * Double(k[j * hd + $1]) } * Double(scale) }
            let top = logits.max()!
            logits = logits.map { exp($0 - top) }
            let total = logits.reduce(0, +)
            for d in 0..<hd {
                let exact = (0...i).reduce(0.0) { $0 + logits[$1] / total * Double(v[$1 * hd + d]) }
                worst = max(worst, abs(Double(out[i * hd + d]) - exact))
            }
        }
        #expect(worst < 1e-5, "worst error \(worst)")
    }

    /// Every query's output has the same bits however the queries are split between calls (as
    /// threads split them): the kernels score queries in groups (four; on AVX2 sixteen lanes, and
    /// three rows of output at once) whose boundaries move with the split, and a query may start
    /// a call before the keys of a tile it sees none of.
    @Test(arguments: [64, 128, 48], levels)
    func attentionDoesNotDependOnTheQuerySplit(hd: Int, level: Int32) {
        var rng = Random(state: 5)
        let n = 203, scale = Float(1 / Double(hd).squareRoot())
        let q = (0..<(n * hd)).map { _ in rng.float(2) }, k = (0..<(n * hd)).map { _ in rng.float(2) }
        let v = (0..<(n * hd)).map { _ in rng.float() }
        let scratch = alignedScratch(floats: Int(lr_attention_scratch_floats(Int64(hd))))
        defer { scratch.deallocate() }
        func attention(splitAt cuts: [Int]) -> [Float] {
            var out = [Float](repeating: .nan, count: n * hd)
            let bounds = [0] + cuts + [n]
            for (begin, end) in zip(bounds, bounds.dropFirst()) {
                q.withUnsafeBufferPointer { qp in out.withUnsafeMutableBufferPointer { op in
                    lr_attention_at(level, qp.baseAddress! + begin * hd, Int64(hd), k, Int64(hd), v, Int64(hd),
                                    op.baseAddress! + begin * hd, Int64(hd), Int64(hd), Int64(begin), Int64(end), scale, scratch)
                } }
            }
            return out
        }
        let whole = attention(splitAt: [])
        #expect(whole.allSatisfy { $0.isFinite })
        for cuts in [[64, 128, 192], [37, 101], [1, 2, 3, 130], [99]] {
            let split = attention(splitAt: cuts)
            let differing = zip(whole, split).filter { $0.0.bitPattern != $0.1.bitPattern }.count
            #expect(differing == 0, "split at \(cuts): \(differing) of \(n * hd) outputs differ")
        }
    }

    /// Each level's kernel (on x86-64 the queries-in-lanes one for head sizes that are multiples
    /// of 16, attention_lanes.h, in 8-lane vectors on AVX2 and 16-lane ones on AVX-512) gives the
    /// bits of the row kernel every level follows, for any split of the queries (tiles of 64
    /// keys cut by the causal edge at every offset) and rows of q, k, v and out wider than the
    /// head (the forward pass's layout). The baseline runs on every CPU, so a kernel that
    /// reorders the row kernel's operations fails here, not only where AVX-512 is there to
    /// compare with.
    @Test(arguments: [64, 128, 48, 16, 8], levels)
    func lanesAndRowsGiveTheSameBits(hd: Int, level: Int32) {
        var rng = Random(state: 11)
        let n = 261, ld = 3 * hd + 5
        let scale = Float(1 / Double(hd).squareRoot())
        let q = (0..<(n * ld)).map { _ in rng.float(3) }, k = (0..<(n * ld)).map { _ in rng.float(3) }
        let v = (0..<(n * ld)).map { _ in rng.float() }
        let scratch = alignedScratch(floats: Int(lr_attention_scratch_floats(Int64(hd))))
        defer { scratch.deallocate() }
        for (begin, end) in [(0, n), (0, 1), (5, 70), (63, 200), (130, n)] {
            var lanes = [Float](repeating: .nan, count: n * ld), rows = lanes
            q.withUnsafeBufferPointer { qp in
                let qb = qp.baseAddress! + begin * ld
                lr_attention_at(level, qb, Int64(ld), k, Int64(ld), v, Int64(ld), &lanes, Int64(ld), Int64(hd),
                                Int64(begin), Int64(end), scale, scratch)
                lr_attention_rows(qb, Int64(ld), k, Int64(ld), v, Int64(ld), &rows, Int64(ld), Int64(hd),
                                  Int64(begin), Int64(end), scale, scratch)
            }
            let outputs = (0..<(end - begin)).flatMap { i in (0..<hd).map { i * ld + $0 } }
            #expect(outputs.allSatisfy { rows[$0].isFinite })
            let differing = outputs.filter { lanes[$0].bitPattern != rows[$0].bitPattern }.count
            #expect(differing == 0, "level \(String(cString: lr_kernels_name(level))), queries [\(begin), \(end)), head dim \(hd): \(differing) of \(outputs.count) outputs differ")
        }
    }

    /// Every level gives the same bits (a search's result does not depend on which nodes of a
    /// mixed cluster scored its units): attention and the matrix product at each level against
    /// the baseline's.
    @Test(.enabled(if: levels.count > 1, "this CPU runs one kernel level only (no AVX-512): nothing to compare"),
          arguments: [64, 128, 48])
    func everyLevelGivesTheSameBits(hd: Int) {
        var rng = Random(state: 9)
        let n = 203, scale = Float(1 / Double(hd).squareRoot())
        let q = (0..<(n * hd)).map { _ in rng.float(2) }, k = (0..<(n * hd)).map { _ in rng.float(2) }
        let v = (0..<(n * hd)).map { _ in rng.float() }
        let kw = 256   // the product's k
        let scratch = alignedScratch(floats: max(Int(lr_attention_scratch_floats(Int64(hd))), Int(LR_MATMUL_PANEL) * (kw + 16) + kw + 64))
        defer { scratch.deallocate() }
        let w = randomMatrix(.q4_1, rows: 70, k: kw, rng: &rng)
        let x = (0..<(29 * kw)).map { _ in rng.float() }
        func outputs(_ level: Int32) -> [Float] {
            var attention = [Float](repeating: .nan, count: n * hd)
            lr_attention_at(level, q, Int64(hd), k, Int64(hd), v, Int64(hd), &attention, Int64(hd), Int64(hd), 0, Int64(n),
                            scale, scratch)
            var product = [Float](repeating: .nan, count: 29 * 70)
            w.withUnsafeBytes { raw in
                lr_matmul_at(level, GGMLType.q4_1.rawValue, raw.baseAddress, Int64(w.count / 70), Int64(kw), x, Int64(kw), 29,
                             &product, 70, 0, 70, 0, scratch)
            }
            return attention + product
        }
        let base = outputs(Self.levels[0])
        #expect(base.allSatisfy { $0.isFinite })
        for level in Self.levels.dropFirst() {
            let other = outputs(level)
            let differing = zip(base, other).filter { $0.0.bitPattern != $0.1.bitPattern }.count
            #expect(differing == 0, "\(String(cString: lr_kernels_name(level))): \(differing) of \(base.count) outputs differ from avx2's")
        }
    }

    @Test func rmsnormSwigluRopeAndNLLMatchTheirFormulas() {
        var rng = Random(state: 11)
        let n = 200
        let x = (0..<n).map { _ in rng.float(3) }, w = (0..<n).map { _ in rng.float() }
        var out = [Float](repeating: 0, count: n)
        lr_rmsnorm(x, w, &out, Int64(n), 1e-5)
        let rms = (x.reduce(0.0) { $0 + Double($1) * Double($1) } / Double(n) + 1e-5).squareRoot()
        for i in 0..<n { #expect(abs(Double(out[i]) - Double(x[i]) / rms * Double(w[i])) < 1e-5) }

        var gate = x
        lr_swiglu(&gate, w, Int64(n))
        for i in 0..<n {
            let g = Double(x[i])
            #expect(abs(Double(gate[i]) - g / (1 + exp(-g)) * Double(w[i])) < 1e-5)
        }

        // Two heads of dimension 8: adjacent pairs (llama) and half-split pairs (NEOX).
        let hd = 8, heads = 2
        let cosTable = (0..<4).map { _ in rng.float() }, sinTable = (0..<4).map { _ in rng.float() }
        for neox in [Int32(0), 1] {
            var v = (0..<(hd * heads)).map { _ in rng.float() }
            let before = v
            lr_rope(&v, Int64(heads), Int64(hd), cosTable, sinTable, neox)
            for h in 0..<heads {
                for j in 0..<4 {
                    let (a, b) = neox == 1 ? (h * hd + j, h * hd + j + 4) : (h * hd + 2 * j, h * hd + 2 * j + 1)
                    let c = Double(cosTable[j]), s = Double(sinTable[j])
                    #expect(abs(Double(v[a]) - (Double(before[a]) * c - Double(before[b]) * s)) < 1e-6)
                    #expect(abs(Double(v[b]) - (Double(before[a]) * s + Double(before[b]) * c)) < 1e-6)
                }
            }
        }

        let logits = (0..<512).map { _ in rng.float(8) }
        let top = Double(logits.max()!)
        let logSum = log(logits.reduce(0.0) { $0 + exp(Double($1) - top) }) + top
        for target in [0, 17, 511] {
            #expect(abs(lr_negative_log_likelihood(logits, 512, Int32(target)) - (logSum - Double(logits[target]))) < 1e-5)
        }
        var row = lr_softmax_row()
        lr_softmax_row_init(&row)
        lr_softmax_row_fold(&row, logits, 0, 512, 0)   // one tile: the forward pass's argmax
        #expect(Int(row.best) == logits.indices.max { logits[$0] < logits[$1] }!)
    }

    /// The logits a tile at a time (the forward pass never holds a whole row) give the whole
    /// row's NLL and argmax: the largest logit in a later tile (the sum rescaled), the first of
    /// two equal largest logits in different tiles, tiles of every width.
    @Test(arguments: [1, 7, 16, 333, 1000])
    func softmaxFoldedInTilesEqualsTheWholeRow(tileWidth: Int) {
        var rng = Random(state: 13)
        var logits = (0..<1000).map { _ in rng.float(8) }
        logits[700] = 20; logits[900] = 20          // the largest, twice: the first one wins
        logits[5] = 19                              // a large one early: rescaled later
        for target in [0, 5, 700, 999] {
            var row = lr_softmax_row()
            lr_softmax_row_init(&row)
            for first in stride(from: 0, to: logits.count, by: tileWidth) {
                let width = min(tileWidth, logits.count - first)
                logits.withUnsafeBufferPointer {
                    lr_softmax_row_fold(&row, $0.baseAddress! + first, Int64(first), Int64(width), Int64(target))
                }
            }
            let whole = lr_negative_log_likelihood(logits, Int64(logits.count), Int32(target))
            // Each tile's exponentials are floats against that tile's max: float-level agreement.
            #expect(abs(lr_softmax_row_nll(&row) - whole) < 1e-6)
            if tileWidth >= logits.count { #expect(lr_softmax_row_nll(&row) == whole) }   // one tile: the same bits
            #expect(row.best == 700)
            #expect(row.target_logit == logits[target])
        }
    }
}
