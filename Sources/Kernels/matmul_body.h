// Matrix product Y = X·Wᵀ with the weights in any supported ggml type.
//
// For each panel of LR_MATMUL_PANEL (32) output rows, the weights are dequantised once and
// packed k-major (pack[kk][r]), then every group of TOKENS tokens is multiplied against the
// panel by a register-blocked kernel: with AVX-512, 12 tokens × 32 rows in 24 accumulators of
// 16 lanes; on AVX2 (16 registers of 8 lanes, where that block would spill), 6 tokens × 16 rows
// in 12 accumulators, half a panel at a time. One FMA per weight vector and token per step.
// Each output is a plain sum over k in order — the same bits with either block, and whatever
// the split of panels between threads. With `accumulate`, each sum starts from Y's value instead
// of 0: the product over k in [0, K) done as [0, K1) then [K1, K) with accumulate gives the bits
// of the whole one (the sum goes on in the same order from the same float).
//
// Included once per CPU level (matmul_base.c, matmul_avx512.c) with LR_AVX512 set and LR_LEVEL
// naming the entry point.
#include "kernels.h"
#include "vector.h"
#include <string.h>

#ifndef LR_LEVEL
#error "include from matmul_base.c or matmul_avx512.c"
#endif

#if LR_AVX512
#define TOKENS 12   // tokens per call of kernel_full: 12 × 2 accumulators of 16 lanes
#else
#define TOKENS 6    // without AVX-512 (16 registers of 8 lanes): 6 × 2 accumulators of 8 lanes
#endif
#define PANEL LR_MATMUL_PANEL

// Packs rows [o0, o0+PANEL) ∩ [., o_end) of W into pack[kk*PANEL + r]; missing rows are zero.
static void pack_panel(uint32_t type, const uint8_t *w, int64_t row_bytes, int64_t k,
                       int64_t o0, int64_t o_end, float *pack, float *row) {
    for (int r = 0; r < PANEL; r++) {
        const int64_t o = o0 + r;
        if (o >= o_end) {
            for (int64_t kk = 0; kk < k; kk++) pack[kk * PANEL + r] = 0;
            continue;
        }
        const float *values = row;
        if (type == 0) values = (const float *)(w + o * row_bytes);
        else lr_dequantize_row(type, w + o * row_bytes, row, k);
        for (int64_t kk = 0; kk < k; kk++) pack[kk * PANEL + r] = values[kk];
    }
}

// Where an accumulating sum starts: the panel's row of Y itself when all PANEL outputs are
// valid, else a copy of its `valid` values padded with zeros (so the loads stay in bounds and
// the accumulators in registers — an accumulator filled lane by lane would live in memory).
static inline const float *start_row(const float *y, int valid) {
    static _Thread_local float padded[PANEL] __attribute__((aligned(64)));
    if (valid == PANEL) return y;
    for (int r = 0; r < PANEL; r++) padded[r] = r < valid ? y[r] : 0;
    return padded;
}

// Y[t][0..valid) for TOKENS tokens against one packed panel.
#if LR_AVX512
static void kernel_full(const float *restrict pack, const float *restrict x, int64_t ldx, int64_t k,
                        float *restrict y, int64_t ldy, int valid, int accumulate) {
    v16 acc[TOKENS][2];
    for (int t = 0; t < TOKENS; t++) {
        acc[t][0] = acc[t][1] = (v16){};
        if (accumulate) {
            const float *start = start_row(y + t * ldy, valid);
            acc[t][0] = v16_load(start);
            acc[t][1] = v16_load(start + 16);
        }
    }
    for (int64_t kk = 0; kk < k; kk++) {
        const v16 w0 = *(const v16 *)(pack + kk * PANEL);
        const v16 w1 = *(const v16 *)(pack + kk * PANEL + 16);
#pragma clang loop unroll(full)
        for (int t = 0; t < TOKENS; t++) {
            const v16 b = v16_splat(x[t * ldx + kk]);
            acc[t][0] = acc[t][0] + b * w0;
            acc[t][1] = acc[t][1] + b * w1;
        }
    }
    for (int t = 0; t < TOKENS; t++) {
        float *out = y + t * ldy;
        if (valid == PANEL) {
            v16_store(out, acc[t][0]);
            v16_store(out + 16, acc[t][1]);
        } else {
            for (int r = 0; r < valid; r++) out[r] = r < 16 ? acc[t][0][r] : acc[t][1][r - 16];
        }
    }
}

