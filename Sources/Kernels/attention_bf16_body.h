// Causal attention of one head with BF16 inputs and FP32 accumulation: the same tiles and online
// softmax as attention_body.h (QB queries × KB keys, running max m and per-lane sums), with
// Q·Kᵀ and P·V taken as BF16 dot products of pairs (vdpbf16ps: acc += a₁·b₁, then += a₀·b₀,
// each product exact in FP32). Keys and values come packed once per head (lr_pack_keys_bf16,
// lr_pack_values_bf16), so no tile is transposed in the loop; queries are rounded to BF16 per
// block and the probabilities per tile. Softmax, the running max and sums, and the output stay
// FP32. The scores are kept in log2 units (scale · log2 e folded into the scale) and the
// softmax takes 2^x with a short polynomial (exp2_softmax): the probabilities are rounded to BF16
// (relative error 2^-9) right after, so a longer one would buy nothing. The sums add the
// probabilities before rounding, as flash attention does.
//
// Included twice by attention_bf16.c: with LR_BF16_NATIVE 1 for CPUs with AVX512_BF16 (the
// instruction), with 0 for every other CPU (the same two FMAs per pair in 16-lane vectors), so
// a node without the instruction computes the same sequence of operations for every output lane.
// Only the blocking differs: the instruction's dot products take 4 queries × 64 keys (4 rows ×
// 64 dims in P·V) at once, the emulation's 4 × 16, which fit AVX2's sixteen registers.
#include "kernels.h"
#include "vector.h"
#include <math.h>
#include <string.h>

#ifndef LR_BF16_LEVEL
#error "include from attention_bf16.c"
#endif

#define QB 64   // queries per tile
#define KB 64   // keys per tile (4 vectors of 16)
_Static_assert(KB == 64 && QB % 16 == 0, "softmax_tile_bf16 takes rows of 64 keys and rows 16 at a time");

#if LR_BF16_NATIVE
#include <immintrin.h>
// acc + a₁·b₁ + a₀·b₀ per lane, a and b each 16 pairs of BF16.
static inline v16 dot2(v16 acc, i16v a, i16v b) {
    return (v16)_mm512_dpbf16_ps((__m512)acc, (__m512bh)a, (__m512bh)b);
}
typedef uint16_t operand;   // queries and probabilities as the instruction takes them: BF16 pairs
#else
// The emulation keeps queries and probabilities as floats holding BF16 values (a broadcast is
// one load), and splits each key or value vector of pairs once into its odd (high) and even
// (low) halves for the four rows it meets.
typedef float operand;
// a_r += x_r[2·pair+1]·w₁ then += x_r[2·pair]·w₀ for four rows r, w the 16 pairs of BF16 in
// `pairs`: the instruction's two products per pair, in its order, each rounded as it does.
static inline __attribute__((always_inline)) void dot2_four_rows(v16 a[4], i16v pairs, const float *const *x, int64_t pair) {
    const v16 w1 = (v16)(pairs & (int32_t)0xffff0000), w0 = (v16)(pairs << 16);
    for (int r = 0; r < 4; r++) {
        a[r] = __builtin_elementwise_fma(v16_splat(x[r][2 * pair + 1]), w1, a[r]);
        a[r] = __builtin_elementwise_fma(v16_splat(x[r][2 * pair]), w0, a[r]);
    }
}
#endif

static inline i16v load_pairs(const uint16_t *p) { return *(const i16vu *)p; }

#if LR_BF16_NATIVE
static inline i16v splat_pair(const uint16_t *p) {
    uint32_t x;
    memcpy(&x, p, 4);
    return (i16v){} + (int32_t)x;
}

