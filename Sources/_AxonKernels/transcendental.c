// float32 exp, sigmoid, tanh, erf, GELU and GELU's derivative, vectorised (AVX-512 or AVX2 with FMA, chosen at run
// time) with a scalar version that performs the same operations in the same order, so every element gets the same
// bits whichever path computes it (vector body, tail, strided element, or a CPU without AVX2). The scalar versions
// spell every fused multiply-add as fmaf and keep other products and sums in separate expressions, so that the
// compiler's contraction of a·b + c cannot give them other bits than the vector code.
//
// exp is Cephes's expf: n = round(x·log2 e), r = x − n·ln 2 in two parts, a degree-5 polynomial for
// (e^r − 1 − r)/r², then ·2^n applied as two powers of two so that results near overflow and in the
// subnormal range are right. Within 2 ulp of the exact value over the float range. NaN passes through.
// sigmoid is 1/(1 + e^−x) for x ≥ 0 and e^x/(1 + e^x) below, so neither tail overflows or cancels.
// tanh is the odd Taylor polynomial to x¹³ below |x| = 0.3, ±1 beyond 9 (tanh rounds to 1 in float32 there),
// and 1 − 2/(e^{2|x|} + 1) with the sign put back between.
// erf is Norbert Juffa's minimax approximation (0.99 ulp with the C library's expf; within 2 ulp with this exp): an odd
// polynomial x + x·P(x²) up to |x| = 0.927734375, and 1 − e^{Q(|x|)} with the sign put back beyond, both made in the
// vector code and one chosen per lane. GELU is x·0.5·(1 + erf(x/√2)) and its derivative g·(Φ(x) + x·φ(x)) with
// Φ(x) = 0.5·(1 + erf(x/√2)), φ(x) = e^{−x²/2}/√(2π), in the order of PyTorch's vectorised CPU kernels.
#include <math.h>
#include <string.h>

#include "AxonKernels.h"
#include "cpu.h"

#define EXP_HI 89.0f
#define EXP_LO -104.0f
#define LOG2E 1.44269504088896341f
#define LN2_HI 0.693359375f
#define LN2_LO -2.12194440e-4f
#define P0 1.9875691500e-4f
#define P1 1.3981999507e-3f
#define P2 8.3334519073e-3f
#define P3 4.1665795894e-2f
#define P4 1.6666665459e-1f
#define P5 5.0000001201e-1f
// tanh's Taylor coefficients, x³ to x¹³.
#define T3 (-1.0f / 3.0f)
#define T5 (2.0f / 15.0f)
#define T7 (-17.0f / 315.0f)
#define T9 (62.0f / 2835.0f)
#define T11 (-1382.0f / 155925.0f)
#define T13 (21844.0f / 6081075.0f)

// erf: the split, then the coefficients beyond it (Q, highest first) and below it (P, highest first).
#define ERF_SPLIT 0.927734375f
#define EQ0 (-1.72853470e-5f)
#define EQ1 3.83197126e-4f
#define EQ2 (-3.88396438e-3f)
#define EQ3 2.42546219e-2f
#define EQ4 (-1.06777877e-1f)
#define EQ5 (-6.34846687e-1f)
#define EQ6 (-1.28717512e-1f)
#define EP0 (-5.96761703e-4f)
#define EP1 4.99119423e-3f
#define EP2 (-2.67681349e-2f)
#define EP3 1.12819925e-1f
#define EP4 (-3.76125336e-1f)
#define EP5 1.28379166e-1f
#define SQRT1_2F 0.707106781186547524f
// 1/√(2π), PyTorch's kBeta = M_2_SQRTPI · M_SQRT1_2 · 0.5.
#define GELU_BETA 0.398942280401432678f

