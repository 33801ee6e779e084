// Causal attention with the queries in the vector lanes: every level's FP32 kernel for head
// sizes that are multiples of 16. Included by attention_body.h (which defines KB and the row
// kernel whose operations this one follows) once per level: vectors of 8 lanes on AVX2 (16
// registers), of 16 on AVX-512 (32 registers), so the register blocks below are twice as tall
// there; the operations per output element are the same at both.
//
// The row kernel takes a tile's scores one query row at a time: the key tile transposed for
// every query block, then per row a horizontal max, a libm expf and 64 exps. Here the scores are
// taken transposed, st[j][i] = scale · k_j·q_i (keys × queries), from the query block
// transposed once (qt[d][i]); key rows are read in place and broadcast, so no key tile is
// transposed, and the online softmax's max, masking, rescaling and sums run down the columns,
// 16 queries at a time, with no horizontal reduction. Every output element still gets the row
// kernel's operations in the row kernel's order — the score's sum over d, the tile's max, its
// correction expf(m − m'), v16_exp's operations, the sums kept per key lane (key mod 16) and
// summed at the end, the even and odd keys of P·V summed apart — so the two kernels give the
// same bits (KernelTests.lanesAndRowsGiveTheSameBits), and so do the AVX-512 kernel and any
// split of the queries between calls.
//
// On an AMD EPYC family 23 model 49 (Zen 2), one core (FP32 FMA peak 96–99 GFLOP/s): 55–62
// GFLOP/s against the row kernel's 42–49 at n 4,096–16,384, head dim 64 and 128; SmolLM2 at 16k
// 1.46× faster end to end (docs/benchmarks.md, "Attention with the queries in the lanes"). On
// an AMD EPYC family 25 model 17 (Zen 4, AVX-512), one core (peak 114–117): 84–101 GFLOP/s in
// 16-lane vectors against the AVX-512 row kernel's 53–73; SmolLM2 at 16k 1.37× faster end to
// end ("The lanes kernel on AVX-512").

// Queries per pass over the keys: each key and value tile is used by QL queries while it is in
// L1. The forward pass's rows of keys and values hold every key head (SmolLM2: 3 × 64 floats,
// so a head's tile is 64 rows 768 bytes apart), and at 16k a head's keys and values (8 MB) no
// longer stay in cache between passes: 192 queries per pass instead of 64 take attention from
// 42–45 to 53–58 GFLOP/s there (Zen 2, one core, n 16,384, head dim 64 and 128). 128 and 256
// are slower than 192 (rows of 512 and 1,024 bytes map the column reads of P·V to few cache
// sets).
#define QL LR_ATTENTION_LANES_QUERIES

// The level's vector of queries (scores, softmax) or of head dims (P·V): VW lanes, VN of them
// per group of 16. KR keys per score block and PR query rows per P·V block make 12 independent
// FMA chains at either width; with AVX-512's 32 registers each chain is a whole group of 16.
#if LR_AVX512
typedef v16 vw;
typedef v16u vwu;
#define VW 16
#define VN 1
#define KR_MAX 12
#define PR_MAX 6
#define vw_splat v16_splat
#define vw_exp v16_exp
#else
typedef v8 vw;
typedef v8u vwu;
#define VW 8
#define VN 2
#define KR_MAX 6
#define PR_MAX 3
#define vw_splat v8_splat
#define vw_exp v8_exp
#endif
// st[r][0..16) = scale · Σ_d k_r[d]·qt[d][0..16) for KR keys (rows ldk apart) and 16 queries:
// KR·VN independent FMA chains (12 at KR_MAX), each query vector loaded once for KR keys.
static inline __attribute__((always_inline)) void scores_lanes(const float *restrict qt, const float *restrict krow,
                                                               int64_t ldk, int64_t hd, float *restrict st, float scale,
                                                               const int KR) {
    vw a[KR_MAX][VN] = {};
    for (int64_t d = 0; d < hd; d++) {
        vw w[VN];
        for (int c = 0; c < VN; c++) w[c] = *(const vw *)(qt + d * QL + VW * c);
        for (int r = 0; r < KR; r++) {
            const vw x = vw_splat(krow[r * ldk + d]);
            for (int c = 0; c < VN; c++) a[r][c] = a[r][c] + x * w[c];
        }
    }
    for (int r = 0; r < KR; r++)
        for (int c = 0; c < VN; c++) *(vw *)(st + r * QL + VW * c) = a[r][c] * scale;
}

