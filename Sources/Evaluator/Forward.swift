import Foundation
import Kernels
import RoPE

/// Every buffer one forward pass needs, allocated once for windows of up to `capacity` tokens.
/// Only what must outlive a chunk is [n][·]: the residual stream x and the keys and values
/// (as FP32 for FP32 attention, packed in BF16 for BF16 attention). Each layer runs `chunkRows`
/// tokens at a time through [chunkRows][·] buffers, attention included (causal: a chunk's
/// queries need only the keys up to its last token, already there). Every output row is the
/// same sum whatever the chunk: the same bits for any chunk size.
final class ForwardBuffers: @unchecked Sendable {
    /// Tokens per chunk by default: large enough that each chunk's weight panels are reused over
    /// many tokens, small enough to stay out of peak memory.
    static let defaultChunkRows = 1024
    let capacity: Int
    let chunkRows: Int
    /// Vocabulary entries whose logits are computed together: after the last layer, a chunk of
    /// scored positions gets its logits a tile of [chunkRows][logitsColumns] at a time, in the
    /// buffer where the feed-forward's gate and up rows live (free by then), each row's softmax
    /// carried from tile to tile (lr_softmax_row). A fixed width, so every row's sum is the
    /// same whatever the chunk.
    static let logitsColumns = 512
    let x: FloatBuffer                                               // [n][d]
    /// FP32 attention: [n][Hkv·hd], every key and value of the window. BF16 attention:
    /// [chunkRows][Hkv·hd], the chunk's, packed into kPacked / vPacked once projected.
    let k, v: FloatBuffer
    /// BF16 attention only: each KV head's keys and values packed for lr_attention_bf16,
    /// `packedElements` uint16 per head (half as many floats).
    let kPacked, vPacked: FloatBuffer?
    let packedElements: Int
    /// [chunkRows][max(H·hd, d)]: `h` the normalised rows for the products that read them, and
    /// between attention and Wo `attention`, its output.
    let h: FloatBuffer
    var attention: FloatBuffer { h }
    /// One chunk buffer for three things in turn, never alive together: the queries
    /// [chunkRows][H·hd] until attention has read them; the feed-forward's gate and up for a
    /// panel of `feedForwardPanel` of its F columns, [chunkRows][panel] each; after the last
    /// layer, a tile of logits [chunkRows][logitsColumns]. The products that go into x
    /// (attention · Woᵀ, the down product) add to x's rows themselves. A panel, not all F: gate
    /// and up whole were a chunk's largest buffer (12.6 MB of a 4k SmolLM2 window's ~40 MB).
    let work: FloatBuffer
    /// Feed-forward columns per panel: a multiple of 256 (every quantization block starts on
    /// one), wide enough to give each thread two weight panels of the gate's and up's products.
    /// Any width gives the same bits (each product's outputs, and the down product's sums over F
    /// continued panel to panel, are the same sums).
    let feedForwardPanel: Int
    let cosTable, sinTable: FloatBuffer                              // [n][pairs]
    let matmulScratch: [FloatBuffer]                                 // one per thread
    let attentionScratch: [FloatBuffer]
    /// Each scored row's softmax so far, [chunkRows].
    let softmaxRows: UnsafeMutablePointer<lr_softmax_row>

    var q: UnsafeMutablePointer<Float> { work.pointer }
    var gate: UnsafeMutablePointer<Float> { work.pointer }
    var up: UnsafeMutablePointer<Float> { work.pointer + chunkRows * feedForwardPanel }
    var logits: UnsafeMutablePointer<Float> { work.pointer }

    /// Floats of each buffer that grows with the window: nearly all of a long window's memory.
    struct WindowSizes {
        let x: Int          // [n][d]
        let keys: Int       // k and v each: [n][Hkv·hd] (FP32), [chunkRows][Hkv·hd] (BF16)
        let packedElements: Int  // BF16 only: uint16 per KV head
        let packed: Int     // kPacked and vPacked each (BF16 only), in floats
        let rotation: Int   // cos and sin each: [n][pairs]

        init(config c: ModelConfig, capacity n: Int, chunkRows: Int, bf16: Bool) {
            let kvDim = c.kvHeadCount * c.headDim
            x = n * c.embeddingLength
            keys = (bf16 ? chunkRows : n) * kvDim
            packedElements = bf16 ? Int(lr_attention_bf16_packed_elements(Int64(n), Int64(c.headDim))) : 0
            packed = c.kvHeadCount * packedElements / 2
            rotation = n * c.rotaryDimension / 2
        }