static inline float pow2i(int n) {
    const unsigned bits = (unsigned)(n + 127) << 23;
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

static inline float exp_one(float x) {
    if (x != x) return x;
    x = x > EXP_HI ? EXP_HI : x;
    x = x < EXP_LO ? EXP_LO : x;
    const float n = nearbyintf(x * LOG2E);
    float r = fmaf(-n, LN2_HI, x);
    r = fmaf(-n, LN2_LO, r);
    float y = P0;
    y = fmaf(y, r, P1);
    y = fmaf(y, r, P2);
    y = fmaf(y, r, P3);
    y = fmaf(y, r, P4);
    y = fmaf(y, r, P5);
    y = fmaf(y, r * r, r) + 1.0f;
    const int k = (int)n, k1 = k >> 1;
    return y * pow2i(k1) * pow2i(k - k1);
}

static inline float sigmoid_one(float x) {
    const float e = exp_one(-fabsf(x));
    const float d = 1.0f + e;
    return x >= 0 ? 1.0f / d : e / d;
}

static inline float tanh_one(float x) {
    const float a = fabsf(x);
    if (a < 0.3f) {
        const float x2 = x * x;
        float p = fmaf(x2, T13, T11);
        p = fmaf(x2, p, T9);
        p = fmaf(x2, p, T7);
        p = fmaf(x2, p, T5);
        p = fmaf(x2, p, T3);
        return fmaf(x, x2 * p, x);
    }
    if (a > 9.0f) return x > 0 ? 1.0f : -1.0f;
    const float t = 1.0f - 2.0f / (exp_one(2.0f * a) + 1.0f);
    return x < 0 ? -t : t;
}

static inline float erf_one(float x) {
    const float t = fabsf(x), s = x * x;
    if (t > ERF_SPLIT) {
        float r = fmaf(EQ0, t, EQ1);
        const float u = fmaf(EQ2, t, EQ3);
        r = fmaf(r, s, u);
        r = fmaf(r, t, EQ4);
        r = fmaf(r, t, EQ5);
        r = fmaf(r, t, EQ6);
        r = fmaf(r, t, -t);
        r = 1.0f - exp_one(r);
        return x < 0 ? -r : r;
    }
    float p = EP0;
    p = fmaf(p, s, EP1);
    p = fmaf(p, s, EP2);
    p = fmaf(p, s, EP3);
    p = fmaf(p, s, EP4);
    p = fmaf(p, s, EP5);
    return fmaf(p, x, x);
}

static inline float gelu_one(float x) {
    const float half = x * 0.5f, e = erf_one(x * SQRT1_2F);
    return half * (1.0f + e);
}

static inline float gelu_backward_one(float g, float x) {
    const float cdf = 0.5f * (1.0f + erf_one(x * SQRT1_2F));
    const float square = x * x;
    const float pdf = GELU_BETA * exp_one(square * -0.5f);
    return g * fmaf(x, pdf, cdf);
}

float axon_exp_f32_one(float x) { return exp_one(x); }
float axon_sigmoid_f32_one(float x) { return sigmoid_one(x); }
float axon_tanh_f32_one(float x) { return tanh_one(x); }
float axon_erf_f32_one(float x) { return erf_one(x); }
float axon_gelu_f32_one(float x) { return gelu_one(x); }
float axon_gelu_backward_f32_one(float g, float x) { return gelu_backward_one(g, x); }

#if AXON_X86
// The vector bodies, written once over a lane type: V (vector), and the operations each ISA spells.
#define DEFINE_TRANSCENDENTAL(ISA, TARGET, V, W, set1, add, sub, mul, div, fmadd, fnmadd, maxf, minf, roundn, andnot_abs, cvt_i, \
                              cvt_f, add_i, srai, sll, set1_i, cast_f, sub_i, isnan_blend, ge_blend, lt_blend, gt_blend, xor_sign)    \
    __attribute__((target(TARGET))) static inline V exp_##ISA(V x) {                                                         \
        V c = minf(maxf(x, set1(EXP_LO)), set1(EXP_HI));                                                                     \
        V n = roundn(mul(c, set1(LOG2E)));                                                                                   \
        V r = fnmadd(n, set1(LN2_HI), c);                                                                                    \
        r = fnmadd(n, set1(LN2_LO), r);                                                                                      \
        V y = set1(P0);                                                                                                      \
        y = fmadd(y, r, set1(P1));                                                                                           \
        y = fmadd(y, r, set1(P2));                                                                                           \
        y = fmadd(y, r, set1(P3));                                                                                           \
        y = fmadd(y, r, set1(P4));                                                                                           \
        y = fmadd(y, r, set1(P5));                                                                                           \
        y = add(fmadd(y, mul(r, r), r), set1(1.0f));                                                                         \
        W k = cvt_i(n), k1 = srai(k, 1), k2 = sub_i(k, k1);                                                                  \
        V s1 = cast_f(sll(add_i(k1, set1_i(127)), 23)), s2 = cast_f(sll(add_i(k2, set1_i(127)), 23));                        \
        return isnan_blend(x, mul(mul(y, s1), s2));                                                                          \
    }                                                                                                                        \
    __attribute__((target(TARGET))) static inline V sigmoid_##ISA(V x) {                                                     \
        V e = exp_##ISA(sub(set1(0.0f), andnot_abs(x)));                                                                     \
        V d = add(set1(1.0f), e);                                                                                            \
        return ge_blend(x, div(set1(1.0f), d), div(e, d));                                                                   \
    }                                                                                                                        \
    __attribute__((target(TARGET))) static inline V tanh_##ISA(V x) {                                                        \
        V a = andnot_abs(x);                                                                                                 \
        V x2 = mul(x, x);                                                                                                    \
        V p = fmadd(x2, set1(T13), set1(T11));                                                                               \
        p = fmadd(x2, p, set1(T9));                                                                                          \
        p = fmadd(x2, p, set1(T7));                                                                                          \
        p = fmadd(x2, p, set1(T5));                                                                                          \
        p = fmadd(x2, p, set1(T3));                                                                                          \
        V small = fmadd(x, mul(x2, p), x);                                                                                   \
        V t = sub(set1(1.0f), div(set1(2.0f), add(exp_##ISA(mul(set1(2.0f), a)), set1(1.0f))));                              \
        t = gt_blend(a, set1(9.0f), set1(1.0f), t);                                                                          \
        t = xor_sign(t, x);                                                                                                  \
        return isnan_blend(x, lt_blend(a, set1(0.3f), small, t));                                                            \
    }                                                                                                                        \
    __attribute__((target(TARGET))) static inline V erf_##ISA(V x) {                                                         \
        V t = andnot_abs(x), s = mul(x, x);                                                                                  \
        V r = fmadd(set1(EQ0), t, set1(EQ1));                                                                                \
        V u = fmadd(set1(EQ2), t, set1(EQ3));                                                                                \
        r = fmadd(r, s, u);                                                                                                  \
        r = fmadd(r, t, set1(EQ4));                                                                                          \
        r = fmadd(r, t, set1(EQ5));                                                                                          \
        r = fmadd(r, t, set1(EQ6));                                                                                          \
        r = fmadd(r, t, sub(set1(0.0f), t));                                                                                 \
        V large = xor_sign(sub(set1(1.0f), exp_##ISA(r)), x);                                                                \
        V p = fmadd(set1(EP0), s, set1(EP1));                                                                                \
        p = fmadd(p, s, set1(EP2));                                                                                          \
        p = fmadd(p, s, set1(EP3));                                                                                          \
        p = fmadd(p, s, set1(EP4));                                                                                          \
        p = fmadd(p, s, set1(EP5));                                                                                          \
        return gt_blend(t, set1(ERF_SPLIT), large, fmadd(p, x, x));                                                          \
    }                                                                                                                        \
    __attribute__((target(TARGET))) static inline V gelu_##ISA(V x) {                                                        \
        return mul(mul(x, set1(0.5f)), add(set1(1.0f), erf_##ISA(mul(x, set1(SQRT1_2F)))));                                  \
    }                                                                                                                        \
    __attribute__((target(TARGET))) static inline V gelu_backward_##ISA(V g, V x) {                                          \
        V cdf = mul(set1(0.5f), add(set1(1.0f), erf_##ISA(mul(x, set1(SQRT1_2F)))));                                         \
        V pdf = mul(set1(GELU_BETA), exp_##ISA(mul(mul(x, x), set1(-0.5f))));                                                \
        return mul(g, fmadd(x, pdf, cdf));                                                                                   \
    }

// AVX-512.
#define V16_ISNAN_BLEND(x, v) _mm512_mask_blend_ps(_mm512_cmp_ps_mask(x, x, _CMP_UNORD_Q), v, x)
#define V16_GE_BLEND(x, a, b) _mm512_mask_blend_ps(_mm512_cmp_ps_mask(x, _mm512_setzero_ps(), _CMP_GE_OQ), b, a)
#define V16_LT_BLEND(a, lim, x, y) _mm512_mask_blend_ps(_mm512_cmp_ps_mask(a, lim, _CMP_LT_OQ), y, x)
#define V16_GT_BLEND(a, lim, x, y) _mm512_mask_blend_ps(_mm512_cmp_ps_mask(a, lim, _CMP_GT_OQ), y, x)
#define V16_ABS(x) _mm512_castsi512_ps(_mm512_andnot_si512(_mm512_set1_epi32((int)0x80000000u), _mm512_castps_si512(x)))
// t (non-negative) with x's sign: t where x ≥ 0 or NaN, −t where x < 0 (as the scalar x < 0 ? −t : t).
#define V16_XOR_SIGN(t, x) _mm512_mask_blend_ps(_mm512_cmp_ps_mask(x, _mm512_setzero_ps(), _CMP_LT_OQ), t, _mm512_sub_ps(_mm512_setzero_ps(), t))
#define V16_ROUND(x) _mm512_roundscale_ps(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)
DEFINE_TRANSCENDENTAL(avx512, "avx512f", __m512, __m512i, _mm512_set1_ps, _mm512_add_ps, _mm512_sub_ps, _mm512_mul_ps, _mm512_div_ps,
                      _mm512_fmadd_ps, _mm512_fnmadd_ps, _mm512_max_ps, _mm512_min_ps, V16_ROUND, V16_ABS, _mm512_cvtps_epi32,
                      _mm512_cvtepi32_ps, _mm512_add_epi32, _mm512_srai_epi32, _mm512_slli_epi32, _mm512_set1_epi32, _mm512_castsi512_ps,
                      _mm512_sub_epi32, V16_ISNAN_BLEND, V16_GE_BLEND, V16_LT_BLEND, V16_GT_BLEND, V16_XOR_SIGN)

// AVX2 with FMA.
#define V8_ISNAN_BLEND(x, v) _mm256_blendv_ps(v, x, _mm256_cmp_ps(x, x, _CMP_UNORD_Q))
#define V8_GE_BLEND(x, a, b) _mm256_blendv_ps(b, a, _mm256_cmp_ps(x, _mm256_setzero_ps(), _CMP_GE_OQ))
#define V8_LT_BLEND(a, lim, x, y) _mm256_blendv_ps(y, x, _mm256_cmp_ps(a, lim, _CMP_LT_OQ))
#define V8_GT_BLEND(a, lim, x, y) _mm256_blendv_ps(y, x, _mm256_cmp_ps(a, lim, _CMP_GT_OQ))
#define V8_ABS(x) _mm256_andnot_ps(_mm256_set1_ps(-0.0f), x)
#define V8_XOR_SIGN(t, x) _mm256_blendv_ps(t, _mm256_sub_ps(_mm256_setzero_ps(), t), _mm256_cmp_ps(x, _mm256_setzero_ps(), _CMP_LT_OQ))
#define V8_ROUND(x) _mm256_round_ps(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)
DEFINE_TRANSCENDENTAL(avx2, "avx2,fma", __m256, __m256i, _mm256_set1_ps, _mm256_add_ps, _mm256_sub_ps, _mm256_mul_ps, _mm256_div_ps,
                      _mm256_fmadd_ps, _mm256_fnmadd_ps, _mm256_max_ps, _mm256_min_ps, V8_ROUND, V8_ABS, _mm256_cvtps_epi32,
                      _mm256_cvtepi32_ps, _mm256_add_epi32, _mm256_srai_epi32, _mm256_slli_epi32, _mm256_set1_epi32, _mm256_castsi256_ps,
                      _mm256_sub_epi32, V8_ISNAN_BLEND, V8_GE_BLEND, V8_LT_BLEND, V8_GT_BLEND, V8_XOR_SIGN)

#define DEFINE_LOOPS(NAME)                                                                                                   \
    __attribute__((target("avx512f"))) static long NAME##_avx512_loop(const float *x, float *out, long n) {                  \
        long i = 0;                                                                                                          \
        for (; i + 16 <= n; i += 16) _mm512_storeu_ps(out + i, NAME##_avx512(_mm512_loadu_ps(x + i)));                       \
        return i;                                                                                                            \
    }                                                                                                                        \
    __attribute__((target("avx2,fma"))) static long NAME##_avx2_loop(const float *x, float *out, long n) {                   \
        long i = 0;                                                                                                          \
        for (; i + 8 <= n; i += 8) _mm256_storeu_ps(out + i, NAME##_avx2(_mm256_loadu_ps(x + i)));                           \
        return i;                                                                                                            \
    }
DEFINE_LOOPS(exp)
DEFINE_LOOPS(sigmoid)
DEFINE_LOOPS(tanh)
DEFINE_LOOPS(erf)
DEFINE_LOOPS(gelu)

__attribute__((target("avx512f"))) static long gelu_backward_avx512_loop(const float *g, const float *x, float *out, long n) {
    long i = 0;
    for (; i + 16 <= n; i += 16) _mm512_storeu_ps(out + i, gelu_backward_avx512(_mm512_loadu_ps(g + i), _mm512_loadu_ps(x + i)));
    return i;
}
__attribute__((target("avx2,fma"))) static long gelu_backward_avx2_loop(const float *g, const float *x, float *out, long n) {
    long i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(out + i, gelu_backward_avx2(_mm256_loadu_ps(g + i), _mm256_loadu_ps(x + i)));
    return i;
}
#endif

// Levels: 1 scalar, 2 AVX2 with FMA, 3 AVX-512 (where this CPU runs them).
int axon_transcendental_levels(void) {
#if AXON_X86
    return axon_vector_levels();
#else
    return 1;
#endif
}

void axon_transcendental_f32_with(int level, int op, const float *x, float *out, long n) {
    long i = 0;
#if AXON_X86
    if (level >= 3) {
        switch (op) {
        case 0: i = exp_avx512_loop(x, out, n); break;
        case 1: i = sigmoid_avx512_loop(x, out, n); break;
        case 2: i = tanh_avx512_loop(x, out, n); break;
        case 3: i = erf_avx512_loop(x, out, n); break;
        default: i = gelu_avx512_loop(x, out, n); break;
        }
    } else if (level == 2) {
        switch (op) {
        case 0: i = exp_avx2_loop(x, out, n); break;
        case 1: i = sigmoid_avx2_loop(x, out, n); break;
        case 2: i = tanh_avx2_loop(x, out, n); break;
        case 3: i = erf_avx2_loop(x, out, n); break;
        default: i = gelu_avx2_loop(x, out, n); break;
        }
    }
#else
    (void)level;
#endif
    for (; i < n; i++) {
        switch (op) {
        case 0: out[i] = exp_one(x[i]); break;
        case 1: out[i] = sigmoid_one(x[i]); break;
        case 2: out[i] = tanh_one(x[i]); break;
        case 3: out[i] = erf_one(x[i]); break;
        default: out[i] = gelu_one(x[i]); break;
        }
    }
}

void axon_gelu_backward_f32_with(int level, const float *g, const float *x, float *out, long n) {
    long i = 0;
#if AXON_X86
    if (level >= 3) i = gelu_backward_avx512_loop(g, x, out, n);
    else if (level == 2) i = gelu_backward_avx2_loop(g, x, out, n);
#else
    (void)level;
#endif
    for (; i < n; i++) out[i] = gelu_backward_one(g[i], x[i]);
}

void axon_exp_f32(const float *x, float *out, long n) { axon_transcendental_f32_with(axon_transcendental_levels(), 0, x, out, n); }
void axon_sigmoid_f32(const float *x, float *out, long n) { axon_transcendental_f32_with(axon_transcendental_levels(), 1, x, out, n); }
void axon_tanh_f32(const float *x, float *out, long n) { axon_transcendental_f32_with(axon_transcendental_levels(), 2, x, out, n); }
void axon_erf_f32(const float *x, float *out, long n) { axon_transcendental_f32_with(axon_transcendental_levels(), 3, x, out, n); }
void axon_gelu_f32(const float *x, float *out, long n) { axon_transcendental_f32_with(axon_transcendental_levels(), 4, x, out, n); }
void axon_gelu_backward_f32(const float *g, const float *x, float *out, long n) {
    axon_gelu_backward_f32_with(axon_transcendental_levels(), g, x, out, n);
}
