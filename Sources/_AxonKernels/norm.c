// Batch normalisation's two passes over [N, C, S] data (contiguous; S = the positions of one channel of one
// sample): per-channel sums, and a per-channel affine combination. Forward and backward are each one pass of
// sums and one pass of the combination; the channel split only decides which thread runs a channel, never
// what it computes.
#include "AxonKernels.h"

#include <math.h>
#include <stdlib.h>

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

// out = h·w + b (w or b may be NULL: without that factor or term), rounded after the product and after the sum.
static void scale_shift_portable(const float *h, const float *w, const float *b, float *out, long len) {
#pragma clang fp contract(off)
    for (long i = 0; i < len; i++) {
        float r = h[i];
        if (w) r = r * w[i];
        if (b) r = r + b[i];
        out[i] = r;
    }
}

#if AXON_X86
// The same, written once for vectors V of W lanes (LOAD and STORE: cpu.h's primitives of that width), compiled for
// TARGET. Two vector sums each; a tail's lanes past the plane are loaded as the shift, so they add exact zeros.
#define AXON_CHANNEL_KERNELS(SUMS, AFFINE, V, W, LOAD, STORE, HSUM, TARGET)                                         \
    __attribute__((target(TARGET))) static void SUMS(const float *a, const float *b, long len, float sa, float sb,  \
                                                     double *ta, double *tab) {                                    \
        for (long start = 0; start < len; start += AXON_NORM_BLOCK) {                                              \
            const long end = start + AXON_NORM_BLOCK < len ? start + AXON_NORM_BLOCK : len;                        \
            V s0 = {0}, s1 = {0}, p0 = {0}, p1 = {0};                                                              \
            long i = start;                                                                                        \
            for (; i + 2 * W <= end; i += 2 * W) {                                                                 \
                const V u0 = *(const V *)(a + i) - sa, u1 = *(const V *)(a + i + W) - sa;                         \
                const V w0 = *(const V *)(b + i) - sb, w1 = *(const V *)(b + i + W) - sb;                         \
                s0 += u0; s1 += u1;                                                                                \
                p0 += u0 * w0; p1 += u1 * w1;                                                                      \
            }                                                                                                      \
            for (; i < end; i += W) {                                                                              \
                const V u = LOAD(a + i, end - i, sa) - sa, w = LOAD(b + i, end - i, sb) - sb;                      \
                s0 += u;                                                                                           \
                p0 += u * w;                                                                                       \
            }                                                                                                      \
            *ta += HSUM(s0 + s1);                                                                                  \
            *tab += HSUM(p0 + p1);                                                                                 \
        }                                                                                                          \
    }                                                                                                              \
    __attribute__((target(TARGET))) static void AFFINE(const float *a, const float *b, float *out, long len,       \
                                                       float sa, float sb, float alpha, float beta, float gamma) { \
        for (long i = 0; i < len; i += W) {                                                                        \
            const int whole = len - i >= W;                                                                        \
            V r = alpha * ((whole ? *(const V *)(a + i) : LOAD(a + i, len - i, 0)) - sa) + gamma;                  \
            if (b) r = beta * ((whole ? *(const V *)(b + i) : LOAD(b + i, len - i, 0)) - sb) + r;                  \
            if (whole) *(V *)(out + i) = r;                                                                        \
            else STORE(out + i, len - i, r);                                                                       \
        }                                                                                                          \
    }

#define AXON_SCALE_SHIFT_KERNEL(NAME, V, W, LOAD, STORE, TARGET)                                                     \
    __attribute__((target(TARGET))) static void NAME(const float *h, const float *w, const float *b, float *out, long len) { \
        _Pragma("clang fp contract(off)")                                                                          \
        for (long i = 0; i < len; i += W) {                                                                        \
            V r = LOAD(h + i, len - i, 0);                                                                         \
            if (w) r = r * LOAD(w + i, len - i, 0);                                                                \
            if (b) r = r + LOAD(b + i, len - i, 0);                                                                \
            STORE(out + i, len - i, r);                                                                            \
        }                                                                                                          \
    }

