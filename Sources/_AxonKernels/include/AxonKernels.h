// Axon's C kernels: instruction-set-specific GEMM micro-kernels chosen at run time,
// a persistent worker pool, and a few thread-local and atomic helpers.
// Everything here is internal to Axon (the target name starts with an underscore).
#ifndef AXON_KERNELS_H
#define AXON_KERNELS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

// ---- GEMM micro-kernels -------------------------------------------------------------------
// A micro-kernel computes an MR x NR tile of C from packed panels:
//   a: kc groups of MR floats (column k of the A sliver), b: kc rows of NR floats (row k of the B sliver), ldb
//   floats apart (NR for a packed sliver; B's own row stride when its rows are read in place).
//   c: row-major tile with row stride ldc; only the top-left m x n part is written (m <= MR, n <= NR).
//   accumulate != 0: C += A*B, else C = A*B.
typedef void (*axon_sgemm_ukernel_fn)(long kc, const float *a, const float *b, long ldb, float *c, long ldc,
                                      long m, long n, int accumulate);

// The same tile with A read in place: row r of the sliver is a + r * lda, k contiguous (a row-major A, unpacked).
// Only rows below m are read.
typedef void (*axon_sgemm_ukernel_rows_fn)(long kc, const float *a, long lda, const float *b, long ldb, float *c,
                                           long ldc, long m, long n, int accumulate);

typedef struct {
    const char *name;  // "avx512", "avx2", "generic"
    int mr;
    int nr;
    axon_sgemm_ukernel_fn kernel;
    axon_sgemm_ukernel_rows_fn kernel_rows;
} axon_sgemm_variant;

// Number of micro-kernel variants this CPU can run (always >= 1; the generic one is last).
int axon_sgemm_variant_count(void);
// The i-th runnable variant, fastest first.
axon_sgemm_variant axon_sgemm_variant_at(int i);
// 1 on an Intel CPU, else 0 (choices of blocking measured on one vendor's cores).
int axon_cpu_intel(void);

// ---- Row-pair dot products (a convolution's weight gradient) ----------------------------------
// out[i * rows_b + j] = sum_k a[i * n + k] * b[j * n + k]. Levels: 1 portable, 2 AVX2 with FMA, 3 AVX-512;
// axon_sdot_rows uses the highest level this CPU runs.
int axon_sdot_rows_levels(void);
void axon_sdot_rows_with(int level, const float *a, long rows_a, const float *b, long rows_b, long n, float *out);
void axon_sdot_rows(const float *a, long rows_a, const float *b, long rows_b, long n, float *out);

// ---- Branch-free elementwise loops (float32) ------------------------------------------------------
// float32 exp, sigmoid, tanh, erf and GELU (transcendental.c): vectorised over n elements (out may equal x), and one
// element at a time with the same bits (for strided elements); GELU's derivative g·GELU'(x) the same way. The exp op
// itself keeps the C library's expf (more accurate: softmax gradients need it; softmax's rows have their own, as
// accurate, below); this exp is the building block of the others.
void axon_exp_f32(const float *x, float *out, long n);
void axon_sigmoid_f32(const float *x, float *out, long n);
void axon_tanh_f32(const float *x, float *out, long n);
void axon_erf_f32(const float *x, float *out, long n);
void axon_gelu_f32(const float *x, float *out, long n);
void axon_gelu_backward_f32(const float *g, const float *x, float *out, long n);
float axon_exp_f32_one(float x);
float axon_sigmoid_f32_one(float x);
float axon_tanh_f32_one(float x);
float axon_erf_f32_one(float x);
float axon_gelu_f32_one(float x);
float axon_gelu_backward_f32_one(float g, float x);
// Levels: 1 scalar, 2 AVX2 with FMA, 3 AVX-512; op 0 exp, 1 sigmoid, 2 tanh, 3 erf, 4 GELU (for tests of every level).
int axon_transcendental_levels(void);
void axon_transcendental_f32_with(int level, int op, const float *x, float *out, long n);
void axon_gelu_backward_f32_with(int level, const float *g, const float *x, float *out, long n);
// Softmax (log 0) or log-softmax (log 1) of `rows` contiguous rows of n floats, and log-softmax's derivative
// g − exp(y)·Σg per row (softmax.c; the forward's out must not overlap x, which it reads after writing out; the
// derivative's may be g): the generic Swift kernels' arithmetic and bits, with the exp below. The `_with` forms run
// a given level (1 scalar, 2 AVX2 with FMA, 3 AVX-512; up to `axon_softmax_levels()`), for tests of every level.
// axon_softmax_exp_f32_one: their exp, glibc's expf (ARM's algorithm, within 0.502 ulp) on every platform.
float axon_softmax_exp_f32_one(float x);
int axon_softmax_levels(void);
void axon_softmax_rows_f32_with(int level, const float *x, float *out, long rows, long n, int log);
void axon_log_softmax_backward_rows_f32_with(int level, const float *g, const float *y, float *out, long rows, long n);
void axon_softmax_rows_f32(const float *x, float *out, long rows, long n, int log);
void axon_log_softmax_backward_rows_f32(const float *g, const float *y, float *out, long rows, long n);
// Byte rows to float32 (a dataset's images): out[(i - first) * row + j] = bytes[rows[i] * row + j] * scale for i in
// [first, end) (rows NULL: row i), prefetching the rows ahead of the one it converts.
void axon_bytes_to_f32_rows(const uint8_t *bytes, const long *rows, long first, long end, long row, float scale,
                            float *out);
