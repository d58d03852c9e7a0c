// Direct convolution at stride 1 for the small-product path (few output channels, short patches: LeNet's layers,
// a first layer over 1-3 input channels): the forward pass and the weight gradient read each image's rows where
// they lie, where the general path first unfolds them into columns (im2col: 9 copies of a 1-channel image for a
// 3x3 kernel, written and read back).
//
// The forward pass works on chunks of W output columns of a row: 0, W, 2W, ... and a last one ending at the row's
// end, which overlaps the one before (those outputs are written twice, with the same values); rows narrower than W
// are left to the general path. Where the convolution pads, each image is first copied into zero-bordered planes.
// The weight gradient copies each image into zero-bordered planes (rows wp apart) and spreads the output
// gradient's rows to wp columns, zero past the row's end: then output position q = row·wp + column reads the input
// at q plus a fixed offset for each patch element, and every sum runs over whole vectors of q, one long loop.
#include <stdint.h>
#include <string.h>

#include "AxonKernels.h"

#include "cpu.h"

// The weight gradient's layout of an image: its planes zero-bordered (always, so that rows and planes are wp and
// hp·wp apart), then zeros for the vectors that run past the last plane; and the output gradient's rows spread to
// wp columns, the columns past ow zero (so that position q = row·wp + column reads the input at q + offset for every
// column at once), each channel's `span` floats, zero past its last row.
static long direct_planes_size(long channels, long hp, long wp) { return channels * hp * wp + 16 + wp; }

static void spread_planes(const float *image, long channels, long height, long width, long pad_h, long pad_w,
                          float *planes) {
    const long hp = height + 2 * pad_h, wp = width + 2 * pad_w;
    memset(planes, 0, sizeof(float) * (size_t)direct_planes_size(channels, hp, wp));
    for (long c = 0; c < channels; c++)
        for (long y = 0; y < height; y++)
            memcpy(planes + (c * hp + y + pad_h) * wp + pad_w, image + (c * height + y) * width, sizeof(float) * (size_t)width);
}

static void spread_gradient(const float *g, long out_channels, long oh, long ow, long wp, long span, float *rows) {
    memset(rows, 0, sizeof(float) * (size_t)(out_channels * span));
    for (long o = 0; o < out_channels; o++)
        for (long y = 0; y < oh; y++) memcpy(rows + o * span + y * wp, g + (o * oh + y) * ow, sizeof(float) * (size_t)ow);
}

// The image's channels as the forward pass reads them: in place, or (padded) spread into zero-bordered planes.
static const float *padded_planes(const float *image, long channels, long height, long width, long pad_h, long pad_w,
                                  float *scratch) {
    if (pad_h == 0 && pad_w == 0) return image;
    spread_planes(image, channels, height, width, pad_h, pad_w, scratch);
    return scratch;
}

// Offsets of the patch's elements (c, kh, kw), in that order, from a window's first element in the planes read.
static void patch_offsets(long channels, long kh_n, long kw_n, long hp, long wp, long *off) {
    for (long c = 0; c < channels; c++)
        for (long kh = 0; kh < kh_n; kh++)
            for (long kw = 0; kw < kw_n; kw++) off[(c * kh_n + kh) * kw_n + kw] = (c * hp + kh) * wp + kw;
}

enum { AXON_DIRECT_MAX_PATCH = 256 };