        var bytes: Double {
            let floats: Int = x + 2 * (keys + packed + rotation)
            return 4 * Double(floats)
        }
    }

    init(config c: ModelConfig, capacity n: Int, threads: Int, chunkRows: Int, bf16: Bool) {
        capacity = n
        self.chunkRows = max(1, min(n, chunkRows))
        let perThread = 2 * Int(LR_MATMUL_PANEL) * threads
        feedForwardPanel = min((c.feedForwardLength + 255) / 256 * 256, max(256, (perThread + 255) / 256 * 256))
        let ffFloats = 2 * self.chunkRows * feedForwardPanel
        let logitsFloats = self.chunkRows * min(c.vocabularySize, Self.logitsColumns)
        let d = c.embeddingLength, qDim = c.headCount * c.headDim
        let sizes = WindowSizes(config: c, capacity: n, chunkRows: self.chunkRows, bf16: bf16)
        x = FloatBuffer(sizes.x)
        k = FloatBuffer(sizes.keys); v = FloatBuffer(sizes.keys)
        packedElements = sizes.packedElements
        kPacked = bf16 ? FloatBuffer(sizes.packed) : nil
        vPacked = bf16 ? FloatBuffer(sizes.packed) : nil
        h = FloatBuffer(self.chunkRows * max(qDim, d))
        work = FloatBuffer(max(self.chunkRows * qDim, ffFloats, logitsFloats))
        cosTable = FloatBuffer(sizes.rotation); sinTable = FloatBuffer(sizes.rotation)
        let widest = max(d, qDim, c.feedForwardLength)
        matmulScratch = (0..<threads).map { _ in FloatBuffer(Int(LR_MATMUL_PANEL) * (widest + 16) + widest + 64) }
        let attentionFloats = bf16 ? lr_attention_bf16_scratch_floats(Int64(c.headDim)) : lr_attention_scratch_floats(Int64(c.headDim))
        attentionScratch = (0..<threads).map { _ in FloatBuffer(Int(attentionFloats)) }
        softmaxRows = .allocate(capacity: self.chunkRows)
    }

    deinit { softmaxRows.deallocate() }
}

