// float32 softmax and log-softmax over rows, and log-softmax's derivative, vectorised (AVX-512 or AVX2 with FMA,
// chosen at run time) with a scalar version that performs the same operations in the same order, so every level
// gives the same bits. Contraction is off: every fused multiply-add is spelled.
//
// exp is the C library's expf as glibc computes it (ARM's optimized-routines, MIT): x·32/ln 2 = k + r, then
// 2^(k/32) from a table of 32 float64 values and 2^(r/32) by a cubic, all in float64, rounded once to float32
// (within 0.502 ulp of the exact value). The same operations in vectors: over every float32 input, the scalar and
// AVX-512 forms give glibc 2.36's expf bit for bit (checked exhaustively on an Intel Xeon, family 6 model 207), so
// these rows keep the bits of the loops they replaced, which called expf (AxonCore's Reduction.swift), and on other C
// libraries the same bits as on Linux.
//
// A softmax row: m its maximum (0 when infinite; NaN wins), e = exp(x − m) written out, their sum in float64 (eight
// partial sums, element j into sum j mod 8, then added pairwise), and e / sum. A log-softmax row: the same exps,
// their float32 sum in order, l = log of it, and (x − m) − l. A softmax row of 64 (attention's), Intel Xeon family 6
// model 207, 1 thread: 410 ns with the scalar loops and the C library's expf, 73 ns in AVX-512.
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "AxonKernels.h"
#include "cpu.h"

#pragma clang fp contract(off)

// 2^(i/32) rounded to float64, less i/32 in the exponent field (so that adding k << 47 makes 2^(k/32)).
static const uint64_t EXP_TABLE[32] = {
    0x3ff0000000000000, 0x3fefd9b0d3158574, 0x3fefb5586cf9890f, 0x3fef9301d0125b51, 0x3fef72b83c7d517b, 0x3fef54873168b9aa,
    0x3fef387a6e756238, 0x3fef1e9df51fdee1, 0x3fef06fe0a31b715, 0x3feef1a7373aa9cb, 0x3feedea64c123422, 0x3feece086061892d,
    0x3feebfdad5362a27, 0x3feeb42b569d4f82, 0x3feeab07dd485429, 0x3feea47eb03a5585, 0x3feea09e667f3bcd, 0x3fee9f75e8ec5f74,
    0x3feea11473eb0187, 0x3feea589994cce13, 0x3feeace5422aa0db, 0x3feeb737b0cdc5e5, 0x3feec49182a3f090, 0x3feed503b23e255d,
    0x3feee89f995ad3ad, 0x3feeff76f2fb5e47, 0x3fef199bdd85529c, 0x3fef3720dcef9069, 0x3fef5818dcfba487, 0x3fef7c97337b9b5f,
    0x3fefa4afa2a490da, 0x3fefd0765b6e4540};
#define INV_LN2_32 (0x1.71547652b82fep+0 * 32)
#define ROUND_SHIFT 0x1.8p+52
#define C0 (0x1.c6af84b912394p-5 / 32 / 32 / 32)
#define C1 (0x1.ebfce50fac4f3p-3 / 32 / 32)
#define C2 (0x1.62e42ff0c52d6p-1 / 32)
#define OVERFLOW 0x1.62e42ep6f    // log(2^128): above it, +inf
#define UNDERFLOW -0x1.9fe368p6f  // log(2^-150): below it, 0
#define LANES 8                   // partial sums of a softmax row

static inline float exp_one(float x) {
    if (x != x) return x + x;
    if (x > OVERFLOW) return INFINITY;
    if (x < UNDERFLOW) return 0.0f;
    const double z = INV_LN2_32 * (double)x;
    double kd = z + ROUND_SHIFT;  // k in the low bits
    uint64_t ki, bits;
    memcpy(&ki, &kd, 8);
    kd -= ROUND_SHIFT;
    const double r = fma(INV_LN2_32, (double)x, -kd);
    bits = EXP_TABLE[ki % 32] + (ki << 47);
    double s;
    memcpy(&s, &bits, 8);
    const double p = fma(C0, r, C1), r2 = r * r;
    const double y = fma(p, r2, fma(C2, r, 1.0));
    return (float)(y * s);
}

float axon_softmax_exp_f32_one(float x) { return exp_one(x); }

// The row's maximum as the scalar scan finds it: the first NaN, else the largest value (of equal zeros, the first).
static inline float row_max_scalar(const float *x, long n) {
    float m = -INFINITY;
    for (long j = 0; j < n; j++)
        if (x[j] > m || x[j] != x[j]) m = x[j];
    return m;
}

// The eight partial sums added pairwise.
static inline double add_lanes(const double *s) { return ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7])); }