// S[i..i+4)[0..KB) = scale · q_i·k_j from the packed key tile kt ([hd/2][KB] pairs): sixteen
// independent accumulators, each pair of key vectors loaded once for four queries.
static inline void scores_block_bf16(const uint16_t *const *qr, const uint16_t *restrict kt, int64_t hd,
                                     float *restrict s, float scale) {
    v16 a[4][4] = {};
    for (int64_t p = 0; p < hd / 2; p++) {
        const uint16_t *row = kt + p * 2 * KB;
        const i16v w[4] = {load_pairs(row), load_pairs(row + 32), load_pairs(row + 64), load_pairs(row + 96)};
        for (int r = 0; r < 4; r++) {
            const i16v x = splat_pair(qr[r] + 2 * p);
            for (int c = 0; c < 4; c++) a[r][c] = dot2(a[r][c], x, w[c]);
        }
    }
    for (int r = 0; r < 4; r++)
        for (int c = 0; c < 4; c++) *(v16 *)(s + r * KB + 16 * c) = a[r][c] * scale;
}
#else
// The same scores in the instruction's order (per pair: the odd product, then the even one), 16
// keys at a time: four accumulators, the key vector's two halves and a broadcast fit AVX2's
// sixteen registers (the instruction's sixteen accumulators would spill there).
static inline void scores_block_bf16(const float *const *qr, const uint16_t *restrict kt, int64_t hd,
                                     float *restrict s, float scale) {
    for (int c = 0; c < 4; c++) {
        v16 a[4] = {};
        for (int64_t p = 0; p < hd / 2; p++) dot2_four_rows(a, load_pairs(kt + p * 2 * KB + 32 * c), qr, p);
        for (int r = 0; r < 4; r++) *(v16 *)(s + r * KB + 16 * c) = a[r] * scale;
    }
}
#endif

// 2^x for x ≤ 0 (or −inf, or NaN): x = n + f with n = roundeven(x), f in [−½, ½]; 2^f by a
// degree-4 polynomial with p(0) = 1 (relative error 3.1e-6, a least-squares fit), 2^n in the
// exponent bits.
// Exactly 0 where n < −125 (and for −inf and NaN), so every result is 0 or a normal number: the
// BF16 conversion instruction flushes subnormals, the emulation would not.
static inline v16 exp2_softmax(v16 x) {
    const v16 n = __builtin_elementwise_roundeven(x);
    const v16 f = x - n;
    v16 p = v16_splat(9.60039533674717e-3f);
    p = p * f + 5.591689422726631e-2f;
    p = p * f + 2.4023719131946564e-1f;
    p = p * f + 6.931219696998596e-1f;
    p = p * f + 1.0f;                       // exactly 1 at x = 0: a row's correction stays 1
    const i16v two_n = (__builtin_convertvector(n, i16v) + 127) << 23;
    const i16v normal = n >= -125.0f;
    return (v16)((i16v)(p * (v16)two_n) & normal);
}

// dst[0..16) = lo and dst[16..32) = hi rounded to BF16 (to nearest, ties to even; inputs 0 or
// normal, so the instruction's flushing of subnormals never applies): as BF16 for the
// instruction, as the rounded floats for its emulation.
static inline void store_bf16(operand *dst, v16 lo, v16 hi) {
#if LR_BF16_NATIVE
    *(i16vu *)dst = (i16v)_mm512_cvtne2ps_pbh((__m512)hi, (__m512)lo);
#else
    v16_store(dst, (v16)bf16_round(lo));
    v16_store(dst + 16, (v16)bf16_round(hi));
#endif
}

// One query row rounded to BF16 into the operand type.
static inline void round_query(const float *q, operand *dst, int64_t hd) {
#if LR_BF16_NATIVE
    lr_round_bf16(q, dst, hd);
#else
    for (int64_t d = 0; d < hd; d++) {
        const uint32_t bits = (uint32_t)lr_f32_to_bf16(q[d]) << 16;
        memcpy(dst + d, &bits, 4);
    }
#endif
}

