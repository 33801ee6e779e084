// lr_attention_base: attention at the build's baseline level (x86-64-v3 — AVX2, FMA — on x86-64).
#define LR_AVX512 0
#define LR_LEVEL(name) name##_base
#include "attention_body.h"