extension LlamaModel {
    /// The forward pass over one window, layer by layer, each layer `b.chunkRows` tokens at a
    /// time in order (shapes in comments: n tokens, rows in the chunk, d = embedding, hd = head
    /// dim, H / Hkv = query / key-value heads, F = feed-forward).
    /// `visit(k, nll, top)` is called in order for each `positions[k]` (ascending), with the
    /// NLL of the token after it and, when `wantTopToken`, the most likely token there.
    /// `stop`, read before each layer, ends the pass early with `EvaluatorError.cancelled`.
    func forward(tokens: [Int32], positions: [Int], scaling: RoPEScaling, wantTopToken: Bool,
                 buffers b: ForwardBuffers, stop: StopSignal?, visit: (Int, Double, Int32) -> Void) throws {
        let c = config, n = tokens.count
        let d = c.embeddingLength, hd = c.headDim
        let qDim = c.headCount * hd, kvDim = c.kvHeadCount * hd, ff = c.feedForwardLength

        fillRotationTables(n: n, scaling: scaling, buffers: b)

        // x[n][d] = token_embd[tokens]
        for t in 0..<n { weights.tokenEmbedding.dequantizeRow(Int(tokens[t]), into: b.x.pointer + t * d) }

        for layer in weights.layers {
            try stop?.check()
            forEachChunk(n, b) { t0, rows in
                // FP32 attention keeps every key and value: the chunk's go to their rows. BF16
                // attention packs the chunk's (attend), so they go to the chunk's buffer.
                let kRows = b.kPacked == nil ? b.k.pointer + t0 * kvDim : b.k.pointer
                let vRows = b.vPacked == nil ? b.v.pointer + t0 * kvDim : b.v.pointer
                // h[rows][d] = rmsnorm(x[t0…]) · attn_norm
                rowwise(rows) { r in layer.attentionNorm.withUnsafeBufferPointer {
                    lr_rmsnorm(b.x.pointer + (t0 + r) * d, $0.baseAddress, b.h.pointer + r * d, Int64(d), c.rmsEpsilon) } }
                // q[rows][H·hd], k[rows][Hkv·hd], v[rows][Hkv·hd] = h · Wqᵀ, h · Wkᵀ, h · Wvᵀ
                matmul(layer.wq, b.h.pointer, rows, b.q, b)
                matmul(layer.wk, b.h.pointer, rows, kRows, b)
                matmul(layer.wv, b.h.pointer, rows, vRows, b)
                addBias(layer.bq, b.q, rows, qDim)
                addBias(layer.bk, kRows, rows, kvDim)
                addBias(layer.bv, vRows, rows, kvDim)
                // qwen3: q[t][h] = rmsnorm(q[t][h]) · q_norm, the same for k, before the rotation.
                headNorm(layer.qNorm, b.q, rows, heads: c.headCount)
                headNorm(layer.kNorm, kRows, rows, heads: c.kvHeadCount)
                // Rotate q and k of position t0 + r by its angles (λ, n̂ and m already in the tables).
                rowwise(rows) { r in
                    let cosRow = b.cosTable.pointer + (t0 + r) * (hd / 2), sinRow = b.sinTable.pointer + (t0 + r) * (hd / 2)
                    lr_rope(b.q + r * qDim, Int64(c.headCount), Int64(hd), cosRow, sinRow, c.halfSplitRotation ? 1 : 0)
                    lr_rope(kRows + r * kvDim, Int64(c.kvHeadCount), Int64(hd), cosRow, sinRow, c.halfSplitRotation ? 1 : 0)
                }
                // attention[rows][H·hd] = causal softmax(scale · q kᵀ) v over keys [0, t0 + rows),
                // per head (GQA: kv head = h / group)
                attend(first: t0, rows: rows, buffers: b)
                // x[t0…] += attention · Woᵀ, each sum going on from x's value
                matmul(layer.wo, b.attention.pointer, rows, b.x.pointer + t0 * d, b, accumulate: true)
                // h = rmsnorm(x[t0…]) · ffn_norm; x[t0…] += (silu(h Wgateᵀ) ⊙ h Wupᵀ) Wdownᵀ, F a
                // panel of P columns at a time: gate[rows][P], up[rows][P] = h · Wgate[panel]ᵀ,
                // h · Wup[panel]ᵀ; gate = silu(gate) ⊙ up; x[t0…] += gate · Wdown[·][panel]ᵀ,
                // each sum going on from x's value, panel after panel (no [rows][F] buffer)
                rowwise(rows) { r in layer.ffnNorm.withUnsafeBufferPointer {
                    lr_rmsnorm(b.x.pointer + (t0 + r) * d, $0.baseAddress, b.h.pointer + r * d, Int64(d), c.rmsEpsilon) } }
                for first in stride(from: 0, to: ff, by: b.feedForwardPanel) {
                    let panel = first..<min(ff, first + b.feedForwardPanel), width = panel.count
                    let gate = layer.gate.rows(panel, name: layer.gate.name), up = layer.up.rows(panel, name: layer.up.name)
                    // One parallel region for the three: each thread's gate and up columns are
                    // the same ones, so it can combine them itself.
                    forEachPanelRange(width, b) { worker, begin, end in
                        product(gate, b.h.pointer, rows, b.gate, begin, end, scratch: b.matmulScratch[worker].pointer)
                        product(up, b.h.pointer, rows, b.up, begin, end, scratch: b.matmulScratch[worker].pointer)
                        for r in 0..<rows { lr_swiglu(b.gate + r * width + begin, b.up + r * width + begin, Int64(end - begin)) }
                    }
                    matmul(layer.down.columns(panel), b.gate, rows, b.x.pointer + t0 * d, b, accumulate: true)
                }
            }
        }

        // Scored positions only, a chunk at a time: h[rows][d] = rmsnorm(x) · output_norm; then
        // per vocabulary tile, logits[rows][tile] = h · Wout[tile]ᵀ folded into each row's
        // softmax; last, the NLL of each position's next token.
        let vocab = c.vocabularySize, tileWidth = ForwardBuffers.logitsColumns
        var chunkStart = 0
        while chunkStart < positions.count {
            let rows = min(b.chunkRows, positions.count - chunkStart)
            rowwise(rows) { r in weights.outputNorm.withUnsafeBufferPointer {
                lr_rmsnorm(b.x.pointer + positions[chunkStart + r] * d, $0.baseAddress, b.h.pointer + r * d,
                           Int64(d), c.rmsEpsilon) }
                lr_softmax_row_init(b.softmaxRows + r)
            }
            for first in stride(from: 0, to: vocab, by: tileWidth) {
                let width = min(tileWidth, vocab - first)
                let tile = weights.output.rows(first..<(first + width), name: weights.output.name)
                matmul(tile, b.h.pointer, rows, b.logits, b)
                rowwise(rows) { r in
                    lr_softmax_row_fold(b.softmaxRows + r, b.logits + r * width, Int64(first), Int64(width),
                                        Int64(tokens[positions[chunkStart + r] + 1]))
                }
            }
            for r in 0..<rows {   // fixed order
                let row = b.softmaxRows[r]
                visit(chunkStart + r, lr_softmax_row_nll(b.softmaxRows + r), wantTopToken ? Int32(row.best) : -1)
            }
            chunkStart += rows
        }
    }

