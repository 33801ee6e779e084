// Dequantisation of ggml blocks to float32, exactly as ggml-quants.c computes it
// (layouts: ../shared/docs/gguf-and-llamacpp.md §1.2). All arithmetic is float32.
#include "kernels.h"
#include <string.h>

float lr_f16_to_f32(uint16_t h) {
    _Float16 value;
    memcpy(&value, &h, 2);
    return (float)value;
}

static inline float bf16_to_f32(uint16_t h) {
    uint32_t bits = (uint32_t)h << 16;
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

static inline uint16_t load_u16(const uint8_t *p) { uint16_t v; memcpy(&v, p, 2); return v; }
static inline uint32_t load_u32(const uint8_t *p) { uint32_t v; memcpy(&v, p, 4); return v; }

// K-quant 6-bit scale and min of sub-block j (0..7) from the 12 packed bytes q.
static inline void scale_min_k4(int j, const uint8_t *q, uint8_t *sc, uint8_t *mn) {
    if (j < 4) {
        *sc = q[j] & 63;
        *mn = q[j + 4] & 63;
    } else {
        *sc = (q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4);
        *mn = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
    }
}

static void dequantize_q4_0(const uint8_t *b, float *y, int64_t blocks) {
    for (int64_t i = 0; i < blocks; i++, b += 18, y += 32) {
        const float d = lr_f16_to_f32(load_u16(b));
        const uint8_t *qs = b + 2;
        for (int j = 0; j < 16; j++) {
            y[j] = ((qs[j] & 0x0F) - 8) * d;
            y[j + 16] = ((qs[j] >> 4) - 8) * d;
        }
    }
}

static void dequantize_q4_1(const uint8_t *b, float *y, int64_t blocks) {
    for (int64_t i = 0; i < blocks; i++, b += 20, y += 32) {
        const float d = lr_f16_to_f32(load_u16(b));
        const float m = lr_f16_to_f32(load_u16(b + 2));
        const uint8_t *qs = b + 4;
        for (int j = 0; j < 16; j++) {
            y[j] = (qs[j] & 0xF) * d + m;
            y[j + 16] = (qs[j] >> 4) * d + m;
        }
    }
}

static void dequantize_q5_0(const uint8_t *b, float *y, int64_t blocks) {
    for (int64_t i = 0; i < blocks; i++, b += 22, y += 32) {
        const float d = lr_f16_to_f32(load_u16(b));
        const uint32_t qh = load_u32(b + 2);
        const uint8_t *qs = b + 6;
        for (int j = 0; j < 16; j++) {
            const uint8_t xh0 = ((qh >> j) << 4) & 0x10;
            const uint8_t xh1 = (qh >> (j + 12)) & 0x10;
            y[j] = ((int32_t)((qs[j] & 0x0F) | xh0) - 16) * d;
            y[j + 16] = ((int32_t)((qs[j] >> 4) | xh1) - 16) * d;
        }
    }
}

static void dequantize_q5_1(const uint8_t *b, float *y, int64_t blocks) {
    for (int64_t i = 0; i < blocks; i++, b += 24, y += 32) {
        const float d = lr_f16_to_f32(load_u16(b));
        const float m = lr_f16_to_f32(load_u16(b + 2));
        const uint32_t qh = load_u32(b + 4);
        const uint8_t *qs = b + 8;
        for (int j = 0; j < 16; j++) {
            const uint8_t xh0 = ((qh >> j) << 4) & 0x10;
            const uint8_t xh1 = (qh >> (j + 12)) & 0x10;
            y[j] = ((qs[j] & 0x0F) | xh0) * d + m;
            y[j + 16] = ((qs[j] >> 4) | xh1) * d + m;
        }
    }
}

static void dequantize_q8_0(const uint8_t *b, float *y, int64_t blocks) {
    for (int64_t i = 0; i < blocks; i++, b += 34, y += 32) {
        const float d = lr_f16_to_f32(load_u16(b));
        const int8_t *qs = (const int8_t *)(b + 2);
        for (int j = 0; j < 32; j++) y[j] = qs[j] * d;
    }
}

static void dequantize_q4_K(const uint8_t *b, float *y, int64_t blocks) {
    for (int64_t i = 0; i < blocks; i++, b += 144) {
        const float d = lr_f16_to_f32(load_u16(b));
        const float dmin = lr_f16_to_f32(load_u16(b + 2));
        const uint8_t *scales = b + 4;
        const uint8_t *q = b + 16;
        for (int c = 0; c < 4; c++, q += 32) {
            uint8_t sc, m;
            scale_min_k4(2 * c, scales, &sc, &m);
            const float d1 = d * sc, m1 = dmin * m;
            scale_min_k4(2 * c + 1, scales, &sc, &m);
            const float d2 = d * sc, m2 = dmin * m;
            for (int l = 0; l < 32; l++) *y++ = d1 * (q[l] & 0xF) - m1;
            for (int l = 0; l < 32; l++) *y++ = d2 * (q[l] >> 4) - m2;
        }
    }
}

static void dequantize_q5_K(const uint8_t *b, float *y, int64_t blocks) {
    for (int64_t i = 0; i < blocks; i++, b += 176) {
        const float d = lr_f16_to_f32(load_u16(b));
        const float dmin = lr_f16_to_f32(load_u16(b + 2));
        const uint8_t *scales = b + 4;
        const uint8_t *qh = b + 16;
        const uint8_t *ql = b + 48;
        uint8_t u1 = 1, u2 = 2;
        for (int c = 0; c < 4; c++, ql += 32, u1 <<= 2, u2 <<= 2) {
            uint8_t sc, m;
            scale_min_k4(2 * c, scales, &sc, &m);
            const float d1 = d * sc, m1 = dmin * m;
            scale_min_k4(2 * c + 1, scales, &sc, &m);
            const float d2 = d * sc, m2 = dmin * m;
            for (int l = 0; l < 32; l++) *y++ = d1 * ((ql[l] & 0xF) + (qh[l] & u1 ? 16 : 0)) - m1;
            for (int l = 0; l < 32; l++) *y++ = d2 * ((ql[l] >> 4) + (qh[l] & u2 ? 16 : 0)) - m2;
        }
    }
}

static void dequantize_q6_K(const uint8_t *b, float *y, int64_t blocks) {
    for (int64_t i = 0; i < blocks; i++, b += 210) {
        const float d = lr_f16_to_f32(load_u16(b + 208));
        const uint8_t *ql = b;
        const uint8_t *qh = b + 128;
        const int8_t *sc = (const int8_t *)(b + 192);
        for (int h = 0; h < 2; h++, ql += 64, qh += 32, sc += 8, y += 128) {
            for (int l = 0; l < 32; l++) {
                const int is = l / 16;
                const int8_t q1 = (int8_t)((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32;
                const int8_t q2 = (int8_t)((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
                const int8_t q3 = (int8_t)((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
                const int8_t q4 = (int8_t)((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
                y[l] = d * sc[is + 0] * q1;
                y[l + 32] = d * sc[is + 2] * q2;
                y[l + 64] = d * sc[is + 4] * q3;
                y[l + 96] = d * sc[is + 6] * q4;
            }
        }
    }
}

int lr_dequantize_row(uint32_t type, const void *src, float *dst, int64_t n) {
    const uint8_t *b = (const uint8_t *)src;
    switch (type) {
    case 0: memcpy(dst, src, (size_t)n * 4); return 0;
    case 1: for (int64_t i = 0; i < n; i++) dst[i] = lr_f16_to_f32(load_u16(b + 2 * i)); return 0;
    case 30: for (int64_t i = 0; i < n; i++) dst[i] = bf16_to_f32(load_u16(b + 2 * i)); return 0;
    case 2: dequantize_q4_0(b, dst, n / 32); return 0;
    case 3: dequantize_q4_1(b, dst, n / 32); return 0;
    case 6: dequantize_q5_0(b, dst, n / 32); return 0;
    case 7: dequantize_q5_1(b, dst, n / 32); return 0;
    case 8: dequantize_q8_0(b, dst, n / 32); return 0;
    case 12: dequantize_q4_K(b, dst, n / 256); return 0;
    case 13: dequantize_q5_K(b, dst, n / 256); return 0;
    case 14: dequantize_q6_K(b, dst, n / 256); return 0;
    default: return -1;
    }
}
