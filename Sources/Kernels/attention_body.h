// Causal attention of one head, tiled: QB queries against KB keys at a time with an online
// softmax (running max m, running sum l), so no n×n matrix is ever held.
//
// Included once per CPU level (attention_base.c, attention_avx512.c) with LR_AVX512 set and
// LR_LEVEL naming the entry point. Here is the row kernel: a tile's scores one query row at a
// time (with AVX-512, four queries × 64 keys of scores and a 64-float output row with two sets of
// accumulators in registers; on AVX2 four queries × 16 keys at a time). Head sizes that are
// multiples of 16 take attention_lanes.h's kernel at every level (queries in the vector lanes,
// the softmax bookkeeping down the columns: 1.2–1.3× the row kernel's speed on AVX2, 1.2–1.6×
// on AVX-512), the rest this one. Every output element gets the same sequence of operations in
// every kernel (the sum over d in order; the same softmax steps; even and odd keys summed apart,
// then added), so all give the same bits, and so does any split of the queries between calls.
#include "kernels.h"
#include "vector.h"
#include <math.h>
#include <string.h>

#ifndef LR_LEVEL
#error "include from attention_base.c or attention_avx512.c"
#endif

#define QB 64   // queries per tile (the key tile's transposition is shared by all of them)
#define KB 64   // keys per tile (4 vectors of 16)
_Static_assert(KB == 64, "softmax_rescale (vector.h) takes rows of 64 keys");

// orow = orow·correction + Σ_{j<jmax} p[j]·v[j] for a head of 16·NV floats, the whole row in
// registers. Even and odd keys go to two sets of accumulators, so 2·NV independent FMA chains
// are in flight (one chain per 16 lanes would wait on the FMA latency at every key).
static inline __attribute__((always_inline)) void pv_row(const float *restrict p, int jmax, const float *restrict v,
                                                         int64_t ldv, float *restrict orow, float correction, const int NV) {
    v16 even[8], odd[8];
    for (int c = 0; c < NV; c++) { even[c] = v16_load(orow + 16 * c) * correction; odd[c] = (v16){}; }
    int j = 0;
    for (; j + 1 < jmax; j += 2) {
        const v16 pe = v16_splat(p[j]), po = v16_splat(p[j + 1]);
        const float *ve = v + j * ldv, *vo = ve + ldv;
        for (int c = 0; c < NV; c++) {
            even[c] = even[c] + pe * v16_load(ve + 16 * c);
            odd[c] = odd[c] + po * v16_load(vo + 16 * c);
        }
    }
    if (j < jmax) {
        const v16 pe = v16_splat(p[j]);
        for (int c = 0; c < NV; c++) even[c] = even[c] + pe * v16_load(v + j * ldv + 16 * c);
    }
    for (int c = 0; c < NV; c++) v16_store(orow + 16 * c, even[c] + odd[c]);
}

#if LR_AVX512
// S[i..i+4)[0..KB) = scale · q_i·k_j: sixteen independent FMA chains, each key vector loaded
// once for four queries (one query at a time would wait on the FMA latency at every d).
static inline void scores_block(const float *const *qr, const float *restrict kt, int64_t hd, float *restrict s, float scale) {
    v16 a[4][4] = {};
    for (int64_t d = 0; d < hd; d++) {
        const float *row = kt + d * KB;
        const v16 w[4] = {*(const v16 *)row, *(const v16 *)(row + 16), *(const v16 *)(row + 32), *(const v16 *)(row + 48)};
        for (int r = 0; r < 4; r++) {
            const v16 x = v16_splat(qr[r][d]);
            for (int c = 0; c < 4; c++) a[r][c] = a[r][c] + x * w[c];
        }
    }
    for (int r = 0; r < 4; r++)
        for (int c = 0; c < 4; c++) *(v16 *)(s + r * KB + 16 * c) = a[r][c] * scale;
}
#else
// S[i..i+4)[kc..kc+16) = scale · q_i·k_j, for kc = 0, 16, …: eight accumulators (four queries ×
// two vectors of keys), eight independent FMA chains.
static inline void scores_block(const float *const *qr, const float *restrict kt, int64_t hd, float *restrict s, float scale) {
    for (int kc = 0; kc < KB; kc += 16) {
        v8 a[4][2] = {};
        for (int64_t d = 0; d < hd; d++) {
            const v8 w0 = *(const v8 *)(kt + d * KB + kc), w1 = *(const v8 *)(kt + d * KB + kc + 8);
            for (int r = 0; r < 4; r++) {
                const v8 x = v8_splat(qr[r][d]);
                a[r][0] = a[r][0] + x * w0;
                a[r][1] = a[r][1] + x * w1;
            }
        }
        for (int r = 0; r < 4; r++) {
            *(v8 *)(s + r * KB + kc) = a[r][0] * scale;
            *(v8 *)(s + r * KB + kc + 8) = a[r][1] * scale;
        }
    }
}
#endif

