// Row-wise steps of the forward pass: RMSNorm, SwiGLU, RoPE, the loss, residual add.
#include "kernels.h"
#include "vector.h"
#include <math.h>

void lr_rmsnorm(const float *x, const float *w, float *out, int64_t n, float eps) {
    double sum = 0;
    for (int64_t i = 0; i < n; i++) sum += (double)(x[i] * x[i]);
    const float mean = (float)(sum / (double)n);
    const float scale = 1.0f / sqrtf(mean + eps);
    for (int64_t i = 0; i < n; i++) out[i] = (x[i] * scale) * w[i];
}

void lr_swiglu(float *gate, const float *up, int64_t n) {
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        const v16 g = v16_load(gate + i);
        const v16 silu = g / (1.0f + v16_exp(-g));
        v16_store(gate + i, silu * v16_load(up + i));
    }
    for (; i < n; i++) gate[i] = gate[i] / (1.0f + expf(-gate[i])) * up[i];
}

void lr_rope(float *x, int64_t n_heads, int64_t head_dim, const float *cos_table,
             const float *sin_table, int neox) {
    const int64_t pairs = head_dim / 2;
    for (int64_t h = 0; h < n_heads; h++) {
        float *head = x + h * head_dim;
        for (int64_t j = 0; j < pairs; j++) {
            const int64_t a = neox ? j : 2 * j;
            const int64_t b = neox ? j + pairs : 2 * j + 1;
            const float x0 = head[a], x1 = head[b];
            const float c = cos_table[j], s = sin_table[j];
            head[a] = x0 * c - x1 * s;
            head[b] = x0 * s + x1 * c;
        }
    }
}

double lr_negative_log_likelihood(const float *logits, int64_t n_vocab, int32_t target) {
    lr_softmax_row row;
    lr_softmax_row_init(&row);
    lr_softmax_row_fold(&row, logits, 0, n_vocab, target);
    return lr_softmax_row_nll(&row);
}

void lr_softmax_row_init(lr_softmax_row *row) {
    row->max = -INFINITY;
    row->sum = 0;
    row->target_logit = NAN;
    row->best = -1;
}

void lr_softmax_row_fold(lr_softmax_row *row, const float *tile, int64_t first, int64_t n, int64_t target) {
    float tile_max = tile[0];
    for (int64_t i = 1; i < n; i++) tile_max = tile[i] > tile_max ? tile[i] : tile_max;
    if (tile_max > row->max || row->best < 0) {
        // A new largest logit: the sum so far was of exp(logit − old max).
        if (row->sum > 0) row->sum *= exp((double)row->max - (double)tile_max);
        row->max = tile_max;
        int64_t best = 0;
        while (best < n - 1 && !(tile[best] == tile_max)) best++;
        row->best = first + best;
    }
    const float max_logit = row->max;
    double sum = 0;
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        const v16 e = v16_exp(v16_load(tile + i) - max_logit);
        for (int lane = 0; lane < 16; lane++) sum += (double)e[lane];
    }
    for (; i < n; i++) sum += (double)expf(tile[i] - max_logit);
    row->sum += sum;
    if (target >= first && target < first + n) row->target_logit = tile[target - first];
}

double lr_softmax_row_nll(const lr_softmax_row *row) {
    return -((double)(row->target_logit - row->max) - log(row->sum));
}

void lr_add(float *y, const float *x, int64_t n) {
    for (int64_t i = 0; i < n; i++) y[i] += x[i];
}