// The online softmax of the tile's first nq rows (scores s in log2 units, [QB][KB]), in two
// passes so the per-row correction factors are taken 16 rows to a vector:
// 1. row by row, keys j ≥ jmax(i) masked to −inf (in s) and the new running max found;
// 2. the corrections 2^(m_old − m_new) of all rows at once (0 for a row's first keys);
// 3. row by row, the probabilities 2^(s − m_new) rounded into pb, their sum into the row's lanes.
// A row that sees no key of the tile gets zero probabilities and correction 1. Returns the largest
// jmax (0: no row sees a key).
static inline int softmax_tile_bf16(float *restrict s, int nq, int64_t q0, int64_t k0, int nk, float *restrict m,
                                    float *restrict m_new, float *restrict corr, float *restrict lanes,
                                    operand *restrict pb) {
    int jmax_all = 0;
    for (int i = 0; i < nq; i++) {
        const int jmax = (int)(q0 + i - k0 + 1 < nk ? q0 + i - k0 + 1 : nk);
        float *srow = s + i * KB;
        v16 acc[4] = {v16_load(srow), v16_load(srow + 16), v16_load(srow + 32), v16_load(srow + 48)};
        const float row_max = masked_row_max(acc, jmax);
        if (jmax < KB) for (int c = 0; c < 4; c++) v16_store(srow + 16 * c, acc[c]);   // pass 3 reads the masked scores
        m_new[i] = row_max > m[i] ? row_max : m[i];
        if (jmax > jmax_all) jmax_all = jmax;
    }
    for (int i = 0; i < QB; i += 16) {
        v16_store(corr + i, exp2_softmax(v16_load(m + i) - v16_load(m_new + i)));
        v16_store(m + i, v16_load(m_new + i));
    }
    for (int i = 0; i < nq; i++) {
        const float *srow = s + i * KB;
        const v16 max = v16_splat(m[i]);
        v16 e[4];
        for (int c = 0; c < 4; c++) e[c] = exp2_softmax(v16_load(srow + 16 * c) - max);
        store_bf16(pb + i * KB, e[0], e[1]);
        store_bf16(pb + i * KB + 32, e[2], e[3]);
        v16_store(lanes + i * 16, v16_load(lanes + i * 16) * corr[i] + ((e[0] + e[1]) + (e[2] + e[3])));
    }
    return jmax_all;
}

// o_r = o_r·c_r + Σ_j p_r[j]·v[j] for four rows r (probabilities pb_r, keys j < 2·pairs), from
// the packed values vt ([pairs][hd] pairs).
#if LR_BF16_NATIVE
// NV vectors of 16 dims at a time: 4·NV independent accumulators, each value vector loaded once
// for the four rows.
static inline __attribute__((always_inline)) void pv_block_bf16(const uint16_t *const *pb, int pairs,
        const uint16_t *restrict vt, int64_t hd, float *const *o, const float *c, const int NV) {
    for (int64_t d0 = 0; d0 < hd; d0 += 16 * NV) {
        v16 a[4][4];
        for (int r = 0; r < 4; r++)
            for (int v = 0; v < NV; v++) a[r][v] = v16_load(o[r] + d0 + 16 * v) * c[r];
        for (int jp = 0; jp < pairs; jp++) {
            const uint16_t *row = vt + jp * 2 * hd + 2 * d0;
            i16v w[4];
            for (int v = 0; v < NV; v++) w[v] = load_pairs(row + 32 * v);
            for (int r = 0; r < 4; r++) {
                const i16v x = splat_pair(pb[r] + 2 * jp);
                for (int v = 0; v < NV; v++) a[r][v] = dot2(a[r][v], x, w[v]);
            }
        }
        for (int r = 0; r < 4; r++)
            for (int v = 0; v < NV; v++) v16_store(o[r] + d0 + 16 * v, a[r][v]);
    }
}
#else
// 16 dims at a time, in the instruction's order (per pair of keys: the odd one, then the even):
// four accumulators, as the emulated scores.
static inline void pv_block_bf16(const float *const *pb, int pairs, const uint16_t *restrict vt, int64_t hd,
                                 float *const *o, const float *c) {
    for (int64_t d0 = 0; d0 < hd; d0 += 16) {
        v16 a[4];
        for (int r = 0; r < 4; r++) a[r] = v16_load(o[r] + d0) * c[r];
        for (int jp = 0; jp < pairs; jp++) dot2_four_rows(a, load_pairs(vt + jp * 2 * hd + 2 * d0), pb, jp);
        for (int r = 0; r < 4; r++) v16_store(o[r] + d0, a[r]);
    }
}
#endif

