// Packing of a transposed operand for the GEMM (see GEMM.packB in AxonCore/Backend/GEMM.swift):
// dst[p * nr + j] = src[j * ld + p] for p < rows, j < cols, zero for cols <= j < nr. This is the layout of
// x·Wᵀ's right operand (W stored [N, K]), where a plain loop either reads or writes with a large stride;
// the AVX2 version moves 8x8 tiles through registers (an in-register transpose).
#include "AxonKernels.h"
#include <string.h>

#include "cpu.h"

static void pack_t_generic(const float *src, long ld, long rows, long cols, long nr, float *dst) {
    for (long p = 0; p < rows; p++) {
        float *d = dst + p * nr;
        for (long j = 0; j < cols; j++) d[j] = src[j * ld + p];
        for (long j = cols; j < nr; j++) d[j] = 0;
    }
}

#if AXON_X86
__attribute__((target("avx2")))
static void pack_t_avx2(const float *src, long ld, long rows, long cols, long nr, float *dst) {
    const long rows8 = rows / 8 * 8, cols8 = cols / 8 * 8;
    for (long j = 0; j < cols8; j += 8) {
        for (long p = 0; p < rows8; p += 8) {
            const float *s = src + j * ld + p;
            __m256 r0 = _mm256_loadu_ps(s), r1 = _mm256_loadu_ps(s + ld), r2 = _mm256_loadu_ps(s + 2 * ld),
                   r3 = _mm256_loadu_ps(s + 3 * ld), r4 = _mm256_loadu_ps(s + 4 * ld), r5 = _mm256_loadu_ps(s + 5 * ld),
                   r6 = _mm256_loadu_ps(s + 6 * ld), r7 = _mm256_loadu_ps(s + 7 * ld);
            __m256 t0 = _mm256_unpacklo_ps(r0, r1), t1 = _mm256_unpackhi_ps(r0, r1), t2 = _mm256_unpacklo_ps(r2, r3),
                   t3 = _mm256_unpackhi_ps(r2, r3), t4 = _mm256_unpacklo_ps(r4, r5), t5 = _mm256_unpackhi_ps(r4, r5),
                   t6 = _mm256_unpacklo_ps(r6, r7), t7 = _mm256_unpackhi_ps(r6, r7);
            __m256 u0 = _mm256_shuffle_ps(t0, t2, 0x44), u1 = _mm256_shuffle_ps(t0, t2, 0xEE),
                   u2 = _mm256_shuffle_ps(t1, t3, 0x44), u3 = _mm256_shuffle_ps(t1, t3, 0xEE),
                   u4 = _mm256_shuffle_ps(t4, t6, 0x44), u5 = _mm256_shuffle_ps(t4, t6, 0xEE),
                   u6 = _mm256_shuffle_ps(t5, t7, 0x44), u7 = _mm256_shuffle_ps(t5, t7, 0xEE);
            float *d = dst + p * nr + j;
            _mm256_storeu_ps(d, _mm256_permute2f128_ps(u0, u4, 0x20));
            _mm256_storeu_ps(d + nr, _mm256_permute2f128_ps(u1, u5, 0x20));
            _mm256_storeu_ps(d + 2 * nr, _mm256_permute2f128_ps(u2, u6, 0x20));
            _mm256_storeu_ps(d + 3 * nr, _mm256_permute2f128_ps(u3, u7, 0x20));
            _mm256_storeu_ps(d + 4 * nr, _mm256_permute2f128_ps(u0, u4, 0x31));
            _mm256_storeu_ps(d + 5 * nr, _mm256_permute2f128_ps(u1, u5, 0x31));
            _mm256_storeu_ps(d + 6 * nr, _mm256_permute2f128_ps(u2, u6, 0x31));
            _mm256_storeu_ps(d + 7 * nr, _mm256_permute2f128_ps(u3, u7, 0x31));
        }
        for (long p = rows8; p < rows; p++)
            for (long jj = j; jj < j + 8; jj++) dst[p * nr + jj] = src[jj * ld + p];
    }
    for (long p = 0; p < rows; p++) {
        float *d = dst + p * nr;
        for (long j = cols8; j < cols; j++) d[j] = src[j * ld + p];
        for (long j = cols; j < nr; j++) d[j] = 0;
    }
}
#endif

void axon_pack_transposed_with(int level, const float *src, long ld, long rows, long cols, long nr, float *dst) {
#if AXON_X86
    if (level >= 2) { pack_t_avx2(src, ld, rows, cols, nr, dst); return; }
#endif
    pack_t_generic(src, ld, rows, cols, nr, dst);
}

int axon_pack_transposed_levels(void) { return axon_cpu_avx2() ? 2 : 1; }

void axon_pack_transposed(const float *src, long ld, long rows, long cols, long nr, float *dst) {
    axon_pack_transposed_with(axon_pack_transposed_levels(), src, ld, rows, cols, nr, dst);
}