static void softmax_row_scalar(const float *x, float *y, long n, int log) {
    float m = row_max_scalar(x, n);
    if (fabsf(m) == INFINITY) m = 0;
    for (long j = 0; j < n; j++) y[j] = exp_one(x[j] - m);
    if (log) {
        float s = 0;
        for (long j = 0; j < n; j++) s += y[j];
        const float l = logf(s);
        for (long j = 0; j < n; j++) y[j] = (x[j] - m) - l;
    } else {
        double sums[LANES] = {0};
        for (long j = 0; j < n; j++) sums[j % LANES] += (double)y[j];
        const float s = (float)add_lanes(sums);
        for (long j = 0; j < n; j++) y[j] = y[j] / s;
    }
}

#if AXON_X86
// exp of 8 floats (already within [-104, 89]) in float64, as exp_one.
__attribute__((target("avx512f"))) static inline __m512d exp_pd8(__m256 xf) {
    const __m512d x = _mm512_cvtps_pd(xf), z = _mm512_mul_pd(_mm512_set1_pd(INV_LN2_32), x);
    __m512d kd = _mm512_add_pd(z, _mm512_set1_pd(ROUND_SHIFT));
    const __m512i ki = _mm512_castpd_si512(kd);
    kd = _mm512_sub_pd(kd, _mm512_set1_pd(ROUND_SHIFT));
    const __m512d r = _mm512_fmsub_pd(_mm512_set1_pd(INV_LN2_32), x, kd);
    const __m512i t0 = _mm512_permutex2var_epi64(_mm512_loadu_si512(EXP_TABLE), ki, _mm512_loadu_si512(EXP_TABLE + 8));
    const __m512i t1 = _mm512_permutex2var_epi64(_mm512_loadu_si512(EXP_TABLE + 16), ki, _mm512_loadu_si512(EXP_TABLE + 24));
    const __m512i t = _mm512_mask_blend_epi64(_mm512_test_epi64_mask(ki, _mm512_set1_epi64(16)), t0, t1);
    const __m512d s = _mm512_castsi512_pd(_mm512_add_epi64(t, _mm512_slli_epi64(ki, 47)));
    const __m512d p = _mm512_fmadd_pd(_mm512_set1_pd(C0), r, _mm512_set1_pd(C1)), r2 = _mm512_mul_pd(r, r);
    const __m512d y = _mm512_fmadd_pd(p, r2, _mm512_fmadd_pd(_mm512_set1_pd(C2), r, _mm512_set1_pd(1.0)));
    return _mm512_mul_pd(y, s);
}

__attribute__((target("avx512f"))) static inline __m512 exp16(__m512 x) {
    const __m512 c = _mm512_min_ps(_mm512_max_ps(x, _mm512_set1_ps(-104.0f)), _mm512_set1_ps(89.0f));
    const __m256 lo = _mm512_cvtpd_ps(exp_pd8(_mm512_castps512_ps256(c)));
    const __m256 hi = _mm512_cvtpd_ps(exp_pd8(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(c), 1))));
    __m512 y = _mm512_castpd_ps(_mm512_insertf64x4(_mm512_castps_pd(_mm512_castps256_ps512(lo)), _mm256_castps_pd(hi), 1));
    y = _mm512_mask_blend_ps(_mm512_cmp_ps_mask(x, _mm512_set1_ps(OVERFLOW), _CMP_GT_OQ), y, _mm512_set1_ps(INFINITY));
    y = _mm512_mask_blend_ps(_mm512_cmp_ps_mask(x, _mm512_set1_ps(UNDERFLOW), _CMP_LT_OQ), y, _mm512_setzero_ps());
    return _mm512_mask_blend_ps(_mm512_cmp_ps_mask(x, x, _CMP_UNORD_Q), y, _mm512_add_ps(x, x));
}

// exp of 4 floats (already within [-104, 89]) in float64, as exp_one.
__attribute__((target("avx2,fma"))) static inline __m256d exp_pd4(__m128 xf) {
    const __m256d x = _mm256_cvtps_pd(xf), z = _mm256_mul_pd(_mm256_set1_pd(INV_LN2_32), x);
    __m256d kd = _mm256_add_pd(z, _mm256_set1_pd(ROUND_SHIFT));
    const __m256i ki = _mm256_castpd_si256(kd);
    kd = _mm256_sub_pd(kd, _mm256_set1_pd(ROUND_SHIFT));
    const __m256d r = _mm256_fmsub_pd(_mm256_set1_pd(INV_LN2_32), x, kd);
    const __m256i t = _mm256_i64gather_epi64((const long long *)EXP_TABLE, _mm256_and_si256(ki, _mm256_set1_epi64x(31)), 8);
    const __m256d s = _mm256_castsi256_pd(_mm256_add_epi64(t, _mm256_slli_epi64(ki, 47)));
    const __m256d p = _mm256_fmadd_pd(_mm256_set1_pd(C0), r, _mm256_set1_pd(C1)), r2 = _mm256_mul_pd(r, r);
    const __m256d y = _mm256_fmadd_pd(p, r2, _mm256_fmadd_pd(_mm256_set1_pd(C2), r, _mm256_set1_pd(1.0)));
    return _mm256_mul_pd(y, s);
}