void LR_BF16_LEVEL(lr_attention_bf16)(const float *q, int64_t ldq, const uint16_t *kp, const uint16_t *vp,
                                      float *out, int64_t ldo, int64_t hd, int64_t q_begin, int64_t q_end,
                                      float scale, float *scratch) {
    // Scratch (lr_attention_bf16_scratch_floats): S[QB][KB], O[QB][hd], L[QB][16], m[QB],
    // the new m[QB], correction[QB], Q and P as operands ([QB][hd], [QB][KB]), one zero row of P
    // and one spare output row (for a short last group of four).
    float *s = scratch;
    float *o = s + QB * KB;
    float *lanes = o + QB * hd;
    float *m = lanes + QB * 16;
    float *m_new = m + QB;
    float *corr = m_new + QB;
    operand *qb = (operand *)(corr + QB);
    operand *pb = qb + QB * hd;
    operand *zero_p = pb + QB * KB;
    float *spare = (float *)(zero_p + KB);
    memset(zero_p, 0, sizeof(operand) * KB);
    const float scale_log2 = scale * 1.44269504088896341f;   // scores in log2 units: e^x = 2^(x·log2 e)

    for (int64_t q0 = q_begin; q0 < q_end; q0 += QB) {
        const int nq = (int)(q_end - q0 < QB ? q_end - q0 : QB);
        // Rows past nq (a short last block) keep m = m_new = 0: correction 1, never used.
        for (int i = 0; i < QB; i++) m[i] = i < nq ? -INFINITY : 0, m_new[i] = 0;
        memset(lanes, 0, sizeof(float) * QB * 16);
        memset(o, 0, sizeof(float) * QB * hd);
        for (int i = 0; i < nq; i++) round_query(q + (q0 - q_begin + i) * ldq, qb + i * hd, hd);
        const int64_t key_end = q0 + nq;      // causal: the last query sees keys < key_end

        for (int64_t k0 = 0; k0 < key_end; k0 += KB) {
            const int nk = (int)(key_end - k0 < KB ? key_end - k0 : KB);
            const uint16_t *kt = kp + k0 * hd;              // the tile: [hd/2][KB] pairs
            for (int i = 0; i < nq; i += 4) {
                const operand *qr[4];
                for (int r = 0; r < 4; r++) qr[r] = qb + (i + r < nq ? i + r : i) * hd;
                scores_block_bf16(qr, kt, hd, s + i * KB, scale_log2);
            }
            if (softmax_tile_bf16(s, nq, q0, k0, nk, m, m_new, corr, lanes, pb) == 0) continue;
            const uint16_t *vt = vp + k0 * hd;              // keys k0… as [KB/2][hd] pairs
            for (int i = 0; i < nq; i += 4) {
                const operand *pr[4];
                float *orow[4], c[4];
                for (int r = 0; r < 4; r++) {
                    const int live = i + r < nq;
                    pr[r] = live ? pb + (i + r) * KB : zero_p;
                    orow[r] = live ? o + (i + r) * hd : spare;
                    c[r] = live ? corr[i + r] : 1;
                }
                // Rows past their own jmax hold zero probabilities: exact zeros added.
                const int last = i + 3 < nq ? i + 3 : nq - 1;
                int jmax = (int)(q0 + last - k0 + 1 < nk ? q0 + last - k0 + 1 : nk);
                if (jmax <= 0) continue;
#if LR_BF16_NATIVE
                if (hd % 64 == 0) pv_block_bf16(pr, (jmax + 1) / 2, vt, hd, orow, c, 4);
                else pv_block_bf16(pr, (jmax + 1) / 2, vt, hd, orow, c, 2);
#else
                pv_block_bf16(pr, (jmax + 1) / 2, vt, hd, orow, c);
#endif
            }
        }
        for (int i = 0; i < nq; i++) {
            const float inv = 1.0f / v16_reduce_add(v16_load(lanes + i * 16));
            float *dst = out + (q0 - q_begin + i) * ldo;
            for (int64_t d = 0; d < hd; d++) dst[d] = o[i * hd + d] * inv;
        }
    }
}

#undef QB
#undef KB
