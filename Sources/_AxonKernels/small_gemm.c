// C = bias + A·B without packing, for products whose A is small (few rows, short K): a convolution's
// weights times its unfolded input (6x9, 16x54) or the weights' transpose times an output gradient (54x16).
// B's rows are read in place (contiguous, row stride ldb), each loaded vector feeding one FMA per row of
// A; A's elements are broadcast from anywhere (row stride rsa, column stride csa). Every C element sums
// its K products in order 0..K-1, so results do not depend on threads.
#include "AxonKernels.h"

#include "cpu.h"

static void small_generic(const float *a, long rsa, long csa, const float *b, long ldb, float *c, long ldc,
                          long m, long n, long k, const float *bias) {
    for (long i = 0; i < m; i++) {
        float *ci = c + i * ldc;
        const float init = bias ? bias[i] : 0;
        for (long j = 0; j < n; j++) ci[j] = init;
        for (long r = 0; r < k; r++) {
            const float air = a[i * rsa + r * csa];
            const float *br = b + r * ldb;
            for (long j = 0; j < n; j++) ci[j] += air * br[j];
        }
    }
}

#if AXON_X86
// Written once for vectors V of W lanes (LOAD and STORE: cpu.h's primitives of that width), compiled for TARGET:
// groups of R rows of A by 2W columns, 2R accumulators; a group past the last row repeats it (never stored).
#define AXON_SMALL_KERNEL(NAME, V, W, R, LOAD, STORE, TARGET)                                                      \
    __attribute__((target(TARGET))) static void NAME(const float *a, long rsa, long csa, const float *b, long ldb,  \
                                                     float *c, long ldc, long m, long n, long k, const float *bias) { \
        for (long i0 = 0; i0 < m; i0 += R) {                                                                       \
            const long rows = m - i0 < R ? m - i0 : R;                                                             \
            const float *ar[R];                                                                                    \
            float init[R];                                                                                         \
            for (int t = 0; t < R; t++) {                                                                          \
                const long i = i0 + (t < rows ? t : rows - 1);                                                     \
                ar[t] = a + i * rsa;                                                                               \
                init[t] = bias ? bias[i] : 0;                                                                      \
            }                                                                                                      \
            for (long j = 0; j < n; j += 2 * W) {                                                                  \
                const long rest = n - j;                                                                           \
                const int whole = rest >= 2 * W;                                                                   \
                V s0[R], s1[R];                                                                                    \
                for (int t = 0; t < R; t++) { s0[t] = (V){0} + init[t]; s1[t] = s0[t]; }                           \
                for (long r = 0; r < k; r++) {                                                                     \
                    const float *br = b + r * ldb + j;                                                             \
                    const V x0 = whole ? *(const V *)br : LOAD(br, rest, 0);                                       \
                    const V x1 = whole ? *(const V *)(br + W) : LOAD(br + W, rest - W, 0);                         \
                    for (int t = 0; t < R; t++) {                                                                  \
                        const float w = ar[t][r * csa];                                                            \
                        s0[t] += w * x0;                                                                           \
                        s1[t] += w * x1;                                                                           \
                    }                                                                                              \
                }                                                                                                  \
                for (int t = 0; t < rows; t++) {                                                                   \
                    float *ct = c + (i0 + t) * ldc + j;                                                            \
                    if (whole) { *(V *)ct = s0[t]; *(V *)(ct + W) = s1[t]; }                                       \
                    else { STORE(ct, rest, s0[t]); STORE(ct + W, rest - W, s1[t]); }                               \
                }                                                                                                  \
            }                                                                                                      \
        }                                                                                                          \
    }

// AVX-512: 8 rows (16 accumulators of the 32 registers). AVX2: 6 rows (12 accumulators; with the two loaded
// vectors and the broadcast, 15 of the 16 registers).
AXON_SMALL_KERNEL(small_avx512, axon_v16, 16, 8, axon_load16, axon_store16, "avx512f")
AXON_SMALL_KERNEL(small_avx2, axon_v8, 8, 6, axon_load8, axon_store8, "avx2,fma")
#endif

int axon_sgemm_small_levels(void) { return axon_vector_levels(); }

void axon_sgemm_small_with(int level, const float *a, long rsa, long csa, const float *b, long ldb, float *c, long ldc,
                           long m, long n, long k, const float *bias) {
#if AXON_X86
    if (level >= 3) { small_avx512(a, rsa, csa, b, ldb, c, ldc, m, n, k, bias); return; }
    if (level == 2) { small_avx2(a, rsa, csa, b, ldb, c, ldc, m, n, k, bias); return; }
#endif
    small_generic(a, rsa, csa, b, ldb, c, ldc, m, n, k, bias);
}

void axon_sgemm_small(const float *a, long rsa, long csa, const float *b, long ldb, float *c, long ldc,
                      long m, long n, long k, const float *bias) {
    axon_sgemm_small_with(axon_sgemm_small_levels(), a, rsa, csa, b, ldb, c, ldc, m, n, k, bias);
}