#if AXON_X86
// Written once for vectors V of W lanes (HSUM: the fixed-tree sum of a vector), compiled for TARGET.
// Forward: groups of R output channels by 2 rows of W outputs (2R accumulators, as axon_sgemm_small's), each output
// its bias, then one FMA per element of the patch in order. A group past the last channel or row repeats it (never
// stored). The group's weights are first copied patch-major, so each step broadcasts from one pointer.
// Weight gradient: groups of RO channels by RK patch elements, RO·RK accumulators over an image's positions,
// added into `acc` (one vector per (o, patch element), aligned to a cache line) image after image: per vector of
// positions, RO loads of the output gradient and RK of the image feed RO·RK FMAs. (On Zen 3, 3x3 ran LeNet's
// layers at 38-46 GFLOP/s, 3x4 at 34-44 and 4x3 at 18-34: with 16 registers, 4x3 spilled.)
#define AXON_DIRECT_KERNELS(FWD, WGRAD, V, W, R, RO, RK, HSUM, TARGET)                                              \
    __attribute__((target(TARGET))) static void FWD(const float *x, long channels, long height, long width,      \
                                                    long kh_n, long kw_n, long pad_h, long pad_w, const float *w, \
                                                    const float *bias, long out_channels, long oh, long ow,      \
                                                    long n0, long nb, float *y, float *scratch) {                \
        const long hp = height + 2 * pad_h, wp = width + 2 * pad_w, patch = channels * kh_n * kw_n, P = oh * ow; \
        long off[AXON_DIRECT_MAX_PATCH];                                                                          \
        float wt[AXON_DIRECT_MAX_PATCH * R];                                                                      \
        patch_offsets(channels, kh_n, kw_n, hp, wp, off);                                                         \
        for (long i = 0; i < nb; i++) {                                                                           \
            const float *src = padded_planes(x + (n0 + i) * channels * height * width, channels, height, width,  \
                                             pad_h, pad_w, scratch);                                              \
            float *out = y + (n0 + i) * out_channels * P;                                                         \
            for (long o0 = 0; o0 < out_channels; o0 += R) {                                                       \
                const long rows = out_channels - o0 < R ? out_channels - o0 : R;                                  \
                float init[R];                                                                                    \
                for (int t = 0; t < R; t++) {                                                                     \
                    const long o = o0 + (t < rows ? t : rows - 1);                                                \
                    init[t] = bias ? bias[o] : 0;                                                                 \
                    for (long k = 0; k < patch; k++) wt[k * R + t] = w[o * patch + k];                            \
                }                                                                                                 \
                for (long r = 0; r < oh; r += 2) {                                                                \
                    const long r1 = r + 1 < oh ? r + 1 : r;                                                       \
                    for (long j = 0;; j += W) {                                                                   \
                        if (j + W > ow) j = ow - W;                                                               \
                        const float *b0 = src + r * wp + j, *b1 = src + r1 * wp + j;                              \
                        V s0[R], s1[R];                                                                           \
                        for (int t = 0; t < R; t++) { s0[t] = (V){0} + init[t]; s1[t] = s0[t]; }                  \
                        for (long k = 0; k < patch; k++) {                                                        \
                            const V x0 = *(const V *)(b0 + off[k]), x1 = *(const V *)(b1 + off[k]);               \
                            const float *wk = wt + k * R;                                                         \
                            for (int t = 0; t < R; t++) { s0[t] += wk[t] * x0; s1[t] += wk[t] * x1; }             \
                        }                                                                                         \
                        for (int t = 0; t < rows; t++) {                                                          \
                            *(V *)(out + (o0 + t) * P + r * ow + j) = s0[t];                                      \
                            if (r1 != r) *(V *)(out + (o0 + t) * P + r1 * ow + j) = s1[t];                        \
                        }                                                                                         \
                        if (j + W >= ow) break;                                                                   \
                    }                                                                                             \
                }                                                                                                 \
            }                                                                                                     \
        }                                                                                                         \
    }                                                                                                             \
    __attribute__((target(TARGET))) static void WGRAD(const float *x, long channels, long height, long width,    \
                                                      long kh_n, long kw_n, long pad_h, long pad_w, const float *g, \
                                                      long out_channels, long oh, long ow, long n0, long nb,     \
                                                      float *dw, float *scratch) {                                \
        const long hp = height + 2 * pad_h, wp = width + 2 * pad_w, patch = channels * kh_n * kw_n, P = oh * ow; \
        const long span = (oh * wp + W - 1) / W * W; /* positions q = row · wp + column, whole vectors */        \
        long off[AXON_DIRECT_MAX_PATCH];                                                                          \
        patch_offsets(channels, kh_n, kw_n, hp, wp, off);                                                         \
        V *acc = (V *)(((uintptr_t)scratch + 63) & ~(uintptr_t)63);                                               \
        float *planes = (float *)(acc + out_channels * patch), *rows = planes + direct_planes_size(channels, hp, wp); \
        for (long q = 0; q < out_channels * patch; q++) acc[q] = (V){0};                                          \
        for (long i = 0; i < nb; i++) {                                                                           \
            spread_planes(x + (n0 + i) * channels * height * width, channels, height, width, pad_h, pad_w, planes); \
            spread_gradient(g + (n0 + i) * out_channels * P, out_channels, oh, ow, wp, span, rows);               \
            for (long o0 = 0; o0 < out_channels; o0 += RO) {                                                      \
                const long os = out_channels - o0 < RO ? out_channels - o0 : RO;                                  \
                for (long k0 = 0; k0 < patch; k0 += RK) {                                                         \
                    const long ks = patch - k0 < RK ? patch - k0 : RK;                                            \
                    const float *gr[RO], *xr[RK];                                                                 \
                    V s[RO][RK];                                                                                  \
                    for (int t = 0; t < RO; t++) gr[t] = rows + (o0 + (t < os ? t : os - 1)) * span;              \
                    for (int u = 0; u < RK; u++) xr[u] = planes + off[k0 + (u < ks ? u : ks - 1)];                \
                    for (int t = 0; t < RO; t++)                                                                  \
                        for (int u = 0; u < RK; u++) s[t][u] = (V){0};                                            \
                    for (long q = 0; q < span; q += W) {                                                          \
                        V gv[RO];                                                                                 \
                        for (int t = 0; t < RO; t++) gv[t] = *(const V *)(gr[t] + q);                             \
                        for (int u = 0; u < RK; u++) {                                                            \
                            const V xv = *(const V *)(xr[u] + q);                                                 \
                            for (int t = 0; t < RO; t++) s[t][u] += gv[t] * xv;                                   \
                        }                                                                                         \
                    }                                                                                             \
                    for (int t = 0; t < os; t++)                                                                  \
                        for (int u = 0; u < ks; u++) acc[(o0 + t) * patch + k0 + u] += s[t][u];                   \
                }                                                                                                 \
            }                                                                                                     \
        }                                                                                                         \
        for (long q = 0; q < out_channels * patch; q++) dw[q] = HSUM(acc[q]);                                     \
    }

