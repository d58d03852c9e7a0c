// Fused optimizer updates: one pass over a parameter instead of one per operation. Each is written with the
// same float32 operations, in the same order, as the composed tensor ops it replaces, and without
// contraction into FMAs, so it gives the same bits.
#include "AxonKernels.h"

#include <math.h>

#include "cpu.h"

#pragma STDC FP_CONTRACT OFF

static void adam_portable(const float *base, const float *m, const float *v, float *out, long n, float c1, float s2,
                          float eps, float lr) {
    for (long i = 0; i < n; i++) {
        const float d = (m[i] / c1) / (sqrtf(v[i]) / s2 + eps);
        const float step = d * lr;
        out[i] = base[i] - step;
    }
}

#if AXON_X86
__attribute__((target("avx512f")))
static void adam_avx512(const float *base, const float *m, const float *v, float *out, long n, float c1, float s2,
                        float eps, float lr) {
    const __m512 vc1 = _mm512_set1_ps(c1), vs2 = _mm512_set1_ps(s2), veps = _mm512_set1_ps(eps), vlr = _mm512_set1_ps(lr);
    for (long i = 0; i < n; i += 16) {
        const __mmask16 k = n - i >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (n - i)) - 1);
        const __m512 first = _mm512_div_ps(_mm512_maskz_loadu_ps(k, m + i), vc1);
        const __m512 second = _mm512_add_ps(_mm512_div_ps(_mm512_sqrt_ps(_mm512_maskz_loadu_ps(k, v + i)), vs2), veps);
        const __m512 step = _mm512_mul_ps(_mm512_div_ps(first, second), vlr);
        _mm512_mask_storeu_ps(out + i, k, _mm512_sub_ps(_mm512_maskz_loadu_ps(k, base + i), step));
    }
}
// The same with AVX2 (the operations are IEEE-rounded the same way at every width).
__attribute__((target("avx2")))
static void adam_avx2(const float *base, const float *m, const float *v, float *out, long n, float c1, float s2,
                      float eps, float lr) {
    const __m256 vc1 = _mm256_set1_ps(c1), vs2 = _mm256_set1_ps(s2), veps = _mm256_set1_ps(eps), vlr = _mm256_set1_ps(lr);
    long i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m256 first = _mm256_div_ps(_mm256_loadu_ps(m + i), vc1);
        const __m256 second = _mm256_add_ps(_mm256_div_ps(_mm256_sqrt_ps(_mm256_loadu_ps(v + i)), vs2), veps);
        const __m256 step = _mm256_mul_ps(_mm256_div_ps(first, second), vlr);
        _mm256_storeu_ps(out + i, _mm256_sub_ps(_mm256_loadu_ps(base + i), step));
    }
    adam_portable(base + i, m + i, v + i, out + i, n - i, c1, s2, eps, lr);  // the last 0-7
}
#endif

int axon_adam_levels(void) { return axon_vector_levels(); }

void axon_adam_update_f32_with(int level, const float *base, const float *m, const float *v, float *out, long n, float c1,
                               float s2, float eps, float lr) {
#if AXON_X86
    if (level >= 3) { adam_avx512(base, m, v, out, n, c1, s2, eps, lr); return; }
    if (level == 2) { adam_avx2(base, m, v, out, n, c1, s2, eps, lr); return; }
#endif
    adam_portable(base, m, v, out, n, c1, s2, eps, lr);
}

void axon_adam_update_f32(const float *base, const float *m, const float *v, float *out, long n, float c1, float s2,
                          float eps, float lr) {
    axon_adam_update_f32_with(axon_adam_levels(), base, m, v, out, n, c1, s2, eps, lr);
}