    /// cos/sin[t][i] = m_t · cos/sin(t · θ_i / λ_i), computed in Double. Positions t < n̂ use the
    /// file's own factors only (λ = 1, m = 1 for a plain model).
    func fillRotationTables(n: Int, scaling: RoPEScaling, buffers b: ForwardBuffers) {
        let pairs = config.rotaryDimension / 2
        let base = (0..<pairs).map { geometry.theta($0) / config.storedPairFactors[$0] }
        let scaled = (0..<pairs).map { base[$0] / scaling.lambda[$0] }
        let storedM = config.storedAttentionFactor
        for t in 0..<n {
            let original = t < scaling.nHat
            let frequencies = original ? base : scaled
            let m = original ? storedM : storedM * scaling.attentionFactor
            for i in 0..<pairs {
                let angle = Double(t) * frequencies[i]
                b.cosTable.pointer[t * pairs + i] = Float(m * cos(angle))
                b.sinTable.pointer[t * pairs + i] = Float(m * sin(angle))
            }
        }
    }

    /// `body(first token, tokens)` for the window's tokens in chunks of `b.chunkRows`, in order.
    func forEachChunk(_ n: Int, _ b: ForwardBuffers, _ body: (Int, Int) -> Void) {
        var t0 = 0
        while t0 < n {
            body(t0, min(b.chunkRows, n - t0))
            t0 += b.chunkRows
        }
    }

    /// y[n][W.rows] = x[n][W.columns] · Wᵀ (`accumulate`: y += …, each sum going on from y's
    /// value), the output panels split between threads.
    func matmul(_ w: WeightMatrix, _ x: UnsafePointer<Float>, _ n: Int, _ y: UnsafeMutablePointer<Float>,
                _ b: ForwardBuffers, accumulate: Bool = false) {
        forEachPanelRange(w.rows, b) { worker, begin, end in
            product(w, x, n, y, begin, end, accumulate: accumulate, scratch: b.matmulScratch[worker].pointer)
        }
    }

    /// y[n][begin..<end] of x[n][W.columns] · Wᵀ (y's rows W.rows apart), on this thread.
    func product(_ w: WeightMatrix, _ x: UnsafePointer<Float>, _ n: Int, _ y: UnsafeMutablePointer<Float>,
                 _ begin: Int, _ end: Int, accumulate: Bool = false, scratch: UnsafeMutablePointer<Float>) {
        if accumulate {
            lr_matmul_add(w.type.rawValue, w.data, Int64(w.rowBytes), Int64(w.columns), x, Int64(w.columns), Int64(n),
                          y, Int64(w.rows), Int64(begin), Int64(end), scratch)
        } else {
            lr_matmul(w.type.rawValue, w.data, Int64(w.rowBytes), Int64(w.columns), x, Int64(w.columns), Int64(n),
                      y, Int64(w.rows), Int64(begin), Int64(end), scratch)
        }
    }

    /// `body(worker, begin, end)` on `threads` threads at most, [begin, end) a share of the
    /// `outputs` rows of a product in whole panels of LR_MATMUL_PANEL (none empty).
    func forEachPanelRange(_ outputs: Int, _ b: ForwardBuffers, _ body: (Int, Int, Int) -> Void) {
        let panels = (outputs + Int(LR_MATMUL_PANEL) - 1) / Int(LR_MATMUL_PANEL)
        let workers = min(threads, panels)
        parallel(workers) { worker in
            let first = panels * worker / workers, last = panels * (worker + 1) / workers
            let begin = first * Int(LR_MATMUL_PANEL), end = min(outputs, last * Int(LR_MATMUL_PANEL))
            if begin < end { body(worker, begin, end) }
        }
    }