// orow = orow·correction + Σ_{j<jmax} p[j]·v[j] for any head size. Head sizes that are multiples
// of 16 all take pv_row's order (even and odd keys apart), as attention_lanes.h's pv_rows_lanes does.
static void pv_row_any(const float *restrict p, int jmax, const float *restrict v, int64_t ldv,
                       float *restrict orow, float correction, int64_t hd) {
    if (hd % 16 == 0) {
#if LR_AVX512
        if (hd == 64) { pv_row(p, jmax, v, ldv, orow, correction, 4); return; }
        if (hd == 128) { pv_row(p, jmax, v, ldv, orow, correction, 8); return; }
#endif
        for (int64_t d0 = 0; d0 < hd; d0 += 16) pv_row(p, jmax, v + d0, ldv, orow + d0, correction, 1);
    } else if (hd == 8) {
        v8 acc_o = *(const v8u *)orow * correction;
        for (int j = 0; j < jmax; j++) acc_o = acc_o + p[j] * *(const v8u *)(v + j * ldv);
        *(v8u *)orow = acc_o;
    } else {
        for (int64_t d = 0; d < hd; d++) orow[d] *= correction;
        for (int j = 0; j < jmax; j++) {
            const float pj = p[j];
            const float *vr = v + j * ldv;
            for (int64_t d = 0; d < hd; d++) orow[d] += pj * vr[d];
        }
    }
}

// The online softmax for one query's row of the tile: keys j ≥ jmax are masked, the running
// max *m and the per-lane sums are updated, p is overwritten with exp(s − max) (0 where
// masked). Returns the factor the row's output so far must be scaled by.
static inline float softmax_row(float *restrict p, int jmax, float *restrict m, float *restrict lanes) {
    v16 acc[4] = {*(const v16 *)p, *(const v16 *)(p + 16), *(const v16 *)(p + 32), *(const v16 *)(p + 48)};
    const float correction = softmax_rescale(acc, jmax, m);   // KB = 64 keys
    const float new_max = *m;
    v16 total = (v16){};
    for (int c = 0; c < 4; c++) {
        const v16 e = c * 16 < jmax ? v16_exp(acc[c] - new_max) : (v16){};
        *(v16 *)(p + c * 16) = e;
        total += e;
    }
    v16_store(lanes, v16_load(lanes) * correction + total);
    return correction;
}

#if !LR_AVX512   // one definition for both levels: the tiles are the same
int64_t lr_attention_scratch_floats(int64_t head_dim) {
    // The row kernel: KT[head_dim][KB], S[QB][KB], O[QB][head_dim], L[QB][16], m[QB]; the lanes
    // kernel (attention_lanes.h): QT[head_dim][QL], ST[KB][QL], O[QL][head_dim], part[16][QL],
    // m[QL], corr[QL]. Plus alignment slack.
    const int64_t rows = head_dim * KB + QB * KB + QB * head_dim + QB * 16 + QB;
    const int64_t ql = LR_ATTENTION_LANES_QUERIES;
    const int64_t lanes = head_dim * ql + KB * ql + ql * head_dim + 16 * ql + 2 * ql;
    return (rows > lanes ? rows : lanes) + 64;
}
#endif