// Requests the byte rows `rows[0..n)` into the cache (prefetches: no values read), for a batch that comes next.
void axon_prefetch_rows(const uint8_t *bytes, const long *rows, long n, long row);
void axon_relu_f32(const float *x, float *out, long n);  // out may equal x
void axon_relu_backward_f32(const float *g, const float *y, float *out, long n);
// 2x2, stride-2 max pooling of planes [first_plane, end_plane) of height x width; out, indices (flat input
// positions, may be NULL) are the whole outputs. With relu the maxima are rectified as axon_relu_f32 does (indices
// still point at the maxima).
void axon_maxpool2x2_f32(const float *x, long first_plane, long end_plane, long height, long width, long oh, long ow,
                         float *out, long *indices, int relu);
// The adjoint of axon_maxpool2x2_f32 for planes [first_plane, end_plane): writes every input of those planes.
void axon_maxpool2x2_backward_f32(const float *grad, const long *indices, long first_plane, long end_plane, long height,
                                  long width, long oh, long ow, float *dx);
// The pooling of one plane: x and out point at the plane's own values; indices count from `base`, the plane's first
// position in the whole input. `codes` (may be NULL) gets a byte per window: which of its four inputs won (0 top
// left, 1 top right, 2 bottom left, 3 bottom right), or 4 where relu zeroed the maximum.
void axon_maxpool2x2_plane_f32(const float *x, long base, long height, long width, long oh, long ow, float *out, long *indices,
                               unsigned char *codes, int relu);
// The adjoint of one plane from those codes: the values axon_maxpool2x2_backward_f32 gives for the gradient masked by
// ReLU's derivative (a window coded 4 gets zeros). 15 bytes past the plane's last code must be readable.
void axon_maxpool2x2_backward_codes_plane_f32(const float *grad, const unsigned char *codes, long height, long width, long oh,
                                              long ow, float *dx);

// ---- GEMM packing of a transposed operand -------------------------------------------------------
// dst[p * nr + j] = src[j * ld + p] (p < rows, j < cols), zero-padded to nr columns. Levels: 1 portable,
// 2 AVX2 8x8 tiles; axon_pack_transposed uses the highest this CPU runs.
int axon_pack_transposed_levels(void);
void axon_pack_transposed_with(int level, const float *src, long ld, long rows, long cols, long nr, float *dst);
void axon_pack_transposed(const float *src, long ld, long rows, long cols, long nr, float *dst);
// dst[p * ldd + j] = src[j * ld + p] for p < rows, j < cols: a block of a matrix transposed into another (row stride
// ldd), nothing written past its columns.
void axon_transpose(const float *src, long ld, long rows, long cols, float *dst, long ldd);
// dst[p * ldd + j] += src[j * ld + p]: the same block added onto the destination instead.
void axon_transpose_add(const float *src, long ld, long rows, long cols, float *dst, long ldd);
// Packing of a row-major operand for the GEMM (GEMM.packB): dst[p * nr + j] = src[p * ld + j] for p < rows, j < cols,
// zero for cols <= j < nr. Each row of a full sliver (16 or 64 floats) is a fixed-size copy, not a library call.
void axon_pack_rows(const float *src, long ld, long rows, long cols, long nr, float *dst);
// Slivers s = 0, 1, ... of columns [s * nr, s * nr + nr) of `cols` columns, each packed as axon_pack_rows packs one, at
// dst + s * rows * nr: a transposed A's block of rows (GEMM.packA), read one source row at a time.
void axon_pack_rows_slivers(const float *src, long ld, long rows, long cols, long nr, float *dst);

