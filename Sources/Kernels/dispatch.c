// Which build of the hot kernels (attention, matrix product) runs. The package is compiled for
// a baseline every node of a cluster has (x86-64-v3: AVX2, FMA); the kernels are compiled a
// second time for AVX-512, and the level is chosen once, when the program loads, from the CPU's
// features — so one binary runs on every x86-64 node and uses what each one has. The
// environment variable LONGROPE_KERNELS=avx2 forces the baseline (to compare, or to rule the
// AVX-512 build out). Both levels give the same bits (see attention_body.h, matmul_body.h).
#include "kernels.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void lr_attention_base(const float *q, int64_t ldq, const float *k, int64_t ldk, const float *v, int64_t ldv,
                       float *out, int64_t ldo, int64_t head_dim, int64_t q_begin, int64_t q_end, float scale,
                       float *scratch);
int64_t lr_attention_query_block_base(int64_t head_dim);
void lr_matmul_base(uint32_t type, const void *w, int64_t row_bytes, int64_t k, const float *x, int64_t ldx,
                    int64_t n_tokens, float *y, int64_t ldy, int64_t o_begin, int64_t o_end, int accumulate,
                    float *scratch);
#if defined(__x86_64__)
void lr_attention_avx512(const float *q, int64_t ldq, const float *k, int64_t ldk, const float *v, int64_t ldv,
                         float *out, int64_t ldo, int64_t head_dim, int64_t q_begin, int64_t q_end, float scale,
                         float *scratch);
int64_t lr_attention_query_block_avx512(int64_t head_dim);
void lr_matmul_avx512(uint32_t type, const void *w, int64_t row_bytes, int64_t k, const float *x, int64_t ldx,
                      int64_t n_tokens, float *y, int64_t ldy, int64_t o_begin, int64_t o_end, int accumulate,
                      float *scratch);
#endif

int lr_kernels_available(int level) {
    if (level == LR_KERNELS_BASE) return 1;
#if defined(__x86_64__)
    if (level == LR_KERNELS_AVX512) {
        __builtin_cpu_init();
        return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
               __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl");
    }
#endif
    return 0;
}

const char *lr_kernels_name(int level) {
#if defined(__x86_64__)
    return level == LR_KERNELS_AVX512 ? "avx512" : "avx2";
#else
    (void)level;
    return "generic";
#endif
}

static int chosen = LR_KERNELS_BASE;

// Runs before main: the best level the CPU has, or the one LONGROPE_KERNELS names.
__attribute__((constructor)) static void choose_level(void) {
    const char *forced = getenv("LONGROPE_KERNELS");
    const int best = lr_kernels_available(LR_KERNELS_AVX512) ? LR_KERNELS_AVX512 : LR_KERNELS_BASE;
    chosen = best;
    if (forced == NULL || forced[0] == 0) return;
    for (int level = LR_KERNELS_BASE; level <= LR_KERNELS_AVX512; level++) {
        if (strcmp(forced, lr_kernels_name(level)) != 0) continue;
        if (lr_kernels_available(level)) chosen = level;
        else fprintf(stderr, "longrope: LONGROPE_KERNELS=%s, but this CPU lacks it; using %s\n", forced, lr_kernels_name(best));
        return;
    }
    fprintf(stderr, "longrope: LONGROPE_KERNELS=%s is not a level of this build (%s%s); using %s\n", forced,
            lr_kernels_name(LR_KERNELS_BASE), lr_kernels_available(LR_KERNELS_AVX512) ? ", avx512" : "", lr_kernels_name(best));
}

int lr_kernels_level(void) { return chosen; }

void lr_attention_at(int level, const float *q, int64_t ldq, const float *k, int64_t ldk, const float *v,
                     int64_t ldv, float *out, int64_t ldo, int64_t head_dim, int64_t q_begin, int64_t q_end,
                     float scale, float *scratch) {
#if defined(__x86_64__)
    if (level == LR_KERNELS_AVX512) {
        lr_attention_avx512(q, ldq, k, ldk, v, ldv, out, ldo, head_dim, q_begin, q_end, scale, scratch);
        return;
    }
#endif
    (void)level;
    lr_attention_base(q, ldq, k, ldk, v, ldv, out, ldo, head_dim, q_begin, q_end, scale, scratch);
}

int64_t lr_attention_query_block(int64_t head_dim) {
#if defined(__x86_64__)
    if (chosen == LR_KERNELS_AVX512) return lr_attention_query_block_avx512(head_dim);
#endif
    return lr_attention_query_block_base(head_dim);
}

void lr_attention(const float *q, int64_t ldq, const float *k, int64_t ldk, const float *v, int64_t ldv,
                  float *out, int64_t ldo, int64_t head_dim, int64_t q_begin, int64_t q_end, float scale,
                  float *scratch) {
    lr_attention_at(chosen, q, ldq, k, ldk, v, ldv, out, ldo, head_dim, q_begin, q_end, scale, scratch);
}

void lr_matmul_at(int level, uint32_t type, const void *w, int64_t row_bytes, int64_t k, const float *x,
                  int64_t ldx, int64_t n_tokens, float *y, int64_t ldy, int64_t o_begin, int64_t o_end,
                  int accumulate, float *scratch) {
#if defined(__x86_64__)
    if (level == LR_KERNELS_AVX512) {
        lr_matmul_avx512(type, w, row_bytes, k, x, ldx, n_tokens, y, ldy, o_begin, o_end, accumulate, scratch);
        return;
    }
#endif
    (void)level;
    lr_matmul_base(type, w, row_bytes, k, x, ldx, n_tokens, y, ldy, o_begin, o_end, accumulate, scratch);
}

void lr_matmul(uint32_t type, const void *w, int64_t row_bytes, int64_t k, const float *x, int64_t ldx,
               int64_t n_tokens, float *y, int64_t ldy, int64_t o_begin, int64_t o_end, float *scratch) {
    lr_matmul_at(chosen, type, w, row_bytes, k, x, ldx, n_tokens, y, ldy, o_begin, o_end, 0, scratch);
}

void lr_matmul_add(uint32_t type, const void *w, int64_t row_bytes, int64_t k, const float *x, int64_t ldx,
                   int64_t n_tokens, float *y, int64_t ldy, int64_t o_begin, int64_t o_end, float *scratch) {
    lr_matmul_at(chosen, type, w, row_bytes, k, x, ldx, n_tokens, y, ldy, o_begin, o_end, 1, scratch);
}