// Raw scores st[j][i] of keys [0, nk) of the tile (k at its first key, k0) against queries
// [0, nq16) from q0, nq16 a multiple of 16 (lanes past the block's queries hold qt's zero
// padding). A group of 16 queries that sees none of a group of keys is skipped: its scores are
// left as they are, and tile_softmax_lanes hides them.
static void tile_scores_lanes(const float *restrict qt, int64_t q0, int nq16, const float *restrict k, int64_t k0,
                              int64_t ldk, int nk, int64_t hd, float *restrict st, float scale) {
    // Key groups outside, query groups inside: a group's key rows stay in L1 for every query.
#define SEES(i0, j) (q0 + (i0) + 15 >= k0 + (j))
    int j = 0;
    for (; j + KR_MAX <= nk; j += KR_MAX)
        for (int i0 = 0; i0 < nq16; i0 += 16)
            if (SEES(i0, j)) scores_lanes(qt + i0, k + j * ldk, ldk, hd, st + j * QL + i0, scale, KR_MAX);
    for (; j + 4 <= nk; j += 4)
        for (int i0 = 0; i0 < nq16; i0 += 16)
            if (SEES(i0, j)) scores_lanes(qt + i0, k + j * ldk, ldk, hd, st + j * QL + i0, scale, 4);
    for (; j < nk; j++)
        for (int i0 = 0; i0 < nq16; i0 += 16)
            if (SEES(i0, j)) scores_lanes(qt + i0, k + j * ldk, ldk, hd, st + j * QL + i0, scale, 1);
#undef SEES
}

// The online softmax of one tile down its columns. Key k0 + j is visible to query q0 + i when
// k0 + j ≤ q0 + i; st[j][i] (j < nk) becomes exp(s − m'), 0 where hidden, with m' the query's
// new running max (m is updated); corr[i] is the factor its output and sums so far are scaled
// by (0 before its first key, 1 when the max did not move, else expf(m − m') as the row kernel
// takes it); part[r][i] = part[r][i]·corr[i] + Σ_{j ≡ r mod 16} st[j][i], summed in j's order.
static void tile_softmax_lanes(float *restrict st, int nk, int nq16, int64_t q0, int64_t k0, float *restrict m,
                               float *restrict part, float *restrict corr) {
    const i16v iota = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};
    const v16 neg_inf = v16_splat(-INFINITY);
    for (int i0 = 0; i0 < nq16; i0 += 16) {
        // Lane l is query q0 + i0 + l: key k0 + j is hidden from it when k0 + j − (q0 + i0) > l.
        const int64_t first = q0 + i0;
        const int some_hidden = k0 + nk - 1 > first;
        v16 row_max = neg_inf;
        for (int j = 0; j < nk; j++) {
            v16 s = v16_load(st + j * QL + i0);
            if (some_hidden) {
                const i16v hidden = iota < (i16v){} + (int32_t)(k0 + j - first);
                s = (v16)(((i16v)s & ~hidden) | ((i16v)neg_inf & hidden));
                v16_store(st + j * QL + i0, s);
            }
            row_max = v16_max(row_max, s);
        }
        // A lane that sees no key of this tile keeps its max (and gets correction 1): it saw keys
        // of an earlier tile, since every query sees key 0.
        const v16 old = v16_load(m + i0), new_max = v16_max(row_max, old);
        v16 c;
        for (int l = 0; l < 16; l++)
            c[l] = old[l] == -INFINITY ? 0.0f : old[l] == new_max[l] ? 1.0f : expf(old[l] - new_max[l]);
        v16_store(m + i0, new_max);
        v16_store(corr + i0, c);
        for (int h = 0; h < 16; h += VW) {   // a vector at a time: the exp's constants stay in registers
            const vw mh = *(const vw *)(m + i0 + h), ch = *(const vw *)(corr + i0 + h);
            // Keys in order, four exps at a time: the exp is one long chain of dependent operations
            // (~60 cycles), and four independent ones keep the FP pipes busy where one key lane's
            // four keys at a time (16 apart) left them waiting (+1–6% attention on a Zen 2).
            // total[r] still sums keys r, r + 16, … in j's order, so the same bits.
            vw total[16] = {};
            int j = 0;
            for (; j + 4 <= nk; j += 4) {
                vw e[4];
                for (int x = 0; x < 4; x++) e[x] = vw_exp(*(const vw *)(st + (j + x) * QL + i0 + h) - mh);
                for (int x = 0; x < 4; x++) {
                    *(vw *)(st + (j + x) * QL + i0 + h) = e[x];
                    total[(j + x) & 15] += e[x];
                }
            }
            for (; j < nk; j++) {
                float *sj = st + j * QL + i0 + h;
                const vw e = vw_exp(*(const vw *)sj - mh);
                *(vw *)sj = e;
                total[j & 15] += e;
            }
            for (int r = 0; r < 16; r++) {
                float *pr = part + r * QL + i0 + h;
                *(vw *)pr = *(const vw *)pr * ch + total[r];
            }
        }
    }
}

