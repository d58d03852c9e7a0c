// Batch normalisation's two passes over [N, C, S] data (contiguous; S = the positions of one channel of one
// sample): per-channel sums, and a per-channel affine combination. Forward and backward are each one pass of
// sums and one pass of the combination; the channel split only decides which thread runs a channel, never
// what it computes.
#include "AxonKernels.h"

#include "cpu.h"

// Positions summed in float32 vectors before each addition into the float64 totals.
#define AXON_NORM_BLOCK 4096

static void sums_portable(const float *a, const float *b, long len, float sa, float sb, double *ta, double *tab) {
    for (long start = 0; start < len; start += AXON_NORM_BLOCK) {
        const long end = start + AXON_NORM_BLOCK < len ? start + AXON_NORM_BLOCK : len;
        float s = 0, p = 0;
        for (long i = start; i < end; i++) {
            const float u = a[i] - sa;
            s += u;
            p += u * (b[i] - sb);
        }
        *ta += s;
        *tab += p;
    }
}

static void affine_portable(const float *a, const float *b, float *out, long len, float sa, float sb, float alpha, float beta,
                            float gamma) {
    if (b) {
        for (long i = 0; i < len; i++) out[i] = alpha * (a[i] - sa) + beta * (b[i] - sb) + gamma;
    } else {
        for (long i = 0; i < len; i++) out[i] = alpha * (a[i] - sa) + gamma;
    }
}

#if AXON_X86
__attribute__((target("avx512f")))
static inline __mmask16 tail_mask(long n) { return n >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << n) - 1); }

__attribute__((target("avx512f")))
static void sums_avx512(const float *a, const float *b, long len, float sa, float sb, double *ta, double *tab) {
    const __m512 va = _mm512_set1_ps(sa), vb = _mm512_set1_ps(sb);
    for (long start = 0; start < len; start += AXON_NORM_BLOCK) {
        const long end = start + AXON_NORM_BLOCK < len ? start + AXON_NORM_BLOCK : len;
        __m512 s0 = _mm512_setzero_ps(), s1 = _mm512_setzero_ps(), p0 = _mm512_setzero_ps(), p1 = _mm512_setzero_ps();
        long i = start;
        for (; i + 32 <= end; i += 32) {
            const __m512 u0 = _mm512_sub_ps(_mm512_loadu_ps(a + i), va), u1 = _mm512_sub_ps(_mm512_loadu_ps(a + i + 16), va);
            const __m512 w0 = _mm512_sub_ps(_mm512_loadu_ps(b + i), vb), w1 = _mm512_sub_ps(_mm512_loadu_ps(b + i + 16), vb);
            s0 = _mm512_add_ps(s0, u0); s1 = _mm512_add_ps(s1, u1);
            p0 = _mm512_fmadd_ps(u0, w0, p0); p1 = _mm512_fmadd_ps(u1, w1, p1);
        }
        for (; i < end; i += 16) {
            const __mmask16 m = tail_mask(end - i);
            const __m512 u = _mm512_maskz_sub_ps(m, _mm512_maskz_loadu_ps(m, a + i), va);
            const __m512 w = _mm512_maskz_sub_ps(m, _mm512_maskz_loadu_ps(m, b + i), vb);
            s0 = _mm512_add_ps(s0, u);
            p0 = _mm512_fmadd_ps(u, w, p0);
        }
        *ta += _mm512_reduce_add_ps(_mm512_add_ps(s0, s1));
        *tab += _mm512_reduce_add_ps(_mm512_add_ps(p0, p1));
    }
}

__attribute__((target("avx512f")))
static void affine_avx512(const float *a, const float *b, float *out, long len, float sa, float sb, float alpha, float beta,
                          float gamma) {
    const __m512 va = _mm512_set1_ps(alpha), vb = _mm512_set1_ps(beta), vg = _mm512_set1_ps(gamma);
    const __m512 vsa = _mm512_set1_ps(sa), vsb = _mm512_set1_ps(sb);
    for (long i = 0; i < len; i += 16) {
        const __mmask16 m = tail_mask(len - i);
        __m512 r = _mm512_fmadd_ps(va, _mm512_sub_ps(_mm512_maskz_loadu_ps(m, a + i), vsa), vg);
        if (b) r = _mm512_fmadd_ps(vb, _mm512_sub_ps(_mm512_maskz_loadu_ps(m, b + i), vsb), r);
        _mm512_mask_storeu_ps(out + i, m, r);
    }
}
#endif

int axon_channel_levels(void) { return axon_cpu_avx512() ? 2 : 1; }

void axon_channel_sums_f32_with(int level, const float *a, const float *b, long n, long c, long s, long c0, long c1,
                                const float *shift_a, const float *shift_b, double *sum_a, double *sum_ab) {
    for (long ch = c0; ch < c1; ch++) sum_a[ch] = sum_ab[ch] = 0;
    // Sample by sample, so the task reads one contiguous run per sample (its channels' planes) instead of jumping
    // between samples for every short plane; each channel still adds its planes in sample order, so the sums are
    // the same.
    for (long i = 0; i < n; i++) {
        for (long ch = c0; ch < c1; ch++) {
            const float sa = shift_a ? shift_a[ch] : 0, sb = shift_b ? shift_b[ch] : 0;
            const long at = (i * c + ch) * s;
#if AXON_X86
            if (level >= 2) { sums_avx512(a + at, b + at, s, sa, sb, sum_a + ch, sum_ab + ch); continue; }
#endif
            sums_portable(a + at, b + at, s, sa, sb, sum_a + ch, sum_ab + ch);
        }
    }
}

void axon_channel_sums_f32(const float *a, const float *b, long n, long c, long s, long c0, long c1,
                           const float *shift_a, const float *shift_b, double *sum_a, double *sum_ab) {
    axon_channel_sums_f32_with(axon_channel_levels(), a, b, n, c, s, c0, c1, shift_a, shift_b, sum_a, sum_ab);
}

void axon_channel_affine_f32_with(int level, const float *a, const float *b, float *out, long n, long c, long s, long c0, long c1,
                                  const float *shift_a, const float *shift_b, const float *alpha, const float *beta,
                                  const float *gamma) {
    for (long i = 0; i < n; i++) {
        for (long ch = c0; ch < c1; ch++) {
            const long at = (i * c + ch) * s;
            const float be = b ? beta[ch] : 0, sa = shift_a ? shift_a[ch] : 0, sb = b && shift_b ? shift_b[ch] : 0;
#if AXON_X86
            if (level >= 2) { affine_avx512(a + at, b ? b + at : 0, out + at, s, sa, sb, alpha[ch], be, gamma[ch]); continue; }
#endif
            affine_portable(a + at, b ? b + at : 0, out + at, s, sa, sb, alpha[ch], be, gamma[ch]);
        }
    }
}

void axon_channel_affine_f32(const float *a, const float *b, float *out, long n, long c, long s, long c0, long c1,
                             const float *shift_a, const float *shift_b, const float *alpha, const float *beta, const float *gamma) {
    axon_channel_affine_f32_with(axon_channel_levels(), a, b, out, n, c, s, c0, c1, shift_a, shift_b, alpha, beta, gamma);
}