// ---- Small products without packing -------------------------------------------------------------
// c[i * ldc + j] = bias[i] (0 when bias is NULL) + sum_r a[i * rsa + r * csa] * b[r * ldb + j], for
// i < m, j < n, r < k. Levels: 1 portable, 2 AVX2 with FMA, 3 AVX-512; axon_sgemm_small uses the highest this
// CPU runs.
int axon_sgemm_small_levels(void);
void axon_sgemm_small_with(int level, const float *a, long rsa, long csa, const float *b, long ldb, float *c, long ldc,
                           long m, long n, long k, const float *bias);
void axon_sgemm_small(const float *a, long rsa, long csa, const float *b, long ldb, float *c, long ldc,
                      long m, long n, long k, const float *bias);

// im2col of images [n0, n0 + nb) for stride 1 and dilation 1, with zero padding, with masked vector row copies
// (rows of at most 32 outputs); returns 0, having done nothing, when this CPU or shape is not covered.
// Levels: 1 none (returns 0), 2 AVX2, 3 AVX-512; the plain functions use the highest this CPU runs.
int axon_unfold_levels(void);
int axon_im2col_s1_f32_with(int level, const float *x, long channels, long height, long width, long kh, long kw, long oh,
                            long ow, long pad_h, long pad_w, long n0, long nb, float *out);
int axon_im2col_s1_f32(const float *x, long channels, long height, long width, long kh, long kw, long oh, long ow,
                       long pad_h, long pad_w, long n0, long nb, float *out);

// Its adjoint: writes the whole planes of dx for images [n0, n0 + nb) (padding positions dropped); returns 0,
// having done nothing, when not covered. Same levels.
int axon_col2im_s1_f32_with(int level, const float *cols, long channels, long height, long width, long kh, long kw, long oh,
                            long ow, long pad_h, long pad_w, long n0, long nb, float *dx);
int axon_col2im_s1_f32(const float *cols, long channels, long height, long width, long kh, long kw, long oh, long ow,
                       long pad_h, long pad_w, long n0, long nb, float *dx);
// Direct convolution at stride 1 without dilation (direct_conv.c), for images [n0, n0 + nb) of NCHW x with zero
// padding pad_h, pad_w. The forward pass writes y's NCHW planes of those images: each output its bias (0 when bias is
// NULL), then w[o, c, kh, kw] times the input added by FMAs in (c, kh, kw) order, the values im2col followed by
// axon_sgemm_small gives. The weight gradient writes dw[o, (c, kh, kw)] = the sum over those images' output positions p
// of g[o, p] times the input p reads at (c, kh, kw): vector lanes summed over each image's positions in order, added
// image after image, then reduced by a fixed tree. Both take axon_conv_direct_scratch(...) floats of scratch, and return 0, having done
// nothing, when the CPU or shape is not covered: level 1, rows of fewer than axon_conv_direct_lanes(level) outputs,
// patches of more than 256 elements. Levels: 1 none, 2 AVX2 with FMA, 3 AVX-512; the plain forms use the highest this
// CPU runs.
int axon_conv_direct_levels(void);
long axon_conv_direct_lanes(int level);
long axon_conv_direct_scratch(long channels, long height, long width, long pad_h, long pad_w, long out_channels,
                              long patch);
int axon_conv_direct_f32_with(int level, const float *x, long channels, long height, long width, long kh, long kw,
                              long pad_h, long pad_w, const float *w, const float *bias, long out_channels, long oh,
                              long ow, long n0, long nb, float *y, float *scratch);
int axon_conv_direct_f32(const float *x, long channels, long height, long width, long kh, long kw, long pad_h,
                         long pad_w, const float *w, const float *bias, long out_channels, long oh, long ow, long n0,
                         long nb, float *y, float *scratch);
