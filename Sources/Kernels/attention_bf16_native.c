// lr_attention_bf16_native: BF16 attention with the AVX512_BF16 instruction, chosen at run time
// by attention_bf16.c; compiled for that level whatever the build's baseline.
#if defined(__x86_64__)
#pragma clang attribute push(__attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,avx512bf16"))), apply_to = function)
#define LR_BF16_NATIVE 1
#define LR_BF16_LEVEL(name) name##_native
#include "attention_bf16_body.h"
#pragma clang attribute pop
#endif