__attribute__((target("avx2,fma"))) static inline __m256 exp8(__m256 x) {
    const __m256 c = _mm256_min_ps(_mm256_max_ps(x, _mm256_set1_ps(-104.0f)), _mm256_set1_ps(89.0f));
    const __m128 lo = _mm256_cvtpd_ps(exp_pd4(_mm256_castps256_ps128(c))), hi = _mm256_cvtpd_ps(exp_pd4(_mm256_extractf128_ps(c, 1)));
    __m256 y = _mm256_set_m128(hi, lo);
    y = _mm256_blendv_ps(y, _mm256_set1_ps(INFINITY), _mm256_cmp_ps(x, _mm256_set1_ps(OVERFLOW), _CMP_GT_OQ));
    y = _mm256_blendv_ps(y, _mm256_setzero_ps(), _mm256_cmp_ps(x, _mm256_set1_ps(UNDERFLOW), _CMP_LT_OQ));
    return _mm256_blendv_ps(y, _mm256_add_ps(x, x), _mm256_cmp_ps(x, x, _CMP_UNORD_Q));
}

// The row kernels for one vector width W: LOAD(p, n, fill) the first n lanes (the rest `fill`), STORE(p, n, v) the
// first n lanes, EXP, MAX, and ACCUMULATE(sums, v) adding lane l of v into sums[l mod 8] in float64 (v's lanes past
// the row are 0, which leaves a sum as it is). The maximum is the scalar scan's where the lanes' maximum cannot tell
// (a NaN in the row; a zero, whose sign the first one decides).
#define DEFINE_SOFTMAX_ROWS(ISA, TARGET, V, W, LOAD, STORE, SET1, SUB, MUL, DIV, EXP, MAX, HMAX, ANY_NAN, SUMS, ZERO_SUMS, ACCUMULATE, \
                            SPILL_SUMS)                                                                                       \
    __attribute__((target(TARGET))) static float row_max_##ISA(const float *x, long n) {                                     \
        V best = SET1(-INFINITY);                                                                                            \
        int nan = 0;                                                                                                         \
        for (long j = 0; j < n; j += W) {                                                                                    \
            const V v = LOAD(x + j, n - j, -INFINITY);                                                                      \
            nan |= ANY_NAN(v);                                                                                               \
            best = MAX(best, v);                                                                                             \
        }                                                                                                                    \
        const float m = HMAX(best);                                                                                          \
        return nan || m == 0 ? row_max_scalar(x, n) : m;                                                                    \
    }                                                                                                                        \
    __attribute__((target(TARGET))) static void softmax_row_##ISA(const float *x, float *y, long n, int log) {               \
        float m = row_max_##ISA(x, n);                                                                                       \
        if (fabsf(m) == INFINITY) m = 0;                                                                                     \
        const V mv = SET1(m);                                                                                                \
        SUMS;                                                                                                                \
        ZERO_SUMS;                                                                                                           \
        for (long j = 0; j < n; j += W) {                                                                                    \
            const V e = EXP(SUB(LOAD(x + j, n - j, 0.0f), mv));                                                             \
            STORE(y + j, n - j, e);                                                                                          \
            if (!log) ACCUMULATE(LOAD(y + j, n - j, 0.0f));                                                                 \
        }                                                                                                                    \
        if (log) {                                                                                                           \
            float s = 0;                                                                                                     \
            for (long j = 0; j < n; j++) s += y[j];                                                                          \
            const V l = SET1(logf(s));                                                                                       \
            for (long j = 0; j < n; j += W) STORE(y + j, n - j, SUB(SUB(LOAD(x + j, n - j, 0.0f), mv), l));                \
        } else {                                                                                                             \
            double lanes[LANES];                                                                                             \
            SPILL_SUMS(lanes);                                                                                               \
            const V s = SET1((float)add_lanes(lanes));                                                                       \
            for (long j = 0; j < n; j += W) STORE(y + j, n - j, DIV(LOAD(y + j, n - j, 1.0f), s));                          \
        }                                                                                                                    \
    }                                                                                                                        \
    __attribute__((target(TARGET))) static void log_softmax_backward_row_##ISA(const float *g, const float *y, float *o, long n) { \
        float s = 0;                                                                                                         \
        for (long j = 0; j < n; j++) s += g[j];                                                                              \
        const V sv = SET1(s);                                                                                                \
        for (long j = 0; j < n; j += W) {                                                                                    \
            const V e = EXP(LOAD(y + j, n - j, 0.0f));                                                                       \
            STORE(o + j, n - j, SUB(LOAD(g + j, n - j, 0.0f), MUL(e, sv)));                             \
        }                                                                                                                    \
    }

