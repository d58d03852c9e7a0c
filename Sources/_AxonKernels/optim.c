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

// SGD's momentum step: b = b·mu + alpha·g, then p = p + step·b, each product and sum rounded on its own.
static void sgd_momentum_portable(float *p, float *b, const float *g, long n, float mu, float alpha, float step) {
    for (long i = 0; i < n; i++) {
        const float v = b[i] * mu + alpha * g[i];
        b[i] = v;
        p[i] = p[i] + step * v;
    }
}

#if AXON_X86
__attribute__((target("avx512f")))
static void sgd_momentum_avx512(float *p, float *b, const float *g, long n, float mu, float alpha, float step) {
    const __m512 vmu = _mm512_set1_ps(mu), valpha = _mm512_set1_ps(alpha), vstep = _mm512_set1_ps(step);
    for (long i = 0; i < n; i += 16) {
        const __mmask16 k = n - i >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (n - i)) - 1);
        const __m512 v = _mm512_add_ps(_mm512_mul_ps(_mm512_maskz_loadu_ps(k, b + i), vmu),
                                       _mm512_mul_ps(valpha, _mm512_maskz_loadu_ps(k, g + i)));
        _mm512_mask_storeu_ps(b + i, k, v);
        _mm512_mask_storeu_ps(p + i, k, _mm512_add_ps(_mm512_maskz_loadu_ps(k, p + i), _mm512_mul_ps(vstep, v)));
    }
}
__attribute__((target("avx2")))
static void sgd_momentum_avx2(float *p, float *b, const float *g, long n, float mu, float alpha, float step) {
    const __m256 vmu = _mm256_set1_ps(mu), valpha = _mm256_set1_ps(alpha), vstep = _mm256_set1_ps(step);
    long i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m256 v = _mm256_add_ps(_mm256_mul_ps(_mm256_loadu_ps(b + i), vmu), _mm256_mul_ps(valpha, _mm256_loadu_ps(g + i)));
        _mm256_storeu_ps(b + i, v);
        _mm256_storeu_ps(p + i, _mm256_add_ps(_mm256_loadu_ps(p + i), _mm256_mul_ps(vstep, v)));
    }
    sgd_momentum_portable(p + i, b + i, g + i, n - i, mu, alpha, step);  // the last 0-7
}
#endif

void axon_sgd_momentum_f32_with(int level, float *p, float *b, const float *g, long n, float mu, float alpha, float step) {
#if AXON_X86
    if (level >= 3) { sgd_momentum_avx512(p, b, g, n, mu, alpha, step); return; }
    if (level == 2) { sgd_momentum_avx2(p, b, g, n, mu, alpha, step); return; }
#endif
    sgd_momentum_portable(p, b, g, n, mu, alpha, step);
}

void axon_sgd_momentum_f32(float *p, float *b, const float *g, long n, float mu, float alpha, float step) {
    axon_sgd_momentum_f32_with(axon_vector_levels(), p, b, g, n, mu, alpha, step);
}

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
