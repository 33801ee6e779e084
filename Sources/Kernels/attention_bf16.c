// Attention with BF16 inputs (attention_bf16_body.h): which build runs (the AVX512_BF16 one
// where the CPU has the instruction, the same operations in FMAs everywhere else), and the
// rounding and packing of keys and values both share.
#include "kernels.h"
#include <math.h>
#include <string.h>

void lr_attention_bf16_emulated(const float *q, int64_t ldq, const uint16_t *kp, const uint16_t *vp, float *out,
                                int64_t ldo, int64_t hd, int64_t q_begin, int64_t q_end, float scale, float *scratch);
#if defined(__x86_64__)
void lr_attention_bf16_native(const float *q, int64_t ldq, const uint16_t *kp, const uint16_t *vp, float *out,
                              int64_t ldo, int64_t hd, int64_t q_begin, int64_t q_end, float scale, float *scratch);
#endif

uint16_t lr_f32_to_bf16(float x) {
    uint32_t bits;
    memcpy(&bits, &x, 4);
    if ((bits & 0x7f800000u) == 0) return (uint16_t)((bits >> 16) & 0x8000u);   // ±0 and subnormals: ±0
    if ((bits & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((bits >> 16) | 0x40u);   // NaN stays a (quiet) NaN
    return (uint16_t)((bits + 0x7fffu + ((bits >> 16) & 1u)) >> 16);
}

void lr_round_bf16(const float *x, uint16_t *y, int64_t n) {
    for (int64_t i = 0; i < n; i++) y[i] = lr_f32_to_bf16(x[i]);
}

int64_t lr_attention_bf16_packed_elements(int64_t n, int64_t head_dim) {
    return (n + 63) / 64 * 64 * head_dim;
}

void lr_pack_keys_bf16(const float *k, int64_t ldk, int64_t begin, int64_t end, int64_t hd, uint16_t *kp) {
    const int64_t padded = (end + 63) / 64 * 64;
    for (int64_t j = begin; j < padded; j++) {
        uint16_t *tile = kp + (j / 64) * 64 * hd;
        const int64_t lane = j % 64;
        const float *row = k + (j - begin) * ldk;
        for (int64_t p = 0; p < hd / 2; p++) {
            tile[p * 128 + 2 * lane] = j < end ? lr_f32_to_bf16(row[2 * p]) : 0;
            tile[p * 128 + 2 * lane + 1] = j < end ? lr_f32_to_bf16(row[2 * p + 1]) : 0;
        }
    }
}

void lr_pack_values_bf16(const float *v, int64_t ldv, int64_t begin, int64_t end, int64_t hd, uint16_t *vp) {
    const int64_t padded = (end + 63) / 64 * 64;
    for (int64_t j = begin; j < padded; j++) {
        uint16_t *pair = vp + (j / 2) * 2 * hd + (j % 2);
        const float *row = v + (j - begin) * ldv;
        for (int64_t d = 0; d < hd; d++) pair[2 * d] = j < end ? lr_f32_to_bf16(row[d]) : 0;
    }
}

int64_t lr_attention_bf16_scratch_floats(int64_t head_dim) {
    // S, O, L, m, the new m, correction, then Q, P and a zero P row (BF16 for the instruction, a
    // float each for its emulation: room for the larger), a spare output row, and alignment slack.
    return 64 * 64 + 64 * head_dim + 64 * 16 + 3 * 64 + (64 * head_dim + 64 * 64 + 64) + head_dim + 64;
}

int lr_bf16_native_available(void) {
#if defined(__x86_64__)
    __builtin_cpu_init();
    return lr_kernels_level() == LR_KERNELS_AVX512 && __builtin_cpu_supports("avx512bf16");
#else
    return 0;
#endif
}

void lr_attention_bf16_at(int native, const float *q, int64_t ldq, const uint16_t *kp, const uint16_t *vp,
                          float *out, int64_t ldo, int64_t head_dim, int64_t q_begin, int64_t q_end, float scale,
                          float *scratch) {
#if defined(__x86_64__)
    if (native) {
        lr_attention_bf16_native(q, ldq, kp, vp, out, ldo, head_dim, q_begin, q_end, scale, scratch);
        return;
    }
#endif
    (void)native;
    lr_attention_bf16_emulated(q, ldq, kp, vp, out, ldo, head_dim, q_begin, q_end, scale, scratch);
}

void lr_attention_bf16(const float *q, int64_t ldq, const uint16_t *kp, const uint16_t *vp, float *out, int64_t ldo,
                       int64_t head_dim, int64_t q_begin, int64_t q_end, float scale, float *scratch) {
    lr_attention_bf16_at(lr_bf16_native_available(), q, ldq, kp, vp, out, ldo, head_dim, q_begin, q_end, scale, scratch);
}
