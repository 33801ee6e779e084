// The FP32 FMA peak of one core, for benchmarks to print beside what a kernel reaches: twelve
// independent chains of FMAs on full-width vectors (enough to cover the latency on current x86
// cores), at the level the kernels run at.
#include "kernels.h"
#include "vector.h"

#define CHAINS 12

static float fma_chains_base(int64_t iterations) {
    v8 a[CHAINS];
    for (int c = 0; c < CHAINS; c++) a[c] = v8_splat(1.0f + c * 1e-3f);
    const v8 x = v8_splat(0.999999f), y = v8_splat(1e-7f);
    for (int64_t i = 0; i < iterations; i++) {
        for (int c = 0; c < CHAINS; c++) a[c] = a[c] * x + y;
        __asm__ volatile("" : "+x"(a[0]), "+x"(a[1]), "+x"(a[2]), "+x"(a[3]));
    }
    float s = 0;
    for (int c = 0; c < CHAINS; c++) s += a[c][0];
    return s;
}

#if defined(__x86_64__)
#pragma clang attribute push(__attribute__((target("avx512f,avx512bw,avx512dq,avx512vl"))), apply_to = function)
static float fma_chains_avx512(int64_t iterations) {
    // (vector.h's helpers are compiled for the baseline: lane by lane here.)
    v16 a[CHAINS], x, y;
    for (int l = 0; l < 16; l++) {
        for (int c = 0; c < CHAINS; c++) a[c][l] = 1.0f + c * 1e-3f;
        x[l] = 0.999999f;
        y[l] = 1e-7f;
    }
    for (int64_t i = 0; i < iterations; i++) {
        for (int c = 0; c < CHAINS; c++) a[c] = a[c] * x + y;
        __asm__ volatile("" : "+v"(a[0]), "+v"(a[1]), "+v"(a[2]), "+v"(a[3]));
    }
    float s = 0;
    for (int c = 0; c < CHAINS; c++) s += a[c][0];
    return s;
}
#pragma clang attribute pop
#endif

int64_t lr_fma_chains_flops_per_iteration(void) {
    return lr_kernels_level() == LR_KERNELS_AVX512 ? CHAINS * 16 * 2 : CHAINS * 8 * 2;
}

float lr_fma_chains(int64_t iterations) {
#if defined(__x86_64__)
    if (lr_kernels_level() == LR_KERNELS_AVX512) return fma_chains_avx512(iterations);
#endif
    return fma_chains_base(iterations);
}