int axon_conv_direct_wgrad_f32_with(int level, const float *x, long channels, long height, long width, long kh, long kw,
                                    long pad_h, long pad_w, const float *g, long out_channels, long oh, long ow, long n0,
                                    long nb, float *dw, float *scratch);
int axon_conv_direct_wgrad_f32(const float *x, long channels, long height, long width, long kh, long kw, long pad_h,
                               long pad_w, const float *g, long out_channels, long oh, long ow, long n0, long nb,
                               float *dw, float *scratch);

// Winograd F(2x2, 3x3) for float32 3x3 convolutions at stride 1 (winograd.c). The filter transform writes, from w
// [o, c, 3, 3], the 16 packed A operands of the micro-kernel (mr output channels per sliver, zero past o):
// u[((ξ·slivers + s)·c + j)·mr + r]. The convolution writes the NCHW output of images [n0, n0 + nb) (zero padding
// pad_h, pad_w; bias may be NULL), NR tiles of 2x2 outputs at a time through `variant`'s micro-kernel, with
// axon_winograd_scratch(c, mr, nr, nb, oh, ow) floats of scratch. Levels: 1 portable, 2 AVX2 (the same bits).
int axon_winograd_levels(void);
void axon_winograd_filter_f32(const float *w, long o, long c, long mr, float *u);
long axon_winograd_scratch(long c, long mr, long nr, long nb, long oh, long ow);
void axon_winograd_conv_f32_with(int level, const float *x, long c, long h, long w, long pad_h, long pad_w,
                                 const float *u, long o, long oh, long ow, const float *bias, long n0, long nb,
                                 axon_sgemm_variant variant, float *scratch, float *out);
void axon_winograd_conv_f32(const float *x, long c, long h, long w, long pad_h, long pad_w, const float *u, long o,
                            long oh, long ow, const float *bias, long n0, long nb, axon_sgemm_variant variant,
                            float *scratch, float *out);
// The weight gradient of such a convolution, for images [n0, n0 + nb): with dy the NCHW output gradient [., o, oh, ow],
// writes m[(ξ·o + oc)·c + ch] = Σ over the chunk's tiles of (A δ Aᵀ)[ξ]·(Bᵀ d B)[ξ] (16·o·c floats), using
// axon_winograd_weight_scratch(c, o, mr, nr, nb, oh, ow) floats of scratch. m is linear in dy, so the chunks' m may be
// summed before axon_winograd_filter_grad_f32 turns m into dw [o, c, 3, 3].
long axon_winograd_weight_scratch(long c, long o, long mr, long nr, long nb, long oh, long ow);
void axon_winograd_weight_grad_f32_with(int level, const float *x, long c, long h, long w, long pad_h, long pad_w,
                                        const float *dy, long o, long oh, long ow, long n0, long nb,
                                        axon_sgemm_variant variant, float *scratch, float *m);
void axon_winograd_weight_grad_f32(const float *x, long c, long h, long w, long pad_h, long pad_w, const float *dy,
                                   long o, long oh, long ow, long n0, long nb, axon_sgemm_variant variant,
                                   float *scratch, float *m);
void axon_winograd_filter_grad_f32(const float *m, long o, long c, float *dw);

// Sum of n floats in a fixed order (vector running sums, then a tree). Levels: 1 portable (8 running sums), 2 AVX2
// (32), 3 AVX-512 (16); axon_sum_f32 uses the highest this CPU runs.
int axon_sum_levels(void);
float axon_sum_f32_with(int level, const float *x, long n);
float axon_sum_f32(const float *x, long n);

// ---- Per-channel passes of batch normalisation (norm.c) -------------------------------------------
// Over contiguous [n, c, s] data, for channels [c0, c1):
//   sums:   sum_a[ch] = Σ (a - shift_a[ch]), sum_ab[ch] = Σ (a - shift_a[ch])·(b - shift_b[ch]) (b may equal a;
//           NULL shifts are 0). Each plane of s values is summed in float32 vectors, in blocks, and added into
//           float64 totals in sample order.
//   affine: out = alpha[ch]·(a - shift_a[ch]) + beta[ch]·(b - shift_b[ch]) + gamma[ch] (b NULL: without that
//           term; NULL shifts are 0; out may equal a).
// Levels: 1 portable, 2 AVX2 with FMA, 3 AVX-512; the plain functions use the highest this CPU runs.
int axon_channel_levels(void);
void axon_channel_sums_f32_with(int level, const float *a, const float *b, long n, long c, long s, long c0, long c1,
                                const float *shift_a, const float *shift_b, double *sum_a, double *sum_ab);
