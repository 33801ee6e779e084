// Causal attention of one head with BF16 inputs and FP32 accumulation: the same tiles and online
// softmax as attention_body.h (QB queries × KB keys, running max m and per-lane sums), with
// Q·Kᵀ and P·V taken as BF16 dot products of pairs (vdpbf16ps: acc += a₁·b₁, then += a₀·b₀,
// each product exact in FP32). Keys and values come packed once per head (lr_pack_keys_bf16,
// lr_pack_values_bf16), so no tile is transposed in the loop; queries are rounded to BF16 per
// block and the probabilities per tile. Softmax, the running max and sums, and the output stay
// FP32; the sums add the rounded probabilities the products use.
//
// Included twice by attention_bf16.c: with LR_BF16_NATIVE 1 for CPUs with AVX512_BF16 (the
// instruction), with 0 for every other CPU (the same two FMAs per pair in 16-lane vectors), so
// a node without the instruction computes the same sequence of operations.
#include "kernels.h"
#include "vector.h"
#include <math.h>
#include <string.h>

#ifndef LR_BF16_LEVEL
#error "include from attention_bf16.c"
#endif

#define QB 64   // queries per tile
#define KB 64   // keys per tile (4 vectors of 16)
_Static_assert(KB == 64, "softmax_rescale (vector.h) takes rows of 64 keys");

#if LR_BF16_NATIVE
#include <immintrin.h>
// acc + a₁·b₁ + a₀·b₀ per lane, a and b each 16 pairs of BF16.
static inline v16 dot2(v16 acc, i16v a, i16v b) {
    return (v16)_mm512_dpbf16_ps((__m512)acc, (__m512bh)a, (__m512bh)b);
}
#else
// The instruction's sequence in FMAs: the odd (high) halves first, then the even (low) ones.
static inline v16 dot2(v16 acc, i16v a, i16v b) {
    const i16v high = (i16v)v16_splat(0) | (int32_t)0xffff0000;
    acc = __builtin_elementwise_fma((v16)(a & high), (v16)(b & high), acc);
    return __builtin_elementwise_fma((v16)(a << 16), (v16)(b << 16), acc);
}
#endif

static inline i16v load_pairs(const uint16_t *p) { return *(const i16vu *)p; }
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

// The online softmax for one row of the tile, as softmax_row in attention_body.h, except that
// the probabilities are rounded to BF16 (into pb) and the sums add the rounded values.
static inline float softmax_row_bf16(const float *restrict srow, int jmax, float *restrict m, float *restrict lanes,
                                     uint16_t *restrict pb) {
    v16 acc[4] = {*(const v16 *)srow, *(const v16 *)(srow + 16), *(const v16 *)(srow + 32), *(const v16 *)(srow + 48)};
    const float correction = softmax_rescale(acc, jmax, m);   // KB = 64 keys
    const float new_max = *m;
    v16 total = (v16){};
    for (int c = 0; c < 4; c++) {
        const v16 e = c * 16 < jmax ? v16_exp(acc[c] - new_max) : (v16){};
        const i16v rounded = bf16_round(e);                 // BF16 in the high halves
        total += (v16)rounded;
        *(u16x16u *)(pb + c * 16) = __builtin_convertvector((u16v)rounded >> 16, u16x16);
    }
    v16_store(lanes, v16_load(lanes) * correction + total);
    return correction;
}

// o_r = o_r·c_r + Σ_j p_r[j]·v[j] for four rows r (probabilities pb_r in BF16, keys j < 2·pairs),
// NV vectors of 16 dims at a time from the packed values vt ([pairs][hd] pairs): 4·NV
// independent accumulators, each value vector loaded once for the four rows.
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

void LR_BF16_LEVEL(lr_attention_bf16)(const float *q, int64_t ldq, const uint16_t *kp, const uint16_t *vp,
                                      float *out, int64_t ldo, int64_t hd, int64_t q_begin, int64_t q_end,
                                      float scale, float *scratch) {
    // Scratch (lr_attention_bf16_scratch_floats): S[QB][KB], O[QB][hd], L[QB][16], m[QB],
    // correction[QB], Q and P in BF16 ([QB][hd], [QB][KB]), one zero row of P and one spare
    // output row (for a short last group of four).
    float *s = scratch;
    float *o = s + QB * KB;
    float *lanes = o + QB * hd;
    float *m = lanes + QB * 16;
    float *corr = m + QB;
    uint16_t *qb = (uint16_t *)(corr + QB);
    uint16_t *pb = qb + QB * hd;
    uint16_t *zero_p = pb + QB * KB;
    float *spare = (float *)(zero_p + KB);
    memset(zero_p, 0, sizeof(uint16_t) * KB);

    for (int64_t q0 = q_begin; q0 < q_end; q0 += QB) {
        const int nq = (int)(q_end - q0 < QB ? q_end - q0 : QB);
        for (int i = 0; i < nq; i++) m[i] = -INFINITY;
        memset(lanes, 0, sizeof(float) * QB * 16);
        memset(o, 0, sizeof(float) * QB * hd);
        for (int i = 0; i < nq; i++) lr_round_bf16(q + (q0 + i) * ldq, qb + i * hd, hd);
        const int64_t key_end = q0 + nq;      // causal: the last query sees keys < key_end

        for (int64_t k0 = 0; k0 < key_end; k0 += KB) {
            const int nk = (int)(key_end - k0 < KB ? key_end - k0 : KB);
            const uint16_t *kt = kp + k0 * hd;              // the tile: [hd/2][KB] pairs
            for (int i = 0; i < nq; i += 4) {
                const uint16_t *qr[4];
                for (int r = 0; r < 4; r++) qr[r] = qb + (i + r < nq ? i + r : i) * hd;
                scores_block_bf16(qr, kt, hd, s + i * KB, scale);
            }
            // Keys j < jmax(i) of the tile are visible to query i; a row that sees none keeps
            // its state (zero probabilities, correction 1).
            int jmax_all = 0;
            for (int i = 0; i < nq; i++) {
                const int jmax = (int)(q0 + i - k0 + 1 < nk ? q0 + i - k0 + 1 : nk);
                if (jmax <= 0) { memset(pb + i * KB, 0, sizeof(uint16_t) * KB); corr[i] = 1; continue; }
                corr[i] = softmax_row_bf16(s + i * KB, jmax, m + i, lanes + i * 16, pb + i * KB);
                if (jmax > jmax_all) jmax_all = jmax;
            }
            if (jmax_all == 0) continue;
            const uint16_t *vt = vp + k0 * hd;              // keys k0… as [KB/2][hd] pairs
            for (int i = 0; i < nq; i += 4) {
                const uint16_t *pr[4];
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
                if (hd % 64 == 0) pv_block_bf16(pr, (jmax + 1) / 2, vt, hd, orow, c, 4);
                else pv_block_bf16(pr, (jmax + 1) / 2, vt, hd, orow, c, 2);
            }
        }
        for (int i = 0; i < nq; i++) {
            const float inv = 1.0f / v16_reduce_add(v16_load(lanes + i * 16));
            float *dst = out + (q0 + i) * ldo;
            for (int64_t d = 0; d < hd; d++) dst[d] = o[i * hd + d] * inv;
        }
    }
}

#undef QB
#undef KB