AXON_DIRECT_KERNELS(direct_avx512, direct_wgrad_avx512, axon_v16, 16, 8, 4, 4, axon_hsum16, "avx512f")
AXON_DIRECT_KERNELS(direct_avx2, direct_wgrad_avx2, axon_v8, 8, 6, 3, 3, axon_hsum8, "avx2,fma")
#endif

int axon_conv_direct_levels(void) { return axon_vector_levels(); }

long axon_conv_direct_lanes(int level) {
#if AXON_X86
    if (level >= 3) return 16;
    if (level == 2) return 8;
#endif
    (void)level;
    return 0;
}

long axon_conv_direct_scratch(long channels, long height, long width, long pad_h, long pad_w, long out_channels,
                              long patch) {
    // The forward pass: the spread planes where it pads. The weight gradient: 16-lane sums aligned to a cache line,
    // the spread planes and the spread output gradient (at most hp·wp positions, and a vector more, per channel).
    const long hp = height + 2 * pad_h, wp = width + 2 * pad_w;
    const long forward = pad_h || pad_w ? direct_planes_size(channels, hp, wp) : 0;
    const long gradient = out_channels * patch * 16 + 16 + direct_planes_size(channels, hp, wp) + out_channels * (hp * wp + 16);
    return forward > gradient ? forward : gradient;
}

// Covered: a level with vectors, rows of at least one vector, patches of at most AXON_DIRECT_MAX_PATCH elements.
static int covered(int level, long ow, long patch) {
    const long lanes = axon_conv_direct_lanes(level);
    return lanes > 0 && ow >= lanes && patch <= AXON_DIRECT_MAX_PATCH;
}

int axon_conv_direct_f32_with(int level, const float *x, long channels, long height, long width, long kh, long kw,
                              long pad_h, long pad_w, const float *w, const float *bias, long out_channels, long oh,
                              long ow, long n0, long nb, float *y, float *scratch) {
    if (!covered(level, ow, channels * kh * kw)) return 0;
#if AXON_X86
    if (level >= 3) direct_avx512(x, channels, height, width, kh, kw, pad_h, pad_w, w, bias, out_channels, oh, ow, n0, nb, y, scratch);
    else direct_avx2(x, channels, height, width, kh, kw, pad_h, pad_w, w, bias, out_channels, oh, ow, n0, nb, y, scratch);
    return 1;
#else
    (void)x; (void)height; (void)width; (void)pad_h; (void)pad_w; (void)w; (void)bias; (void)out_channels; (void)oh;
    (void)n0; (void)nb; (void)y; (void)scratch;
    return 0;
#endif
}

int axon_conv_direct_f32(const float *x, long channels, long height, long width, long kh, long kw, long pad_h,
                         long pad_w, const float *w, const float *bias, long out_channels, long oh, long ow, long n0,
                         long nb, float *y, float *scratch) {
    return axon_conv_direct_f32_with(axon_conv_direct_levels(), x, channels, height, width, kh, kw, pad_h, pad_w, w, bias,
                                     out_channels, oh, ow, n0, nb, y, scratch);
}

int axon_conv_direct_wgrad_f32_with(int level, const float *x, long channels, long height, long width, long kh, long kw,
                                    long pad_h, long pad_w, const float *g, long out_channels, long oh, long ow, long n0,
                                    long nb, float *dw, float *scratch) {
    if (!covered(level, ow, channels * kh * kw)) return 0;
#if AXON_X86
    if (level >= 3) direct_wgrad_avx512(x, channels, height, width, kh, kw, pad_h, pad_w, g, out_channels, oh, ow, n0, nb, dw, scratch);
    else direct_wgrad_avx2(x, channels, height, width, kh, kw, pad_h, pad_w, g, out_channels, oh, ow, n0, nb, dw, scratch);
    return 1;
#else
    (void)x; (void)height; (void)width; (void)pad_h; (void)pad_w; (void)g; (void)out_channels; (void)oh; (void)n0;
    (void)nb; (void)dw; (void)scratch;
    return 0;
#endif
}

int axon_conv_direct_wgrad_f32(const float *x, long channels, long height, long width, long kh, long kw, long pad_h,
                               long pad_w, const float *g, long out_channels, long oh, long ow, long n0, long nb,
                               float *dw, float *scratch) {
    return axon_conv_direct_wgrad_f32_with(axon_conv_direct_levels(), x, channels, height, width, kh, kw, pad_h, pad_w, g,
                                           out_channels, oh, ow, n0, nb, dw, scratch);
}