void axon_channel_sums_f32(const float *a, const float *b, long n, long c, long s, long c0, long c1,
                           const float *shift_a, const float *shift_b, double *sum_a, double *sum_ab);
void axon_channel_affine_f32_with(int level, const float *a, const float *b, float *out, long n, long c, long s, long c0,
                                  long c1, const float *shift_a, const float *shift_b, const float *alpha, const float *beta,
                                  const float *gamma);
void axon_channel_affine_f32(const float *a, const float *b, float *out, long n, long c, long s, long c0, long c1,
                             const float *shift_a, const float *shift_b, const float *alpha, const float *beta, const float *gamma);
// Layer normalisation's rows (norm.c; contiguous rows of `width` floats): x̂ = rstd·(x − mean) with the row's sums
// in the passes above, into xhat, and x̂·weight + bias into out (weight and bias NULL: out is not written; x̂ is the
// output), each row's rstd = 1/√(var + ε) into rstd. Backward: g' = g·weight (weight NULL: g) and
// rstd·(g' − mean(g') − x̂·mean(g'·x̂)) into dx (which may be g).
void axon_layer_norm_rows_f32_with(int level, const float *x, float *xhat, float *out, const float *weight, const float *bias,
                                   long rows, long width, double eps, double *rstd);
void axon_layer_norm_rows_f32(const float *x, float *xhat, float *out, const float *weight, const float *bias, long rows,
                              long width, double eps, double *rstd);
void axon_layer_norm_backward_rows_f32_with(int level, const float *g, const float *weight, const float *xhat, float *dx,
                                            long rows, long width, const double *rstd);
void axon_layer_norm_backward_rows_f32(const float *g, const float *weight, const float *xhat, float *dx, long rows, long width,
                                       const double *rstd);
// With 2x2 max pooling, stride 2, of each height x width plane (s = height·width) after the affine map: the map of
// `a` (no b term) pooled into pool->pooled, rectified with relu, its windows' codes (axon_maxpool2x2_plane_f32's)
// into pool->codes (may be NULL). And backward, the sums with the `a` operand (shift_a 0) the pooled gradient
// pool->gradient spread over the windows by their codes; the spread planes of channels [c0, c1) are left in `spread`
// ([n, c1 - c0, s]) for the affine map after them (into out, full size), which reads them there. The same values as
// the separate passes, pooling and ReLU.
typedef struct {
    long height, width, out_h, out_w;
    int relu;
    float *pooled;         // forward: the output, [n, c, out_h, out_w]
    unsigned char *codes;  // the same shape: written forward, read backward
    const float *gradient; // backward: the pooled values' gradient
} axon_pool2x2;
void axon_channel_affine_maxpool2x2_f32(const axon_pool2x2 *pool, const float *a, long n, long c, long c0, long c1,
                                        const float *shift_a, const float *alpha, const float *gamma);
void axon_channel_sums_unpooled_f32(const axon_pool2x2 *pool, const float *b, long n, long c, long c0, long c1,
                                    const float *shift_b, double *sum_a, double *sum_ab, float *spread);
void axon_channel_affine_spread_f32(const float *spread, const float *b, float *out, long n, long c, long s, long c0, long c1,
                                    const float *shift_b, const float *alpha, const float *beta, const float *gamma);

// ---- An LSTM step, elementwise (recurrent.c) ------------------------------------------------------
// Forward, for one sequence of h units: activates its gates in place (sigmoid on i, f and o, tanh on g: 4h values,
// x·W_ihᵀ + b + h·W_hhᵀ on entry), then c_t = f·c_{t-1} + i·g into c_next, tanh(c_t) into tanh_c and
// h_t = o·tanh(c_t) into h_next, with the operations of AxonNN's Swift rule (the vectorised sigmoid and tanh).
void axon_lstm_cell_forward_f32(long h, float *gates, const float *c_prev, float *c_next, float *tanh_c, float *h_next);
// Backward, for one sequence of h units whose state changed at the step: from the activated gates (i, f, g, o: 4h
// values), tanh(c_t), c_{t-1}, and the gradients arriving at h_t and c_t in two parts each (from the output, from the next
// step), the gates' gradients (4h values) and the gradient of c_{t-1}, with the operations of AxonNN's Swift rule.
void axon_lstm_cell_backward_f32(long h, const float *gates, const float *tanh_c, const float *c_prev, const float *dh_out,
                                 const float *dc_out, const float *dh_next, const float *dc_next, float *dgates, float *dc_prev);