AXON_CHANNEL_KERNELS(sums_avx512, affine_avx512, axon_v16, 16, axon_load16, axon_store16, axon_hsum16, "avx512f")
AXON_CHANNEL_KERNELS(sums_avx2, affine_avx2, axon_v8, 8, axon_load8, axon_store8, axon_hsum8, "avx2,fma")
AXON_SCALE_SHIFT_KERNEL(scale_shift_avx512, axon_v16, 16, axon_load16, axon_store16, "avx512f")
AXON_SCALE_SHIFT_KERNEL(scale_shift_avx2, axon_v8, 8, axon_load8, axon_store8, "avx2,fma")
#endif

int axon_channel_levels(void) { return axon_vector_levels(); }

// One plane of each pass, with the kernels of `level`.
static void sums_plane(int level, const float *a, const float *b, long s, float sa, float sb, double *ta, double *tab) {
#if AXON_X86
    if (level >= 3) { sums_avx512(a, b, s, sa, sb, ta, tab); return; }
    if (level == 2) { sums_avx2(a, b, s, sa, sb, ta, tab); return; }
#endif
    sums_portable(a, b, s, sa, sb, ta, tab);
}

static void affine_plane(int level, const float *a, const float *b, float *out, long s, float sa, float sb, float alpha, float beta,
                         float gamma) {
#if AXON_X86
    if (level >= 3) { affine_avx512(a, b, out, s, sa, sb, alpha, beta, gamma); return; }
    if (level == 2) { affine_avx2(a, b, out, s, sa, sb, alpha, beta, gamma); return; }
#endif
    affine_portable(a, b, out, s, sa, sb, alpha, beta, gamma);
}

static void scale_shift_row(int level, const float *h, const float *w, const float *b, float *out, long len) {
#if AXON_X86
    if (level >= 3) { scale_shift_avx512(h, w, b, out, len); return; }
    if (level == 2) { scale_shift_avx2(h, w, b, out, len); return; }
#endif
    scale_shift_portable(h, w, b, out, len);
}

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
            sums_plane(level, a + at, b + at, s, sa, sb, sum_a + ch, sum_ab + ch);
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
            affine_plane(level, a + at, b ? b + at : 0, out + at, s, sa, sb, alpha[ch], be, gamma[ch]);
        }
    }
}

void axon_channel_affine_f32(const float *a, const float *b, float *out, long n, long c, long s, long c0, long c1,
                             const float *shift_a, const float *shift_b, const float *alpha, const float *beta, const float *gamma) {
    axon_channel_affine_f32_with(axon_channel_levels(), a, b, out, n, c, s, c0, c1, shift_a, shift_b, alpha, beta, gamma);
}

// ---- The passes with 2x2 max pooling (stride 2) on the far side of the affine map ----------------------------
// For batch norm followed by max pooling. Forward, each plane's map goes to a scratch plane in L1 and is pooled from
// there, so the full-size output is never written to memory and read back. Backward, the pooled gradient is spread
// over its windows plane by plane into a buffer of the task's block of channels (in L2), which the sums and then the
// map read, instead of a full-size gradient written by the pooling's backward pass and read twice. Each plane goes
// through the same kernels as the passes above and the pooling kernels (elementwise.c), in the same order: the same
// bits as the separate ops.

void axon_channel_affine_maxpool2x2_f32(const axon_pool2x2 *pool, const float *a, long n, long c, long c0, long c1,
                                        const float *shift_a, const float *alpha, const float *gamma) {
    const int level = axon_channel_levels();
    const long h = pool->height, w = pool->width, s = h * w, q = pool->out_h * pool->out_w;
    float *plane = malloc(sizeof(float) * (s > 0 ? s : 1));
    for (long i = 0; i < n; i++) {
        for (long ch = c0; ch < c1; ch++) {
            const long p = i * c + ch;
            affine_plane(level, a + p * s, 0, plane, s, shift_a ? shift_a[ch] : 0, 0, alpha[ch], 0, gamma[ch]);
            axon_maxpool2x2_plane_f32(plane, p * s, h, w, pool->out_h, pool->out_w, pool->pooled + p * q, 0,
                                      pool->codes ? pool->codes + p * q : 0, pool->relu);
        }
    }
    free(plane);
}

