// 16-lane float vectors (one AVX-512 register, two AVX2 registers), 8-lane ones (one AVX2
// register) and a vectorised exp shared by the kernels.
#ifndef LONGROPE_VECTOR_H
#define LONGROPE_VECTOR_H
#include <math.h>
#include <stdint.h>

typedef float v16 __attribute__((vector_size(64), aligned(64)));
typedef float v16u __attribute__((vector_size(64), aligned(4)));   // unaligned access
typedef float v8 __attribute__((vector_size(32), aligned(32)));
typedef float v8u __attribute__((vector_size(32), aligned(4)));
typedef int32_t i16v __attribute__((vector_size(64), aligned(64)));
typedef int32_t i16vu __attribute__((vector_size(64), aligned(4)));   // unaligned access
typedef int32_t i8v __attribute__((vector_size(32), aligned(32)));
typedef uint32_t u16v __attribute__((vector_size(64), aligned(64)));

// Broadcasts. Written lane by lane, not as `(v16){} + x`: that is an addition (0 + −0 is +0, so
// the compiler must keep it), a scalar add before every broadcast in the inner loops.
static inline v16 v16_splat(float x) { return (v16){x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x}; }
static inline v8 v8_splat(float x) { return (v8){x, x, x, x, x, x, x, x}; }
static inline v16 v16_load(const float *p) { return *(const v16u *)p; }
static inline void v16_store(float *p, v16 x) { *(v16u *)p = x; }

/// max and min as x86's maxps and minps define them: a > b ? a : b (a < b ? a : b), so b when
/// either is NaN or both are zero. The compiler makes each one instruction; the IEEE maxNum of
/// __builtin_elementwise_max adds a NaN compare and a blend per vector, and __builtin_reduce_max
/// becomes a serial chain of scalar max, compare and blend — together a third of the BF16 kernel's
/// softmax. For the values the kernels see (no NaN) both give the same results.
static inline v16 v16_max(v16 a, v16 b) {
    const i16v gt = a > b;
    return (v16)(((i16v)a & gt) | ((i16v)b & ~gt));
}
static inline v16 v16_min(v16 a, v16 b) {
    const i16v lt = a < b;
    return (v16)(((i16v)a & lt) | ((i16v)b & ~lt));
}

static inline v8 v8_max(v8 a, v8 b) {
    const i8v gt = a > b;
    return (v8)(((i8v)a & gt) | ((i8v)b & ~gt));
}
static inline v8 v8_min(v8 a, v8 b) {
    const i8v lt = a < b;
    return (v8)(((i8v)a & lt) | ((i8v)b & ~lt));
}

/// The largest lane (v16_max's rule), as a tree of halvings.
static inline float v16_reduce_max(v16 x) {
    x = v16_max(x, __builtin_shufflevector(x, x, 8, 9, 10, 11, 12, 13, 14, 15, 0, 1, 2, 3, 4, 5, 6, 7));
    x = v16_max(x, __builtin_shufflevector(x, x, 4, 5, 6, 7, 0, 1, 2, 3, 12, 13, 14, 15, 8, 9, 10, 11));
    x = v16_max(x, __builtin_shufflevector(x, x, 2, 3, 0, 1, 6, 7, 4, 5, 10, 11, 8, 9, 14, 15, 12, 13));
    x = v16_max(x, __builtin_shufflevector(x, x, 1, 0, 3, 2, 5, 4, 7, 6, 9, 8, 11, 10, 13, 12, 15, 14));
    return x[0];
}

/// Sum of the lanes, in a fixed order.
static inline float v16_reduce_add(v16 x) {
    float s = 0;
    for (int i = 0; i < 16; i++) s += x[i];
    return s;
}

/// x rounded to BF16 (to nearest, ties to even), kept in the high half of each lane (the low
/// half zero): reinterpreted as floats, the rounded values. For finite x; NaN and ±inf do not
/// occur where it is used (probabilities in [0, 1]).
static inline i16v bf16_round(v16 x) {
    const u16v bits = (u16v)x;
    return (i16v)((bits + 0x7fffu + ((bits >> 16) & 1u)) & 0xffff0000u);
}

/// exp(x) with about 1 ulp of error; exactly 0 for x below −87.3 (including −inf), on 16 lanes
/// (v16_exp) or 8 (v8_exp). One body for both, so the two take the same operations lane for
/// lane and give the same bits. On AVX2 a v16 is two registers, and v16_exp's constants and
/// temporaries do not fit the sixteen registers (the compiler reloads its constants at every
/// call); eight lanes at a time they do (attention_lanes.h).
#define LR_DEFINE_EXP(NAME, V, I, SPLAT, MAX, MIN)                                  \
    static inline V NAME(V x) {                                                     \
        const V lo = SPLAT(-87.3f), hi = SPLAT(88.37f);                             \
        I underflow = x < lo;                                                       \
        V xc = MIN(MAX(x, lo), hi);                                                 \
        V fx = __builtin_elementwise_floor(xc * 1.44269504088896341f + 0.5f);       \
        V r = xc - fx * 0.693359375f;                                               \
        r = r - fx * -2.12194440e-4f;                                               \
        V y = SPLAT(1.9875691500e-4f);                                              \
        y = y * r + 1.3981999507e-3f;                                               \
        y = y * r + 8.3334519073e-3f;                                               \
        y = y * r + 4.1665795894e-2f;                                               \
        y = y * r + 1.6666665459e-1f;                                               \
        y = y * r + 5.0000001201e-1f;                                               \
        y = y * (r * r) + r + 1.0f;                                                 \
        I n = __builtin_convertvector(fx, I);                                       \
        I bits = (n + 127) << 23;                                                   \
        V result = y * (V)bits;                                                     \
        return (V)((I)result & ~underflow);                                         \
    }
LR_DEFINE_EXP(v16_exp, v16, i16v, v16_splat, v16_max, v16_min)
LR_DEFINE_EXP(v8_exp, v8, i8v, v8_splat, v8_max, v8_min)
#undef LR_DEFINE_EXP

/// Where both attention kernels' softmax starts, for one row of 64 scores: keys j ≥ jmax masked
/// to −inf in acc, and the row's max returned (−inf when jmax ≤ 0: the row sees no key).
static inline float masked_row_max(v16 acc[4], int jmax) {
    if (jmax < 64) {
        const i16v iota = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};
        const i16v neg_inf = (i16v)v16_splat(-INFINITY);
        for (int c = 0; c < 4; c++) {
            const i16v hidden = (iota + c * 16) >= jmax;
            acc[c] = (v16)(((i16v)acc[c] & ~hidden) | (neg_inf & hidden));
        }
    }
    return v16_reduce_max(v16_max(v16_max(acc[0], acc[1]), v16_max(acc[2], acc[3])));
}

/// The first half of the FP32 kernel's online softmax for one row of 64 scores: keys j ≥ jmax
/// are masked to −inf in acc, the running max *m becomes the row's new max, and the factor the
/// row's output and sums so far must be scaled by is returned (0 for a first row).
static inline float softmax_rescale(v16 acc[4], int jmax, float *restrict m) {
    const float row_max = masked_row_max(acc, jmax);
    const float new_max = row_max > *m ? row_max : *m;
    const float correction = *m == -INFINITY ? 0.0f : expf(*m - new_max);
    *m = new_max;
    return correction;
}
#endif