    /// Causal attention of the chunk's queries [t0, t0 + rows) for every head, against keys
    /// [0, t0 + rows); tasks (head, block of 64 queries) are dealt to threads round-robin. BF16:
    /// the chunk's keys and values are packed first (one task per KV head and kind).
    /// q and attention hold the chunk's rows only: a task's queries [begin, end) are rows
    /// begin − t0 on, and the kernels take them from there.
    func attend(first t0: Int, rows: Int, buffers b: ForwardBuffers) {
        let c = config, hd = c.headDim
        let qDim = c.headCount * hd, kvDim = c.kvHeadCount * hd
        let group = c.headCount / c.kvHeadCount
        let chunkEnd = t0 + rows
        if let kPacked = b.kPacked, let vPacked = b.vPacked {
            let kp = UnsafeMutableRawPointer(kPacked.pointer).assumingMemoryBound(to: UInt16.self)
            let vp = UnsafeMutableRawPointer(vPacked.pointer).assumingMemoryBound(to: UInt16.self)
            let tasks = 2 * c.kvHeadCount, workers = min(threads, tasks)
            parallel(workers) { worker in
                for task in stride(from: worker, to: tasks, by: workers) {
                    let head = task / 2
                    if task % 2 == 0 {
                        lr_pack_keys_bf16(b.k.pointer + head * hd, Int64(kvDim), Int64(t0), Int64(chunkEnd), Int64(hd),
                                          kp + head * b.packedElements)
                    } else {
                        lr_pack_values_bf16(b.v.pointer + head * hd, Int64(kvDim), Int64(t0), Int64(chunkEnd), Int64(hd),
                                            vp + head * b.packedElements)
                    }
                }
            }
            attendHeads(first: t0, end: chunkEnd, block: 64) { worker, head, begin, end in
                let kvHead = head / group
                let offset = (begin - t0) * qDim + head * hd   // query begin, this head
                lr_attention_bf16(b.q + offset, Int64(qDim), kp + kvHead * b.packedElements, vp + kvHead * b.packedElements,
                                  b.attention.pointer + offset, Int64(qDim), Int64(hd), Int64(begin), Int64(end),
                                  c.attentionScale, b.attentionScratch[worker].pointer)
            }
            return
        }
        attendHeads(first: t0, end: chunkEnd, block: Int(lr_attention_query_block(Int64(hd)))) { worker, head, begin, end in
            let kvHead = head / group
            let offset = (begin - t0) * qDim + head * hd   // query begin, this head
            lr_attention(b.q + offset, Int64(qDim), b.k.pointer + kvHead * hd, Int64(kvDim),
                         b.v.pointer + kvHead * hd, Int64(kvDim), b.attention.pointer + offset, Int64(qDim),
                         Int64(hd), Int64(begin), Int64(end), c.attentionScale, b.attentionScratch[worker].pointer)
        }
    }

    /// Deals the tasks (head, block of `block` queries of [first, end)) to threads round-robin:
    /// `body(worker, head, first query, end)`.
    func attendHeads(first: Int, end: Int, block: Int, _ body: (Int, Int, Int, Int) -> Void) {
        let c = config
        let blocks = (end - first + block - 1) / block
        let tasks = c.headCount * blocks
        let workers = min(threads, tasks)
        parallel(workers) { worker in
            var task = worker
            while task < tasks {
                // Interleave heads inside each query block so late (expensive) blocks are spread.
                let head = task % c.headCount, queryBlock = blocks - 1 - task / c.headCount
                body(worker, head, first + queryBlock * block, min(end, first + (queryBlock + 1) * block))
                task += workers
            }
        }
    }

    /// Runs `body(row)` for rows 0..<n, split in contiguous ranges between threads.
    func rowwise(_ n: Int, _ body: (Int) -> Void) {
        let workers = min(threads, max(1, n / 32))
        parallel(workers) { worker in
            for row in (n * worker / workers)..<(n * (worker + 1) / workers) { body(row) }
        }
    }

    /// RMS-normalises each head of each of the `n` rows of y[n][heads·hd] in place, times `weight`.
    func headNorm(_ weight: [Float]?, _ y: UnsafeMutablePointer<Float>, _ n: Int, heads: Int) {
        guard let weight else { return }
        let hd = config.headDim
        weight.withUnsafeBufferPointer { w in
            rowwise(n) { t in
                for h in 0..<heads {
                    let row = y + (t * heads + h) * hd
                    lr_rmsnorm(row, w.baseAddress, row, Int64(hd), config.rmsEpsilon)
                }
            }
        }
    }

    func addBias(_ bias: [Float]?, _ y: UnsafeMutablePointer<Float>, _ n: Int, _ width: Int) {
        guard let bias else { return }
        bias.withUnsafeBufferPointer { bp in
            for t in 0..<n { lr_add(y + t * width, bp.baseAddress, Int64(width)) }
        }
    }
}