void axon_channel_sums_unpooled_f32(const axon_pool2x2 *pool, const float *b, long n, long c, long c0, long c1,
                                    const float *shift_b, double *sum_a, double *sum_ab, float *spread) {
    const int level = axon_channel_levels();
    const long s = pool->height * pool->width, q = pool->out_h * pool->out_w;
    for (long ch = c0; ch < c1; ch++) sum_a[ch] = sum_ab[ch] = 0;
    for (long i = 0; i < n; i++) {
        for (long ch = c0; ch < c1; ch++) {
            const long p = i * c + ch;
            float *a = spread + (i * (c1 - c0) + ch - c0) * s;
            axon_maxpool2x2_backward_codes_plane_f32(pool->gradient + p * q, pool->codes + p * q, pool->height, pool->width,
                                                     pool->out_h, pool->out_w, a);
            sums_plane(level, a, b + p * s, s, 0, shift_b ? shift_b[ch] : 0, sum_a + ch, sum_ab + ch);
        }
    }
}

void axon_channel_affine_spread_f32(const float *spread, const float *b, float *out, long n, long c, long s, long c0, long c1,
                                    const float *shift_b, const float *alpha, const float *beta, const float *gamma) {
    const int level = axon_channel_levels();
    for (long i = 0; i < n; i++) {
        for (long ch = c0; ch < c1; ch++) {
            const long p = i * c + ch;
            affine_plane(level, spread + (i * (c1 - c0) + ch - c0) * s, b + p * s, out + p * s, s, 0, shift_b ? shift_b[ch] : 0,
                         alpha[ch], beta[ch], gamma[ch]);
        }
    }
}

// ---- Layer normalisation's rows ----------------------------------------------------------------------------------
// Each row is one channel's plane to the passes above: its sums shifted by its first value, then the affine map
// rstd·(x − mean) into x̂, then x̂·weight + bias. Backward, g' = g·weight, its sums with x̂, then
// rstd·g' − rstd·mean(g'·x̂)·x̂ − rstd·mean(g'): rstd·(g' − mean(g') − x̂·mean(g'·x̂)).

void axon_layer_norm_rows_f32_with(int level, const float *x, float *xhat, float *out, const float *weight, const float *bias,
                                   long rows, long width, double eps, double *rstd) {
    for (long r = 0; r < rows; r++) {
        const float *row = x + r * width;
        float *h = xhat + r * width;
        const float first = width > 0 ? row[0] : 0;
        double d = 0, q = 0;
        sums_plane(level, row, row, width, first, first, &d, &q);
        const double m = d / (double)width, spread = q / (double)width - m * m;
        const double variance = spread < 0 ? 0 : spread;  // NaN stays NaN
        const double s = 1 / sqrt(variance + eps);
        rstd[r] = s;
        affine_plane(level, row, 0, h, width, (float)(first + m), 0, (float)s, 0, 0);
        if (weight || bias) scale_shift_row(level, h, weight, bias, out + r * width, width);
    }
}

void axon_layer_norm_rows_f32(const float *x, float *xhat, float *out, const float *weight, const float *bias, long rows,
                              long width, double eps, double *rstd) {
    axon_layer_norm_rows_f32_with(axon_channel_levels(), x, xhat, out, weight, bias, rows, width, eps, rstd);
}

void axon_layer_norm_backward_rows_f32_with(int level, const float *g, const float *weight, const float *xhat, float *dx,
                                            long rows, long width, const double *rstd) {
    for (long r = 0; r < rows; r++) {
        const float *gy = g + r * width, *y = xhat + r * width;
        float *d = dx + r * width;
        if (weight) {
            scale_shift_row(level, gy, weight, 0, d, width);
            gy = d;
        }
        double sg = 0, sgy = 0;
        sums_plane(level, gy, y, width, 0, 0, &sg, &sgy);
        const double s = rstd[r], meanG = sg / (double)width, meanGY = sgy / (double)width;
        affine_plane(level, gy, y, d, width, 0, 0, (float)s, (float)(-s * meanGY), (float)(-s * meanG));
    }
}

void axon_layer_norm_backward_rows_f32(const float *g, const float *weight, const float *xhat, float *dx, long rows, long width,
                                       const double *rstd) {
    axon_layer_norm_backward_rows_f32_with(axon_channel_levels(), g, weight, xhat, dx, rows, width, rstd);
}
