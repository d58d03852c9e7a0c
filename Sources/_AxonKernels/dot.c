// Row-pair dot products, out[i * rows_b + j] = sum_k a[i, k] * b[j, k], for row-major a [rows_a, n] and
// b [rows_b, n]: the weight gradient of a convolution (few rows, very long rows). Blocks of 4 rows of a
// by 2 rows of b keep eight vector sums, so each loaded vector feeds several FMAs. The order of every
// sum is fixed by n alone (not by threads).
#include "AxonKernels.h"

#include "cpu.h"

static void sdot_generic(const float *a, long rows_a, const float *b, long rows_b, long n, float *out) {
    for (long i = 0; i < rows_a; i++) {
        for (long j = 0; j < rows_b; j++) {
            const float *x = a + i * n, *y = b + j * n;
            float s[8] = {0, 0, 0, 0, 0, 0, 0, 0};
            long k = 0;
            for (; k + 8 <= n; k += 8)
                for (int l = 0; l < 8; l++) s[l] += x[k + l] * y[k + l];
            float t = ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]));
            for (; k < n; k++) t += x[k] * y[k];
            out[i * rows_b + j] = t;
        }
    }
}

#if AXON_X86
// One kernel for each vector width V of W lanes (HSUM reduces one), compiled for TARGET.
#define AXON_SDOT_KERNEL(NAME, V, W, HSUM, TARGET)                                                                   \
    __attribute__((target(TARGET))) static void NAME(const float *a, long rows_a, const float *b, long rows_b, long n, \
                                                     float *out) {                                                   \
        long vec_end = n / W * W;                                                                                    \
        for (long i = 0; i < rows_a; i += 4) {                                                                       \
            long ia = rows_a - i < 4 ? rows_a - i : 4;                                                               \
            for (long j = 0; j < rows_b; j += 2) {                                                                   \
                long jb = rows_b - j < 2 ? rows_b - j : 2;                                                           \
                /* Rows past the edge repeat the last valid row (computed, never stored). */                        \
                const float *a0 = a + i * n, *a1 = a + (i + (ia > 1 ? 1 : 0)) * n;                                   \
                const float *a2 = a + (i + (ia > 2 ? 2 : ia - 1)) * n, *a3 = a + (i + (ia > 3 ? 3 : ia - 1)) * n;    \
                const float *b0 = b + j * n, *b1 = b + (j + (jb > 1 ? 1 : 0)) * n;                                   \
                /* Aligned to a cache line: stored for the reduction below, where a line split costs the loads. */ \
                V s[8] __attribute__((aligned(64))) = {0};                                                             \
                for (long k = 0; k < vec_end; k += W) {                                                              \
                    V x0 = *(const V *)(b0 + k), x1 = *(const V *)(b1 + k);                                          \
                    V y0 = *(const V *)(a0 + k), y1 = *(const V *)(a1 + k);                                          \
                    V y2 = *(const V *)(a2 + k), y3 = *(const V *)(a3 + k);                                          \
                    s[0] += y0 * x0; s[1] += y0 * x1; s[2] += y1 * x0; s[3] += y1 * x1;                              \
                    s[4] += y2 * x0; s[5] += y2 * x1; s[6] += y3 * x0; s[7] += y3 * x1;                              \
                }                                                                                                    \
                for (long di = 0; di < ia; di++) {                                                                   \
                    for (long dj = 0; dj < jb; dj++) {                                                               \
                        const float *x = a + (i + di) * n, *y = b + (j + dj) * n;                                    \
                        float t = HSUM(s[di * 2 + dj]); /* a fixed tree (a serial sum would cost as much) */        \
                        for (long k = vec_end; k < n; k++) t += x[k] * y[k];                                         \
                        out[(i + di) * rows_b + j + dj] = t;                                                         \
                    }                                                                                                \
                }                                                                                                    \
            }                                                                                                        \
        }                                                                                                            \
    }

AXON_SDOT_KERNEL(sdot_avx512, axon_v16, 16, axon_hsum16, "avx512f")
AXON_SDOT_KERNEL(sdot_avx2, axon_v8, 8, axon_hsum8, "avx2,fma")
#endif

int axon_sdot_rows_levels(void) { return axon_vector_levels(); }

void axon_sdot_rows_with(int level, const float *a, long rows_a, const float *b, long rows_b, long n, float *out) {
#if AXON_X86
    if (level >= 3) { sdot_avx512(a, rows_a, b, rows_b, n, out); return; }
    if (level == 2) { sdot_avx2(a, rows_a, b, rows_b, n, out); return; }
#endif
    sdot_generic(a, rows_a, b, rows_b, n, out);
}

void axon_sdot_rows(const float *a, long rows_a, const float *b, long rows_b, long n, float *out) {
    axon_sdot_rows_with(axon_sdot_rows_levels(), a, rows_a, b, rows_b, n, out);
}