#else
// Y[t][0..valid) for TOKENS tokens against one packed panel, half a panel (16 rows) at a time:
// TOKENS × 2 accumulators of 8 lanes, 2·TOKENS independent FMA chains.
static void kernel_full(const float *restrict pack, const float *restrict x, int64_t ldx, int64_t k,
                        float *restrict y, int64_t ldy, int valid, int accumulate) {
    for (int h = 0; h < PANEL; h += 16) {
        v8 acc[TOKENS][2];
        for (int t = 0; t < TOKENS; t++) {
            acc[t][0] = acc[t][1] = (v8){};
            if (accumulate) {
                const float *start = start_row(y + t * ldy, valid) + h;
                acc[t][0] = *(const v8u *)start;
                acc[t][1] = *(const v8u *)(start + 8);
            }
        }
        for (int64_t kk = 0; kk < k; kk++) {
            const v8 w0 = *(const v8 *)(pack + kk * PANEL + h);
            const v8 w1 = *(const v8 *)(pack + kk * PANEL + h + 8);
#pragma clang loop unroll(full)
            for (int t = 0; t < TOKENS; t++) {
                const v8 b = v8_splat(x[t * ldx + kk]);
                acc[t][0] = acc[t][0] + b * w0;
                acc[t][1] = acc[t][1] + b * w1;
            }
        }
        for (int t = 0; t < TOKENS; t++) {
            float *out = y + t * ldy + h;
            for (int r = 0; r < 16 && h + r < valid; r++) out[r] = r < 8 ? acc[t][0][r] : acc[t][1][r - 8];
        }
    }
}
#endif

// The same for fewer than TOKENS tokens (the tail of a window).
static void kernel_tail(const float *restrict pack, const float *restrict x, int64_t ldx, int64_t k,
                        float *restrict y, int64_t ldy, int valid, int tokens, int accumulate) {
    for (int t = 0; t < tokens; t++) {
        v16 a0 = (v16){}, a1 = (v16){};
        if (accumulate) {
            const float *start = start_row(y + t * ldy, valid);
            a0 = v16_load(start);
            a1 = v16_load(start + 16);
        }
        for (int64_t kk = 0; kk < k; kk++) {
            const v16 b = v16_splat(x[t * ldx + kk]);
            a0 = a0 + b * *(const v16 *)(pack + kk * PANEL);
            a1 = a1 + b * *(const v16 *)(pack + kk * PANEL + 16);
        }
        float *out = y + t * ldy;
        for (int r = 0; r < valid; r++) out[r] = r < 16 ? a0[r] : a1[r - 16];
    }
}

void LR_LEVEL(lr_matmul)(uint32_t type, const void *w, int64_t row_bytes, int64_t k,
               const float *x, int64_t ldx, int64_t n_tokens,
               float *y, int64_t ldy, int64_t o_begin, int64_t o_end, int accumulate, float *scratch) {
    // scratch: pack (PANEL·k floats, 64-byte aligned by the caller) then one row (k floats).
    float *pack = scratch;
    float *row = scratch + PANEL * k + 16;
    for (int64_t o0 = o_begin; o0 < o_end; o0 += PANEL) {
        const int valid = (int)(o_end - o0 < PANEL ? o_end - o0 : PANEL);
        pack_panel(type, (const uint8_t *)w, row_bytes, k, o0, o_end, pack, row);
        int64_t t = 0;
        for (; t + TOKENS <= n_tokens; t += TOKENS)
            kernel_full(pack, x + t * ldx, ldx, k, y + t * ldy + o0, ldy, valid, accumulate);
        if (t < n_tokens)
            kernel_tail(pack, x + t * ldx, ldx, k, y + t * ldy + o0, ldy, valid, (int)(n_tokens - t), accumulate);
    }
}
