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
// Groups of 8 rows of A by 32 columns: 16 accumulators; a group past the last row repeats it (never stored).
__attribute__((target("avx512f")))
static void small_avx512(const float *a, long rsa, long csa, const float *b, long ldb, float *c, long ldc,
                         long m, long n, long k, const float *bias) {
    for (long i0 = 0; i0 < m; i0 += 8) {
        const long rows = m - i0 < 8 ? m - i0 : 8;
        const float *ar[8];
        float init[8];
        for (int t = 0; t < 8; t++) {
            const long i = i0 + (t < rows ? t : rows - 1);
            ar[t] = a + i * rsa;
            init[t] = bias ? bias[i] : 0;
        }
        for (long j = 0; j < n; j += 32) {
            __mmask16 m0, m1;
            axon_row_masks(n - j, &m0, &m1);
            __m512 s0[8], s1[8];
            for (int t = 0; t < 8; t++) { s0[t] = _mm512_set1_ps(init[t]); s1[t] = s0[t]; }
            for (long r = 0; r < k; r++) {
                const float *br = b + r * ldb + j;
                const __m512 x0 = _mm512_maskz_loadu_ps(m0, br), x1 = _mm512_maskz_loadu_ps(m1, br + 16);
                for (int t = 0; t < 8; t++) {
                    const __m512 w = _mm512_set1_ps(ar[t][r * csa]);
                    s0[t] = _mm512_fmadd_ps(w, x0, s0[t]);
                    s1[t] = _mm512_fmadd_ps(w, x1, s1[t]);
                }
            }
            for (int t = 0; t < rows; t++) {
                float *ct = c + (i0 + t) * ldc + j;
                _mm512_mask_storeu_ps(ct, m0, s0[t]);
                _mm512_mask_storeu_ps(ct + 16, m1, s1[t]);
            }
        }
    }
}
#endif

int axon_sgemm_small_levels(void) { return axon_cpu_avx512() ? 2 : 1; }

void axon_sgemm_small_with(int level, const float *a, long rsa, long csa, const float *b, long ldb, float *c, long ldc,
                           long m, long n, long k, const float *bias) {
#if AXON_X86
    if (level >= 2) { small_avx512(a, rsa, csa, b, ldb, c, ldc, m, n, k, bias); return; }
#endif
    small_generic(a, rsa, csa, b, ldb, c, ldc, m, n, k, bias);
}

void axon_sgemm_small(const float *a, long rsa, long csa, const float *b, long ldb, float *c, long ldc,
                      long m, long n, long k, const float *bias) {
    axon_sgemm_small_with(axon_sgemm_small_levels(), a, rsa, csa, b, ldb, c, ldc, m, n, k, bias);
}