#define L16(p, n, fill) ((__m512)axon_load16(p, n, fill))
#define S16(p, n, v) axon_store16(p, n, (axon_v16)(v))
#define NAN16(v) (_mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q) != 0)
#define SUMS16 __m512d sums
#define ZERO16 sums = _mm512_setzero_pd()
#define ACC16(v)                                                                                                             \
    do {                                                                                                                     \
        const __m512 a_ = (v);                                                                                               \
        sums = _mm512_add_pd(sums, _mm512_cvtps_pd(_mm512_castps512_ps256(a_)));                                             \
        sums = _mm512_add_pd(sums, _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(a_), 1))));       \
    } while (0)
#define SPILL16(out) _mm512_storeu_pd(out, sums)
DEFINE_SOFTMAX_ROWS(avx512, "avx512f", __m512, 16, L16, S16, _mm512_set1_ps, _mm512_sub_ps, _mm512_mul_ps, _mm512_div_ps, exp16, _mm512_max_ps,
                    _mm512_reduce_max_ps, NAN16, SUMS16, ZERO16, ACC16, SPILL16)

#define L8(p, n, fill) ((__m256)axon_load8(p, n, fill))
#define S8(p, n, v) axon_store8(p, n, (axon_v8)(v))
#define NAN8(v) (_mm256_movemask_ps(_mm256_cmp_ps(v, v, _CMP_UNORD_Q)) != 0)
#define SUMS8 __m256d sums_lo, sums_hi
#define ZERO8 sums_lo = sums_hi = _mm256_setzero_pd()
#define ACC8(v)                                                                                                              \
    do {                                                                                                                     \
        const __m256 a_ = (v);                                                                                               \
        sums_lo = _mm256_add_pd(sums_lo, _mm256_cvtps_pd(_mm256_castps256_ps128(a_)));                                       \
        sums_hi = _mm256_add_pd(sums_hi, _mm256_cvtps_pd(_mm256_extractf128_ps(a_, 1)));                                     \
    } while (0)
#define SPILL8(out) (_mm256_storeu_pd(out, sums_lo), _mm256_storeu_pd((out) + 4, sums_hi))
__attribute__((target("avx2"))) static inline float hmax8(__m256 v) {
    __m128 h = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    h = _mm_max_ps(h, _mm_movehl_ps(h, h));
    return _mm_cvtss_f32(_mm_max_ss(h, _mm_movehdup_ps(h)));
}
DEFINE_SOFTMAX_ROWS(avx2, "avx2,fma", __m256, 8, L8, S8, _mm256_set1_ps, _mm256_sub_ps, _mm256_mul_ps, _mm256_div_ps, exp8, _mm256_max_ps, hmax8,
                    NAN8, SUMS8, ZERO8, ACC8, SPILL8)
#endif

static void log_softmax_backward_row_scalar(const float *g, const float *y, float *o, long n) {
    float s = 0;
    for (long j = 0; j < n; j++) s += g[j];
    for (long j = 0; j < n; j++) {
        const float e = exp_one(y[j]);
        o[j] = g[j] - e * s;
    }
}

int axon_softmax_levels(void) {
#if AXON_X86
    return axon_vector_levels();
#else
    return 1;
#endif
}

void axon_softmax_rows_f32_with(int level, const float *x, float *out, long rows, long n, int log) {
    for (long r = 0; r < rows; r++) {
#if AXON_X86
        if (level >= 3) { softmax_row_avx512(x + r * n, out + r * n, n, log); continue; }
        if (level == 2) { softmax_row_avx2(x + r * n, out + r * n, n, log); continue; }
#else
        (void)level;
#endif
        softmax_row_scalar(x + r * n, out + r * n, n, log);
    }
}

void axon_log_softmax_backward_rows_f32_with(int level, const float *g, const float *y, float *out, long rows, long n) {
    for (long r = 0; r < rows; r++) {
#if AXON_X86
        if (level >= 3) { log_softmax_backward_row_avx512(g + r * n, y + r * n, out + r * n, n); continue; }
        if (level == 2) { log_softmax_backward_row_avx2(g + r * n, y + r * n, out + r * n, n); continue; }
#else
        (void)level;
#endif
        log_softmax_backward_row_scalar(g + r * n, y + r * n, out + r * n, n);
    }
}

void axon_softmax_rows_f32(const float *x, float *out, long rows, long n, int log) {
    axon_softmax_rows_f32_with(axon_softmax_levels(), x, out, rows, n, log);
}

void axon_log_softmax_backward_rows_f32(const float *g, const float *y, float *out, long rows, long n) {
    axon_log_softmax_backward_rows_f32_with(axon_softmax_levels(), g, y, out, rows, n);
}
