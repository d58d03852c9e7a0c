// Private to the kernels: the x86 switch, the CPU checks every kernel file chooses its code by (cached:
// asked once per process), and the masks of a short row for AVX-512's masked loads and stores.
#ifndef AXON_CPU_H
#define AXON_CPU_H

#if defined(__x86_64__) || defined(__i386__)
#define AXON_X86 1
#include <immintrin.h>
#endif

// 1 when this CPU runs AVX-512F code, else 0.
int axon_cpu_avx512(void);
// 1 when this CPU runs AVX2 code, else 0.
int axon_cpu_avx2(void);
// 1 when this CPU runs AVX2 with FMA, else 0.
int axon_cpu_avx2_fma(void);

// The vector level a kernel with per-level code runs: 3 AVX-512, 2 AVX2 with FMA, 1 portable (the `_levels()`
// functions of such kernels return this, and their `_with(level, ...)` forms take any level up to it).
static inline int axon_vector_levels(void) { return axon_cpu_avx512() ? 3 : axon_cpu_avx2_fma() ? 2 : 1; }

#if AXON_X86
// Lanes [lo, hi) of an 8-float vector as AVX2's masked loads and stores take them (all bits of a lane set);
// lo and hi may lie anywhere.
__attribute__((target("avx2")))
static inline __m256i axon_span_mask8(long lo, long hi) {
    const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    lo = lo < 0 ? 0 : lo > 8 ? 8 : lo;
    hi = hi < 0 ? 0 : hi > 8 ? 8 : hi;
    return _mm256_andnot_si256(_mm256_cmpgt_epi32(_mm256_set1_epi32((int)lo), lane), _mm256_cmpgt_epi32(_mm256_set1_epi32((int)hi), lane));
}

// Kernels written once for both widths use these vector types (of floats at any 4-byte alignment, so *(const
// axon_v8 *)p loads from anywhere) and these primitives: the first n lanes (n may be <= 0 or past the width) from
// p and the rest `fill`; the first n lanes stored to p; the sum of the lanes as a fixed tree of adds.
typedef float axon_v16 __attribute__((vector_size(64), aligned(4)));
typedef float axon_v8 __attribute__((vector_size(32), aligned(4)));

__attribute__((target("avx512f")))
static inline __mmask16 axon_first_lanes16(long n) { return n >= 16 ? (__mmask16)0xFFFF : n <= 0 ? 0 : (__mmask16)((1u << n) - 1); }

// Lanes [lo, hi) of a 16-float vector as a mask (lo and hi may lie anywhere); loads of the masked lanes (the rest
// zero), and stores of the masked lanes.
__attribute__((target("avx512f")))
static inline __mmask16 axon_mask16(long lo, long hi) { return axon_first_lanes16(hi) & (__mmask16)~axon_first_lanes16(lo); }

__attribute__((target("avx512f")))
static inline axon_v16 axon_load16m(const float *p, __mmask16 m) { return (axon_v16)_mm512_maskz_loadu_ps(m, p); }

__attribute__((target("avx512f")))
static inline void axon_store16m(float *p, __mmask16 m, axon_v16 v) { _mm512_mask_storeu_ps(p, m, (__m512)v); }

__attribute__((target("avx512f")))
static inline axon_v16 axon_load16(const float *p, long n, float fill) {
    return (axon_v16)_mm512_mask_loadu_ps(_mm512_set1_ps(fill), axon_first_lanes16(n), p);
}

__attribute__((target("avx512f")))
static inline void axon_store16(float *p, long n, axon_v16 v) { _mm512_mask_storeu_ps(p, axon_first_lanes16(n), (__m512)v); }

__attribute__((target("avx512f")))
static inline float axon_hsum16(axon_v16 v) { return _mm512_reduce_add_ps((__m512)v); }

// The same for 8-float vectors (masks from axon_span_mask8).
__attribute__((target("avx2")))
static inline axon_v8 axon_load8m(const float *p, __m256i m) { return (axon_v8)_mm256_maskload_ps(p, m); }

__attribute__((target("avx2")))
static inline void axon_store8m(float *p, __m256i m, axon_v8 v) { _mm256_maskstore_ps(p, m, (__m256)v); }

__attribute__((target("avx2")))
static inline axon_v8 axon_load8(const float *p, long n, float fill) {
    const __m256i m = axon_span_mask8(0, n);
    return (axon_v8)_mm256_blendv_ps(_mm256_set1_ps(fill), _mm256_maskload_ps(p, m), _mm256_castsi256_ps(m));
}

// Plain stores of 8, 4, 2 and 1 lanes: AVX2's masked store costs about 14 cycles on AMD's Zen 3 even with every lane
// set (a loop of them on a 2-vCPU EPYC, family 25 model 1: 4.1 ns a vector against 0.31 for plain stores), and the
// kernels store every vector of a row through here. With these stores (and the pooling backward's tails), LeNet's
// training on that CPU ran 1.036-1.045 times as fast (1 and 2 threads, whole steps alternating in one process).
__attribute__((target("avx2")))
static inline void axon_store8(float *p, long n, axon_v8 v) {
    if (n >= 8) { _mm256_storeu_ps(p, (__m256)v); return; }
    if (n <= 0) return;
    __m128 x = _mm256_castps256_ps128((__m256)v);
    if (n & 4) { _mm_storeu_ps(p, x); p += 4; x = _mm256_extractf128_ps((__m256)v, 1); }
    if (n & 2) { _mm_storel_pi((__m64 *)p, x); p += 2; x = _mm_movehl_ps(x, x); }
    if (n & 1) _mm_store_ss(p, x);
}

__attribute__((target("avx2")))
static inline float axon_hsum8(axon_v8 v) {
    const __m128 h = _mm_add_ps(_mm256_castps256_ps128((__m256)v), _mm256_extractf128_ps((__m256)v, 1));
    const __m128 q = _mm_add_ps(h, _mm_movehl_ps(h, h));
    return _mm_cvtss_f32(_mm_add_ss(q, _mm_movehdup_ps(q)));
}
#endif

#endif
