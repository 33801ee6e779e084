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

/// lr_matmul continuing each output's sum: Y[t][o] += Σ_k X[t][k] · W[o][k], the sum going on
/// from Y's value in the same order, so a product split over k (W's columns [0, K1) by lr_matmul,
/// then [K1, K) by lr_matmul_add) gives the bits of the whole one.
void lr_matmul_add(uint32_t type, const void *w, int64_t row_bytes, int64_t k,
                   const float *x, int64_t ldx, int64_t n_tokens,
                   float *y, int64_t ldy, int64_t o_begin, int64_t o_end, float *scratch);

/// Returns the heap's free pages to the system (glibc's malloc_trim; nothing elsewhere): the
/// forward pass calls it before allocating a window's buffers, so what loading freed does not
/// stay in the process's memory beside them.
void lr_release_free_memory(void);

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
/// q and out point at query q_begin's row (of the head), k and v at key 0's; rows are
/// ldq/ldk/ldv/ldo floats apart. A caller holding only some queries passes their first.
/// `scratch` (64-byte aligned: the AVX-512 level stores whole 16-float vectors there) holds
/// lr_attention_scratch_floats(head_dim) floats.
void lr_attention(const float *q, int64_t ldq, const float *k, int64_t ldk,
                  const float *v, int64_t ldv, float *out, int64_t ldo,
                  int64_t head_dim, int64_t q_begin, int64_t q_end, float scale, float *scratch);
int64_t lr_attention_scratch_floats(int64_t head_dim);
/// Queries lr_attention takes best in one call (the forward pass deals query blocks of this
/// size to its threads): 192 where the queries-in-lanes kernel runs (it reuses each key tile for
/// that many), else 64.
int64_t lr_attention_query_block(int64_t head_dim);
#define LR_ATTENTION_LANES_QUERIES 192
/// lr_attention one query row at a time at the baseline level: the kernel whose operations every
/// level follows, for tests (where lr_attention takes another kernel, it must give these bits).
void lr_attention_rows(const float *q, int64_t ldq, const float *k, int64_t ldk,
                       const float *v, int64_t ldv, float *out, int64_t ldo,
                       int64_t head_dim, int64_t q_begin, int64_t q_end, float scale, float *scratch);
/// lr_attention and lr_matmul at a given level (which the CPU must have), for tests and benchmarks.
void lr_attention_at(int level, const float *q, int64_t ldq, const float *k, int64_t ldk,
                     const float *v, int64_t ldv, float *out, int64_t ldo,
                     int64_t head_dim, int64_t q_begin, int64_t q_end, float scale, float *scratch);
/// `accumulate` 1: lr_matmul_add's, 0: lr_matmul's.
void lr_matmul_at(int level, uint32_t type, const void *w, int64_t row_bytes, int64_t k,
                  const float *x, int64_t ldx, int64_t n_tokens,
                  float *y, int64_t ldy, int64_t o_begin, int64_t o_end, int accumulate, float *scratch);

/// Attention with BF16 inputs and FP32 accumulation (scores, softmax, sums and output in FP32):
/// lr_attention's result from keys and values packed by lr_pack_keys_bf16 / lr_pack_values_bf16
/// (`kp`, `vp`: the head's keys and values from the first one; q and out at query q_begin's
/// row, as there) and queries rounded to BF16.
/// Runs the AVX512_BF16 instruction where the CPU has it (and LONGROPE_KERNELS does not force
/// avx2), the same operations in FMAs elsewhere. head_dim must be a multiple of 32.
/// `scratch` (64-byte aligned) holds lr_attention_bf16_scratch_floats(head_dim) floats.
void lr_attention_bf16(const float *q, int64_t ldq, const uint16_t *kp, const uint16_t *vp,
                       float *out, int64_t ldo, int64_t head_dim, int64_t q_begin, int64_t q_end,
                       float scale, float *scratch);
int64_t lr_attention_bf16_scratch_floats(int64_t head_dim);
/// lr_attention_bf16 with the instruction (`native` 1; the CPU must have it) or without (0).
void lr_attention_bf16_at(int native, const float *q, int64_t ldq, const uint16_t *kp, const uint16_t *vp,
                          float *out, int64_t ldo, int64_t head_dim, int64_t q_begin, int64_t q_end,
                          float scale, float *scratch);
/// 1 when lr_attention_bf16 runs the AVX512_BF16 instruction in this process.
int lr_bf16_native_available(void);
/// uint16 elements of one head's packed keys (or values) for n tokens: n rounded up to 64, × head_dim.
int64_t lr_attention_bf16_packed_elements(int64_t n, int64_t head_dim);
/// Packs keys [begin, end) of one head into kp (the head's packed keys from key 0) in BF16, tiles
/// of 64 keys each laid out as [head_dim/2][64] pairs (k[j][2p], k[j][2p+1]); `k` holds key
/// `begin` (rows ldk floats apart). Keys from `end` to the end of its tile become zero, so a
/// window can be packed in one call or in ascending chunks (a later chunk overwrites the zeros).
void lr_pack_keys_bf16(const float *k, int64_t ldk, int64_t begin, int64_t end, int64_t head_dim, uint16_t *kp);
/// Packs values [begin, end) of one head into vp in BF16 as [n/2][head_dim] pairs (v[2i][d],
/// v[2i+1][d]); `v` holds value `begin`; the rest of the last tile of 64 becomes zero.
void lr_pack_values_bf16(const float *v, int64_t ldv, int64_t begin, int64_t end, int64_t head_dim, uint16_t *vp);
/// x to BF16, to nearest (ties to even); subnormals become ±0 (as the instruction reads them).
uint16_t lr_f32_to_bf16(float x);
void lr_round_bf16(const float *x, uint16_t *y, int64_t n);

/// Twelve independent chains of FMAs on full-width vectors at the level in use, `iterations`
/// times (lr_fma_chains_flops_per_iteration() flops each): time it for the core's FP32 FMA peak.
float lr_fma_chains(int64_t iterations);
int64_t lr_fma_chains_flops_per_iteration(void);

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

/// One row's softmax statistics, carried across tiles of its logits (the vocabulary a tile at
/// a time, so no row of logits is ever whole in memory): the largest logit so far (float),
/// the sum of exp(logit − max) in double, the target's logit and where the largest logit is
/// (the first on ties). With the whole row as one tile, lr_negative_log_likelihood's bits.
typedef struct {
    float max;
    double sum;
    float target_logit;
    int64_t best;
} lr_softmax_row;

/// An empty row: nothing folded yet.
void lr_softmax_row_init(lr_softmax_row *row);

/// Folds logits [first, first + n) of the row in: `tile` holds them, `target` is the
/// vocabulary index whose logit the NLL needs. Tiles come in ascending order.
void lr_softmax_row_fold(lr_softmax_row *row, const float *tile, int64_t first, int64_t n, int64_t target);

/// −log softmax[target] over everything folded.
double lr_softmax_row_nll(const lr_softmax_row *row);

/// y[i] += x[i].
void lr_add(float *y, const float *x, int64_t n);

#endif