// lr_attention's contract (kernels.h), one query row at a time.
static void attention_rows(const float *q, int64_t ldq, const float *k, int64_t ldk,
                           const float *v, int64_t ldv, float *out, int64_t ldo,
                           int64_t hd, int64_t q_begin, int64_t q_end, float scale, float *scratch) {
    float *kt = scratch;                      // [hd][KB], 64-byte aligned by the caller
    float *s = kt + hd * KB;                  // [QB][KB]
    float *o = s + QB * KB;                   // [QB][hd]
    float *lanes = o + QB * hd;               // [QB][16]: each query's softmax sum, kept per lane
    float *m = lanes + QB * 16;               // [QB]

    for (int64_t q0 = q_begin; q0 < q_end; q0 += QB) {
        const int nq = (int)(q_end - q0 < QB ? q_end - q0 : QB);
        for (int i = 0; i < nq; i++) m[i] = -INFINITY;
        memset(lanes, 0, sizeof(float) * QB * 16);
        memset(o, 0, sizeof(float) * QB * hd);
        const int64_t key_end = q0 + nq;      // causal: the last query sees keys < key_end

        for (int64_t k0 = 0; k0 < key_end; k0 += KB) {
            const int nk = (int)(key_end - k0 < KB ? key_end - k0 : KB);
            // Transpose the key tile: kt[d][j] = k[k0+j][d].
            for (int j = 0; j < KB; j++) {
                if (j < nk) { const float *kr = k + (k0 + j) * ldk; for (int64_t d = 0; d < hd; d++) kt[d * KB + j] = kr[d]; }
                else for (int64_t d = 0; d < hd; d++) kt[d * KB + j] = 0;
            }
            // Raw scores of the tile, four queries at a time (a short last group repeats its
            // first query; its spare rows land in S's rows past nq, which nothing reads).
            for (int i = 0; i < nq; i += 4) {
                const float *qr[4];
                for (int r = 0; r < 4; r++) qr[r] = q + (q0 - q_begin + (i + r < nq ? i + r : i)) * ldq;
                scores_block(qr, kt, hd, s + i * KB, scale);
            }
            // Keys j < jmax(i) of the tile are visible to query i (causal, and inside the tile).
#define JMAX(i) ((int)(q0 + (i) - k0 + 1 < nk ? q0 + (i) - k0 + 1 : nk))
            for (int i = 0; i < nq; i++) {
                const int jmax = JMAX(i);
                if (jmax <= 0) continue;
                const float correction = softmax_row(s + i * KB, jmax, m + i, lanes + i * 16);
                pv_row_any(s + i * KB, jmax, v + k0 * ldv, ldv, o + i * hd, correction, hd);
            }
#undef JMAX
        }
        for (int i = 0; i < nq; i++) {
            const float inv = 1.0f / v16_reduce_add(v16_load(lanes + i * 16));
            float *dst = out + (q0 - q_begin + i) * ldo;
            for (int64_t d = 0; d < hd; d++) dst[d] = o[i * hd + d] * inv;
        }
    }
}

#include "attention_lanes.h"

// The head sizes the queries-in-lanes kernel takes (the rest take the row kernel).
static inline int lanes_kernel_takes(int64_t hd) { return hd % 16 == 0; }

void LR_LEVEL(lr_attention)(const float *q, int64_t ldq, const float *k, int64_t ldk,
                            const float *v, int64_t ldv, float *out, int64_t ldo,
                            int64_t hd, int64_t q_begin, int64_t q_end, float scale, float *scratch) {
    if (lanes_kernel_takes(hd)) attention_lanes(q, ldq, k, ldk, v, ldv, out, ldo, hd, q_begin, q_end, scale, scratch);
    else attention_rows(q, ldq, k, ldk, v, ldv, out, ldo, hd, q_begin, q_end, scale, scratch);
}

int64_t LR_LEVEL(lr_attention_query_block)(int64_t hd) { return lanes_kernel_takes(hd) ? QL : QB; }

#if !LR_AVX512
void lr_attention_rows(const float *q, int64_t ldq, const float *k, int64_t ldk, const float *v, int64_t ldv,
                       float *out, int64_t ldo, int64_t head_dim, int64_t q_begin, int64_t q_end, float scale,
                       float *scratch) {
    attention_rows(q, ldq, k, ldk, v, ldv, out, ldo, head_dim, q_begin, q_end, scale, scratch);
}
#endif
