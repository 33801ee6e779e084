// lr_matmul_avx512: the matrix product for CPUs with AVX-512 (F, BW, DQ, VL), chosen at run
// time by dispatch.c; compiled for that level whatever the build's baseline.
#if defined(__x86_64__)
#pragma clang attribute push(__attribute__((target("avx512f,avx512bw,avx512dq,avx512vl"))), apply_to = function)
#define LR_AVX512 1
#define LR_LEVEL(name) name##_avx512
#include "matmul_body.h"
#pragma clang attribute pop
#endif
