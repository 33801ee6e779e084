// Hand-written numeric kernels for the evaluator, compiled with -O3 for the build's baseline
// (x86-64-v3 on x86-64); the matrix product and attention also for AVX-512, chosen at run time.
// Every kernel computes each output element with a fixed sequence of operations, so results
// do not depend on how callers split the work between threads.
#ifndef LONGROPE_KERNELS_H
#define LONGROPE_KERNELS_H

#include <stdint.h>

/// Rows of a weight matrix handled together by lr_matmul (the packed panel's width).
#define LR_MATMUL_PANEL 32

/// IEEE binary16 to float32.
float lr_f16_to_f32(uint16_t h);

/// Dequantises `n` elements (a multiple of the type's block size) of ggml type `type` at `src`
/// into `dst`. Returns 0, or -1 for an unsupported type.
int lr_dequantize_row(uint32_t type, const void *src, float *dst, int64_t n);

/// Y[t][o] = Σ_k X[t][k] · W[o][k] for t in [0, n_tokens) and o in [o_begin, o_end).
/// W is row-major in ggml type `type`, rows `row_bytes` apart, each row `k` elements.
/// X rows are `ldx` floats apart, Y rows `ldy`. `scratch` holds LR_MATMUL_PANEL·(k+16) + k floats
/// (the packed panel, then one dequantised row).
void lr_matmul(uint32_t type, const void *w, int64_t row_bytes, int64_t k,
               const float *x, int64_t ldx, int64_t n_tokens,
               float *y, int64_t ldy, int64_t o_begin, int64_t o_end, float *scratch);

/// The CPU levels the hot kernels are built for. Every level gives the same bits.
enum {
    LR_KERNELS_BASE = 0,     ///< the build's baseline: AVX2 + FMA on x86-64 ("avx2"), else "generic"
    LR_KERNELS_AVX512 = 1,   ///< AVX-512 F/BW/DQ/VL ("avx512"), x86-64 only
};
/// 1 when this CPU can run `level`.
int lr_kernels_available(int level);
/// The level in use: the best available, unless the environment variable LONGROPE_KERNELS
/// named a lower one when the program started.
int lr_kernels_level(void);
/// "avx2", "avx512" or "generic".
const char *lr_kernels_name(int level);

/// Causal attention of one head for queries [q_begin, q_end) against keys [0, q_end):
/// out[i] = Σ_{j≤i} softmax_j(scale · q_i·k_j) v_j, computed in tiles with an online softmax.
/// q, k, v, out point at the head's first element; rows are ldq/ldk/ldv/ldo floats apart.
/// `scratch` holds lr_attention_scratch_floats(head_dim) floats.
void lr_attention(const float *q, int64_t ldq, const float *k, int64_t ldk,
                  const float *v, int64_t ldv, float *out, int64_t ldo,
                  int64_t head_dim, int64_t q_begin, int64_t q_end, float scale, float *scratch);
int64_t lr_attention_scratch_floats(int64_t head_dim);
/// lr_attention and lr_matmul at a given level (which the CPU must have), for tests and benchmarks.
void lr_attention_at(int level, const float *q, int64_t ldq, const float *k, int64_t ldk,
                     const float *v, int64_t ldv, float *out, int64_t ldo,
                     int64_t head_dim, int64_t q_begin, int64_t q_end, float scale, float *scratch);
void lr_matmul_at(int level, uint32_t type, const void *w, int64_t row_bytes, int64_t k,
                  const float *x, int64_t ldx, int64_t n_tokens,
                  float *y, int64_t ldy, int64_t o_begin, int64_t o_end, float *scratch);

/// out[i] = x[i] / sqrt(mean(x²) + eps) · w[i]; the sum of squares is accumulated in double.
void lr_rmsnorm(const float *x, const float *w, float *out, int64_t n, float eps);

/// gate[i] = silu(gate[i]) · up[i].
void lr_swiglu(float *gate, const float *up, int64_t n);

/// Rotates adjacent pairs (2j, 2j+1) of each head (llama's GGUF layout) or half-split pairs
/// (j, j + d/2) (NEOX, qwen2) of one token's `n_heads` heads by cos/sin[j], j < head_dim/2.
void lr_rope(float *x, int64_t n_heads, int64_t head_dim, const float *cos_table,
             const float *sin_table, int neox);

/// −log softmax(logits)[target], with the max in float and the sum of exponentials in double,
/// as llama-perplexity computes it.
double lr_negative_log_likelihood(const float *logits, int64_t n_vocab, int32_t target);

/// The index of the largest logit (the first one on ties).
int64_t lr_argmax(const float *logits, int64_t n_vocab);

/// y[i] += x[i].
void lr_add(float *y, const float *x, int64_t n);

#endif
