// Causal attention of one head, tiled: QB queries against KB keys at a time with an online
// softmax (running max m, running sum l), so no n×n matrix is ever held.
#include "kernels.h"
#include "vector.h"
#include <math.h>
#include <string.h>

#define QB 64   // queries per tile (the key tile's transposition is shared by all of them)
#define KB 64   // keys per tile (4 vectors)

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

int64_t lr_attention_scratch_floats(int64_t head_dim) {
    // KT[head_dim][KB], S[QB][KB], O[QB][head_dim], L[QB][16], m[QB], plus alignment slack.
    return head_dim * KB + QB * KB + QB * head_dim + QB * 16 + QB + 64;
}

void lr_attention(const float *q, int64_t ldq, const float *k, int64_t ldk,
                  const float *v, int64_t ldv, float *out, int64_t ldo,
                  int64_t hd, int64_t q_begin, int64_t q_end, float scale, float *scratch) {
    float *kt = scratch;                      // [hd][KB], 64-byte aligned by the caller
    float *s = kt + hd * KB;                  // [QB][KB]
    float *o = s + QB * KB;                   // [QB][hd]
    float *lanes = o + QB * hd;               // [QB][16]: each query's softmax sum, kept per lane
    float *m = lanes + QB * 16;               // [QB]
    const int vector_rows = (hd % 16) == 0;

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
            // Raw scores of the tile, S[i][j] = scale · q_i·k_j, four queries at a time: sixteen
            // independent FMA chains, each key vector loaded once for four queries (one query at
            // a time would wait on the FMA latency at every step of d).
            for (int i = 0; i < nq; i += 4) {
                const float *qr[4];
                for (int r = 0; r < 4; r++) qr[r] = q + (q0 + (i + r < nq ? i + r : i)) * ldq;
                v16 a[4][4] = {};
                for (int64_t d = 0; d < hd; d++) {
                    const float *row = kt + d * KB;
                    const v16 w[4] = {*(const v16 *)row, *(const v16 *)(row + 16), *(const v16 *)(row + 32),
                                      *(const v16 *)(row + 48)};
                    for (int r = 0; r < 4; r++) {
                        const v16 x = v16_splat(qr[r][d]);
                        for (int c = 0; c < 4; c++) a[r][c] = a[r][c] + x * w[c];
                    }
                }
                for (int r = 0; r < 4 && i + r < nq; r++)
                    for (int c = 0; c < 4; c++) *(v16 *)(s + (i + r) * KB + 16 * c) = a[r][c] * scale;
            }
            for (int i = 0; i < nq; i++) {
                // Keys j < jmax of the tile are visible to query i (causal, and inside the tile).
                const int64_t visible = q0 + i - k0 + 1;
                const int jmax = (int)(visible < nk ? visible : nk);
                if (jmax <= 0) continue;
                float *p = s + i * KB;
                v16 acc[4] = {*(const v16 *)p, *(const v16 *)(p + 16), *(const v16 *)(p + 32), *(const v16 *)(p + 48)};
                // Mask the keys the query may not see.
                if (jmax < KB) {
                    const i16v iota = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};
                    const i16v neg_inf = (i16v)v16_splat(-INFINITY);
                    for (int c = 0; c < 4; c++) {
                        const i16v hidden = (iota + c * 16) >= jmax;
                        acc[c] = (v16)(((i16v)acc[c] & ~hidden) | (neg_inf & hidden));
                    }
                }
                const float row_max = __builtin_reduce_max(__builtin_elementwise_max(
                    __builtin_elementwise_max(acc[0], acc[1]), __builtin_elementwise_max(acc[2], acc[3])));
                const float new_max = row_max > m[i] ? row_max : m[i];
                const float correction = m[i] == -INFINITY ? 0.0f : expf(m[i] - new_max);
                v16 total = (v16){};
                for (int c = 0; c < 4; c++) {
                    const v16 e = c * 16 < jmax ? v16_exp(acc[c] - new_max) : (v16){};
                    *(v16 *)(p + c * 16) = e;
                    total += e;
                }
                v16_store(lanes + i * 16, v16_load(lanes + i * 16) * correction + total);
                m[i] = new_max;
                float *orow = o + i * hd;
                if (hd == 64) {
                    pv_row(p, jmax, v + k0 * ldv, ldv, orow, correction, 4);
                } else if (hd == 128) {
                    pv_row(p, jmax, v + k0 * ldv, ldv, orow, correction, 8);
                } else if (vector_rows) {
                    for (int64_t d0 = 0; d0 < hd; d0 += 16) {
                        v16 acc_o = v16_load(orow + d0) * correction;
                        for (int j = 0; j < jmax; j++)
                            acc_o = acc_o + v16_splat(p[j]) * v16_load(v + (k0 + j) * ldv + d0);
                        v16_store(orow + d0, acc_o);
                    }
                } else if (hd == 8) {
                    v8 acc_o = *(const v8u *)orow * correction;
                    for (int j = 0; j < jmax; j++)
                        acc_o = acc_o + p[j] * *(const v8u *)(v + (k0 + j) * ldv);
                    *(v8u *)orow = acc_o;
                } else {
                    for (int64_t d = 0; d < hd; d++) orow[d] *= correction;
                    for (int j = 0; j < jmax; j++) {
                        const float pj = p[j];
                        const float *vr = v + (k0 + j) * ldv;
                        for (int64_t d = 0; d < hd; d++) orow[d] += pj * vr[d];
                    }
                }
            }
        }
        for (int i = 0; i < nq; i++) {
            const float inv = 1.0f / v16_reduce_add(v16_load(lanes + i * 16));
            float *dst = out + (q0 + i) * ldo;
            for (int64_t d = 0; d < hd; d++) dst[d] = o[i * hd + d] * inv;
        }
    }
}