// o_r = o_r·c[r] + Σ_{j<jmax} p[j·ps + r]·v[j] for R query rows (rows of o ldo apart), 16 dims at
// a time: each value vector loaded once for the R rows; even and odd keys go to two sets of
// accumulators (2·VN·R independent FMA chains; 12 at PR_MAX) in pv_row's order, so the same
// bits. A row whose keys end before jmax has p = 0 there, which adds exact zeros.
static inline __attribute__((always_inline)) void pv_rows_lanes(const float *restrict p, int64_t ps, int jmax,
                                                                const float *restrict v, int64_t ldv, float *restrict o,
                                                                int64_t ldo, const float *restrict c, int64_t hd, const int R) {
    for (int64_t d0 = 0; d0 < hd; d0 += 16) {
        vw even[PR_MAX][VN], odd[PR_MAX][VN];
        for (int r = 0; r < R; r++)
            for (int h = 0; h < VN; h++) {
                even[r][h] = *(const vwu *)(o + r * ldo + d0 + VW * h) * c[r];
                odd[r][h] = (vw){};
            }
        int j = 0;
        for (; j + 1 < jmax; j += 2) {
            const float *ve = v + j * ldv + d0, *vo = ve + ldv;
            vw we[VN], wo[VN];
            for (int h = 0; h < VN; h++) {
                we[h] = *(const vwu *)(ve + VW * h);
                wo[h] = *(const vwu *)(vo + VW * h);
            }
            for (int r = 0; r < R; r++) {
                const vw xe = vw_splat(p[j * ps + r]), xo = vw_splat(p[(j + 1) * ps + r]);
                for (int h = 0; h < VN; h++) {
                    even[r][h] = even[r][h] + xe * we[h];
                    odd[r][h] = odd[r][h] + xo * wo[h];
                }
            }
        }
        if (j < jmax) {
            vw we[VN];
            for (int h = 0; h < VN; h++) we[h] = *(const vwu *)(v + j * ldv + d0 + VW * h);
            for (int r = 0; r < R; r++) {
                const vw xe = vw_splat(p[j * ps + r]);
                for (int h = 0; h < VN; h++) even[r][h] = even[r][h] + xe * we[h];
            }
        }
        for (int r = 0; r < R; r++)
            for (int h = 0; h < VN; h++) *(vwu *)(o + r * ldo + d0 + VW * h) = even[r][h] + odd[r][h];
    }
}

// lr_attention's contract (kernels.h) for hd % 16 == 0.
static void attention_lanes(const float *q, int64_t ldq, const float *k, int64_t ldk, const float *v, int64_t ldv,
                            float *out, int64_t ldo, int64_t hd, int64_t q_begin, int64_t q_end, float scale,
                            float *scratch) {
    float *qt = scratch;                      // [hd][QL]: the query block transposed, zero-padded
    float *st = qt + hd * QL;                 // [KB][QL]: scores, then probabilities, keys × queries
    float *o = st + KB * QL;                  // [QL][hd]: the outputs so far, unnormalised
    float *part = o + QL * hd;                // [16][QL]: each query's softmax sum, kept per key lane
    float *m = part + 16 * QL;                // [QL]: each query's running max
    float *corr = m + QL;                     // [QL]: this tile's corrections

    for (int64_t q0 = q_begin; q0 < q_end; q0 += QL) {
        const int nq = (int)(q_end - q0 < QL ? q_end - q0 : QL);
        const int nq16 = (nq + 15) & ~15;
        for (int64_t d = 0; d < hd; d++)
            for (int i = 0; i < QL; i++) qt[d * QL + i] = i < nq ? q[(q0 - q_begin + i) * ldq + d] : 0.0f;
        for (int i = 0; i < QL; i++) m[i] = -INFINITY;
        memset(part, 0, sizeof(float) * 16 * QL);
        memset(o, 0, sizeof(float) * QL * hd);
        const int64_t key_end = q0 + nq;      // causal: the last query sees keys < key_end

        for (int64_t k0 = 0; k0 < key_end; k0 += KB) {
            const int nk = (int)(key_end - k0 < KB ? key_end - k0 : KB);
            tile_scores_lanes(qt, q0, nq16, k + k0 * ldk, k0, ldk, nk, hd, st, scale);
            tile_softmax_lanes(st, nk, nq16, q0, k0, m, part, corr);
            // Keys j < jmax(i) of the tile are visible to query i (0 when it sees none).
#define JMAX(i) ((int)(q0 + (i) - k0 + 1 < 0 ? 0 : q0 + (i) - k0 + 1 < nk ? q0 + (i) - k0 + 1 : nk))
            int i = 0;
            for (; i + PR_MAX <= nq; i += PR_MAX)
                pv_rows_lanes(st + i, QL, JMAX(i + PR_MAX - 1), v + k0 * ldv, ldv, o + i * hd, hd, corr + i, hd, PR_MAX);
            // A block's last rows (the forward pass's chunks end in a block of 64: 6 · 10 + 4) three
            // at a time where PR_MAX is more, so they are not left to one row's 2·VN chains.
            for (; PR_MAX > 3 && i + 3 <= nq; i += 3)
                pv_rows_lanes(st + i, QL, JMAX(i + 2), v + k0 * ldv, ldv, o + i * hd, hd, corr + i, hd, 3);
            for (; i < nq; i++) pv_rows_lanes(st + i, QL, JMAX(i), v + k0 * ldv, ldv, o + i * hd, hd, corr + i, hd, 1);
#undef JMAX
        }
        for (int i = 0; i < nq; i++) {
            float total = 0;
            for (int r = 0; r < 16; r++) total += part[r * QL + i];   // v16_reduce_add's order
            const float inv = 1.0f / total;
            float *dst = out + (q0 - q_begin + i) * ldo;
            for (int64_t d = 0; d < hd; d++) dst[d] = o[i * hd + d] * inv;
        }
    }
}