// ---- Fused optimizer updates (optim.c) ----------------------------------------------------------
// Adam's step: out = base - ((m / c1) / (sqrt(v) / s2 + eps)) * lr over n floats, rounded after each operation
// as the composed ops are (no FMA); out may equal base. Levels: 1 portable, 2 AVX2, 3 AVX-512.
int axon_adam_levels(void);
void axon_adam_update_f32_with(int level, const float *base, const float *m, const float *v, float *out, long n, float c1,
                               float s2, float eps, float lr);
void axon_adam_update_f32(const float *base, const float *m, const float *v, float *out, long n, float c1, float s2,
                          float eps, float lr);
// SGD's momentum step over n floats: b = b * mu + alpha * g, then p = p + step * b, rounded after each operation
// (no FMA). The same levels as Adam's.
void axon_sgd_momentum_f32_with(int level, float *p, float *b, const float *g, long n, float mu, float alpha, float step);
void axon_sgd_momentum_f32(float *p, float *b, const float *g, long n, float mu, float alpha, float step);

// ---- The machine's limit (peak.c) ---------------------------------------------------------------
// Runs `iterations` rounds of independent float32 FMAs on registers only, in the widest vectors this CPU runs
// (AVX-512, AVX2 with FMA, or portable 4-lane code), and returns a value that depends on every result (so the
// loop is not removed).
double axon_fma_peak_loop(long iterations);
// The floating-point operations that loop does in `iterations` rounds.
long axon_fma_peak_flops(long iterations);
// The mean time in nanoseconds of `trips` round trips of a value between this thread and a new one, through one cache
// line (two cores' latency to each other); -1 if this thread may run on only one CPU or no thread could be started.
double axon_core_round_trip_ns(long trips);
// The CPUs the calling thread may run on (its affinity mask on Linux; the online CPUs elsewhere). With one, two
// threads take turns on it, and each round trip above would wait for a time slice.
int axon_cpus_allowed(void);
// Float32 lanes per vector of that loop: 16, 8 or 4.
long axon_fma_peak_lanes(void);

// ---- Worker pool --------------------------------------------------------------------------
// Runs fn(ctx, t) for every t in [0, ntasks) on the persistent pool, the calling thread included,
// and returns when all have finished. Tasks are handed out dynamically; nested calls run inline.
typedef void (*axon_task_fn)(void *ctx, long task);
void axon_pool_run(axon_task_fn fn, void *ctx, long ntasks);
// Threads used by axon_pool_run (calling thread included). Default: the number of online CPUs,
// or AXON_NUM_THREADS when set.
int axon_pool_threads(void);
void axon_pool_set_threads(int n);
// Number of online CPUs.
int axon_cpu_count(void);
// glibc's malloc thresholds for training loops (pool.c); 1 when applied. Never applied at load time.
int axon_tune_allocator(void);

// ---- Grad mode (thread-local, as PyTorch's) -----------------------------------------------
int axon_grad_disabled_depth(void);
void axon_grad_disabled_push(void);
void axon_grad_disabled_pop(void);
// Whether an export traces the forward pass on this thread (AxonCore's ExportTrace), as a depth.
int axon_export_trace_depth(void);
void axon_export_trace_push(void);
void axon_export_trace_pop(void);

// ---- Counters (relaxed atomics) -----------------------------------------------------------
void axon_counter_add(int which, long delta);
long axon_counter_get(int which);

// ---- Peer watch (distributed training) ------------------------------------------------------
// Watches the other ranks of a job: every 200 ms, and on SIGTERM from the launcher, a rank on this host whose
// process has ended (pids[r], same_host[r] != 0) makes this process print which rank was lost and exit(1).
// Returns 0, or -1 for a bad rank or world size. stop() turns it off (a job finishing normally).
int axon_peer_watch_start(int self, int world, const int *pids, const unsigned char *same_host);
void axon_peer_watch_stop(void);

#ifdef __cplusplus
}
#endif
#endif
