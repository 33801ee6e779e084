// The reference figures for `longrope-bench matmul` (run by Benchmarks/kernels.sh):
//   sgemm ROWS K TOKENS REPEATS  — OpenBLAS sgemm of Y[tokens×rows] = X[tokens×k]·W[rows×k]ᵀ,
//                                  the same product as lr_matmul; prints the median GFLOP/s.
//   peak                         — one core's FMA peak: 12 independent AVX-512 FMA chains.
#include <cblas.h>
#include <immintrin.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

static int compare(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double peak(void) {
    __m512 acc[12];
    for (int i = 0; i < 12; i++) acc[i] = _mm512_set1_ps(0.001f * i);
    const __m512 a = _mm512_set1_ps(0.999999f), b = _mm512_set1_ps(1e-7f);
    const long iterations = 50 * 1000 * 1000;
    double start = now();
    for (long it = 0; it < iterations; it++)
        for (int i = 0; i < 12; i++) acc[i] = _mm512_fmadd_ps(acc[i], a, b);
    double seconds = now() - start;
    float sink = 0;
    for (int i = 0; i < 12; i++) sink += _mm512_reduce_add_ps(acc[i]);
    if (sink == 12345.f) puts("");
    return 2.0 * 16 * 12 * iterations / seconds / 1e9;
}

int main(int argc, char **argv) {
    if (argc == 2 && strcmp(argv[1], "peak") == 0) { printf("%.1f\n", peak()); return 0; }
    if (argc != 6 || strcmp(argv[1], "sgemm") != 0) {
        fprintf(stderr, "usage: sgemm sgemm ROWS K TOKENS REPEATS | sgemm peak\n");
        return 2;
    }
    const int rows = atoi(argv[2]), k = atoi(argv[3]), tokens = atoi(argv[4]), repeats = atoi(argv[5]);
    float *w = malloc(sizeof(float) * rows * k), *x = malloc(sizeof(float) * tokens * k), *y = malloc(sizeof(float) * tokens * rows);
    for (long i = 0; i < (long)rows * k; i++) w[i] = (float)(i % 7) * 0.01f;
    for (long i = 0; i < (long)tokens * k; i++) x[i] = (float)(i % 5) * 0.02f;
    double times[64];
    for (int r = 0; r < repeats && r < 64; r++) {
        double start = now();
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, tokens, rows, k, 1.0f, x, k, w, k, 0.0f, y, rows);
        times[r] = now() - start;
    }
    qsort(times, repeats, sizeof(double), compare);
    printf("%.1f\n", 2.0 * rows * k * tokens / times[repeats / 2] / 1e9);
    return 0;
}
