// Winograd's minimal filtering F(2x2, 3x3) for float32 convolutions with 3x3 kernels at stride 1 (Lavin and Gray,
// "Fast Algorithms for Convolutional Neural Networks", 2015). Each 2x2 block of outputs (a "tile") comes from the 4x4
// block of input under it: with U = G g Gᵀ (per output and input channel) and V = Bᵀ d B (per input channel),
//   Y = Aᵀ [ Σ_c U ⊙ V ] A,
// 16 multiplications per tile and channel pair where the direct form takes 36. The sum over channels at each of the
// 16 positions ξ of a transformed tile is a product U[ξ] (O x C) · V[ξ] (C x tiles), run by the GEMM's micro-kernel.
//
// The work goes tile block by tile block, NR tiles (the micro-kernel's width) at a time: the block's input transform,
// then, for each sliver of MR output channels, its 16 products and its output transform, so that V and M = U·V stay in
// the core's cache. (16 GEMMs over a whole chunk of images, tried first, were barely faster than the direct form: M
// left the cache, and the transforms were scalar.) Every output depends on its own tile alone, through a fixed order
// of operations, so results do not depend on how images are split between threads. The transforms come in AVX2 (also
// used beside the AVX-512 micro-kernel) and portable forms, with floating-point contraction off: the same bits.
// The weight gradient (at the end of this file) uses the same input transform; its products run over the tiles.
#include "AxonKernels.h"

#include "cpu.h"

#pragma clang fp contract(off)

// u[((ξ·slivers + s)·c + j)·mr + r] = (G g Gᵀ)[ξ] for the kernel g = w[s·mr + r, j] (w is [o, c, 3, 3]), zero for rows
// past o: the micro-kernel's packed A, sliver s of mr output channels by c input channels, for each ξ. G = [[1, 0, 0],
// [½, ½, ½], [½, -½, ½], [0, 0, 1]].
void axon_winograd_filter_f32(const float *w, long o, long c, long mr, float *u) {
    const long slivers = (o + mr - 1) / mr;
    for (long i = 0; i < slivers * mr; i++) {
        for (long j = 0; j < c; j++) {
            float v[16] = {0};
            if (i < o) {
                const float *g = w + (i * c + j) * 9;
                float t[4][3];  // G g
                for (int s = 0; s < 3; s++) {
                    t[0][s] = g[s];
                    t[1][s] = 0.5f * (g[s] + g[3 + s] + g[6 + s]);
                    t[2][s] = 0.5f * (g[s] - g[3 + s] + g[6 + s]);
                    t[3][s] = g[6 + s];
                }
                for (int r = 0; r < 4; r++) {  // (G g) Gᵀ
                    v[r * 4 + 0] = t[r][0];
                    v[r * 4 + 1] = 0.5f * (t[r][0] + t[r][1] + t[r][2]);
                    v[r * 4 + 2] = 0.5f * (t[r][0] - t[r][1] + t[r][2]);
                    v[r * 4 + 3] = t[r][2];
                }
            }
            for (int xi = 0; xi < 16; xi++) u[((xi * slivers + i / mr) * c + j) * mr + i % mr] = v[xi];
        }
    }
}

// At most this many segments (runs of tiles within one tile row, at most 8 long) in a block of NR <= 64 tiles.
#define AXON_WINOGRAD_MAX_SEGMENTS 80

// Row strides of a tile block's V and M: NR values and room for a vector that runs past the block.
static long block_stride(long nr) { return nr + 8; }
// The padded input rows a chunk's tiles read, split into even and odd columns: row length (tw + 1 values, and room
// for a vector load one past them), in whole vectors.
static long split_length(long tw) { return (tw + 9 + 7) / 8 * 8; }

// V of a block, M of a sliver, and the split rows of a chunk.
long axon_winograd_scratch(long c, long mr, long nr, long nb, long oh, long ow) {
    const long th = (oh + 1) / 2, tw = (ow + 1) / 2;
    return 16 * (c + mr) * block_stride(nr) + 2 * nb * c * (2 * th + 2) * split_length(tw);
}

// Portable: vb[(ξ·c + ch)·ldv + j] = (Bᵀ d B)[ξ] for tile t0 + j (j < n) of images n0.., d its 4x4 input block at
// (2 ty - pad_h, 2 tx - pad_w), zero outside the image. Bᵀ = [[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0],
// [0, 1, 0, -1]], applied along x (e), then along y.
static void input_generic(const float *x, long c, long h, long w, long pad_h, long pad_w, long th, long tw, long n0,
                          long t0, long n, long ldv, float *vb) {
    for (long j = 0; j < n; j++) {
        const long t = t0 + j, i = t / (th * tw), ty = t % (th * tw) / tw, tx = t % tw;
        const long y0 = 2 * ty - pad_h, x0 = 2 * tx - pad_w;
        for (long ch = 0; ch < c; ch++) {
            const float *plane = x + ((n0 + i) * c + ch) * h * w;
            float d[4][4], e[4][4];
            for (int q = 0; q < 4; q++)
                for (int s = 0; s < 4; s++) {
                    const long y = y0 + q, xx = x0 + s;
                    d[q][s] = y >= 0 && y < h && xx >= 0 && xx < w ? plane[y * w + xx] : 0;
                }
            for (int q = 0; q < 4; q++) {
                e[q][0] = d[q][0] - d[q][2];
                e[q][1] = d[q][1] + d[q][2];
                e[q][2] = d[q][2] - d[q][1];
                e[q][3] = d[q][1] - d[q][3];
            }
            float *v = vb + ch * ldv + j;
            const long step = c * ldv;  // from ξ to ξ + 1
            for (int s = 0; s < 4; s++) {
                v[(0 * 4 + s) * step] = e[0][s] - e[2][s];
                v[(1 * 4 + s) * step] = e[1][s] + e[2][s];
                v[(2 * 4 + s) * step] = e[2][s] - e[1][s];
                v[(3 * 4 + s) * step] = e[1][s] - e[3][s];
            }
        }
    }
}

// Portable: out[n0 + i, oc, 2 ty + a, 2 tx + b] = (Aᵀ m A)[a, b] + bias[oc] for output channels oc0..oc0+rows and
// tile t0 + j (j < n), where m[ξ] = mb[(ξ·mr + oc - oc0)·ldm + j] (one sliver's M) and Aᵀ = [[1, 1, 1, 0],
// [0, 1, -1, -1]] along y (p), then along x; outputs past oh or ow (odd sizes) are not written.
static void output_generic(const float *mb, long mr, long oc0, long rows, long o, long oh, long ow, long th, long tw,
                           long n0, long t0, long n, long ldm, const float *bias, float *out) {
    for (long oc = oc0; oc < oc0 + rows; oc++) {
        const float b0 = bias ? bias[oc] : 0;
        for (long j = 0; j < n; j++) {
            float s[16], p0[4], p1[4];
            for (int k = 0; k < 16; k++) s[k] = mb[(k * mr + oc - oc0) * ldm + j];
            for (int k = 0; k < 4; k++) {
                p0[k] = s[k] + s[4 + k] + s[8 + k];
                p1[k] = s[4 + k] - s[8 + k] - s[12 + k];
            }
            const long t = t0 + j, i = t / (th * tw), ty = t % (th * tw) / tw, tx = t % tw;
            float *row = out + ((n0 + i) * o + oc) * oh * ow + 2 * ty * ow + 2 * tx;
            const int right = 2 * tx + 1 < ow, below = 2 * ty + 1 < oh;
            row[0] = p0[0] + p0[1] + p0[2] + b0;
            if (right) row[1] = p0[1] - p0[2] - p0[3] + b0;
            if (below) {
                row[ow] = p1[0] + p1[1] + p1[2] + b0;
                if (right) row[ow + 1] = p1[1] - p1[2] - p1[3] + b0;
            }
        }
    }
}

#if AXON_X86
// Lanes [lo, hi) of the 8 floats at p, the others +0. Where all 8 lie in [begin, end) (memory of the chunk, so
// readable), a plain load and a mask, the same bits: AVX2's masked load (vmaskmovps) is slow on AMD's cores, and it
// took most of the time of the input split and of the gradient transform on a Zen 4 (perf annotate).
// (Always inlined: at -O0 a vector argument went through a stack slot read with an aligned load, which split_avx2, a
// caller with a variable-length array, did not align: the debug build's tests crashed.)
__attribute__((target("avx2"), always_inline))
static inline __m256 load_masked8(const float *p, __m256i m, const float *begin, const float *end) {
    if ((uintptr_t)p >= (uintptr_t)begin && (uintptr_t)(p + 8) <= (uintptr_t)end) return _mm256_and_ps(_mm256_loadu_ps(p), _mm256_castsi256_ps(m));
    return _mm256_maskload_ps(p, m);
}

__attribute__((target("avx2"), always_inline))
static inline __m256 load_span8(const float *p, long lo, long hi, const float *begin, const float *end) {
    return load_masked8(p, axon_span_mask8(lo, hi), begin, end);
}

// AVX2: the same values, 8 tiles of a tile row at a time. The chunk's padded input rows are first split into their
// even and odd columns (ev[k] = row[2k], od[k] = row[2k + 1] in padded coordinates), so that the 4x4 blocks of
// consecutive tiles are vectors: row[2 tx + 0..3] = ev[tx], od[tx], ev[tx + 1], od[tx + 1].
__attribute__((target("avx2")))
static void split_avx2(const float *x, long c, long h, long w, long pad_h, long pad_w, long th, long tw, long n0,
                       long nb, float *split) {
    const long hp = 2 * th + 2, len = split_length(tw);
    const float *begin = x + n0 * c * h * w, *end = x + (n0 + nb) * c * h * w;
    // Padded columns p in [2k, 2k + 16) are row[p - pad_w]: lanes outside the row are masked off (never read) and load
    // as zero. The masks of each k, once; `live`: whether any lane of the 16 lies in the row.
    int32_t masks[len / 8][2][8];  // as ints, loaded unaligned
    int live[len / 8];
    for (long k = 0; k < len; k += 8) {
        const long p = 2 * k;
        _mm256_storeu_si256((__m256i *)masks[k / 8][0], axon_span_mask8(pad_w - p, w + pad_w - p));
        _mm256_storeu_si256((__m256i *)masks[k / 8][1], axon_span_mask8(pad_w - p - 8, w + pad_w - p - 8));
        live[k / 8] = pad_w - p < 16 && w + pad_w - p > 0;
    }
    for (long i = 0; i < nb; i++)
        for (long ch = 0; ch < c; ch++) {
            const float *plane = x + ((n0 + i) * c + ch) * h * w;
            for (long yy = 0; yy < hp; yy++) {
                float *ev = split + (((i * c + ch) * hp + yy) * 2) * len, *od = ev + len;
                const long y = yy - pad_h;
                const int inside = y >= 0 && y < h;
                const float *row = plane + (inside ? y : 0) * w - pad_w;
                for (long k = 0; k < len; k += 8) {
                    const long p = 2 * k;
                    const int load = inside && live[k / 8];
                    const __m256i mlo = _mm256_loadu_si256((const __m256i *)masks[k / 8][0]);
                    const __m256i mhi = _mm256_loadu_si256((const __m256i *)masks[k / 8][1]);
                    const __m256 lo = load ? load_masked8(row + p, mlo, begin, end) : _mm256_setzero_ps();
                    const __m256 hi = load ? load_masked8(row + p + 8, mhi, begin, end) : _mm256_setzero_ps();
                    const __m256 even = _mm256_shuffle_ps(lo, hi, 0x88), odd = _mm256_shuffle_ps(lo, hi, 0xDD);
                    _mm256_storeu_ps(ev + k, _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(even), 0xD8)));
                    _mm256_storeu_ps(od + k, _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(odd), 0xD8)));
                }
            }
        }
}

// A block's segments: runs of at most 8 tiles of one tile row, each {first tile in the block, image, tile row, tile
// column, tiles}. Both vector transforms walk the block by these. Returns their number.
static long block_segments(long th, long tw, long t0, long n, long at[AXON_WINOGRAD_MAX_SEGMENTS][5]) {
    long segs = 0;
    for (long j = 0, i = t0 / (th * tw), ty = t0 % (th * tw) / tw, tx = t0 % tw; j < n;) {
        long seg = tw - tx < n - j ? tw - tx : n - j;
        if (seg > 8) seg = 8;
        at[segs][0] = j; at[segs][1] = i; at[segs][2] = ty; at[segs][3] = tx; at[segs][4] = seg; segs++;
        j += seg; tx += seg;
        if (tx == tw) { tx = 0; if (++ty == th) { ty = 0; i++; } }
    }
    return segs;
}

__attribute__((target("avx2")))
static void input_avx2(const float *split, long c, long th, long tw, long segs, long at[AXON_WINOGRAD_MAX_SEGMENTS][5],
                       long ldv, float *vb) {
    const long hp = 2 * th + 2, len = split_length(tw), step = c * ldv;
    // Channel by channel, so that the stores of a channel's 16 rows of V fill their lines one after another; lanes past
    // a segment land in the next segment's place (stored next) or in the stride's room.
    for (long ch = 0; ch < c; ch++) {
        for (long g = 0; g < segs; g++) {
            const long j = at[g][0], i = at[g][1], ty = at[g][2], tx = at[g][3];
            const float *rows = split + ((i * c + ch) * hp + 2 * ty) * 2 * len + tx;  // row q: ev at 2q·len, od after
            float *v = vb + ch * ldv + j;
            for (int s = 0; s < 4; s++) {  // column s of Bᵀ d B: e[q] = (d B)[q][s] of row q, then along y
                __m256 e[4];
                for (int q = 0; q < 4; q++) {
                    const float *ev = rows + 2 * q * len, *od = ev + len;
                    e[q] = s == 0   ? _mm256_sub_ps(_mm256_loadu_ps(ev), _mm256_loadu_ps(ev + 1))
                           : s == 1 ? _mm256_add_ps(_mm256_loadu_ps(od), _mm256_loadu_ps(ev + 1))
                           : s == 2 ? _mm256_sub_ps(_mm256_loadu_ps(ev + 1), _mm256_loadu_ps(od))
                                    : _mm256_sub_ps(_mm256_loadu_ps(od), _mm256_loadu_ps(od + 1));
                }
                _mm256_storeu_ps(v + (0 * 4 + s) * step, _mm256_sub_ps(e[0], e[2]));
                _mm256_storeu_ps(v + (1 * 4 + s) * step, _mm256_add_ps(e[1], e[2]));
                _mm256_storeu_ps(v + (2 * 4 + s) * step, _mm256_sub_ps(e[2], e[1]));
                _mm256_storeu_ps(v + (3 * 4 + s) * step, _mm256_sub_ps(e[1], e[3]));
            }
        }
    }
}

// The first `count` floats of the 16 in (lo, hi) stored to p (count <= 16). With `whole`, all 16 are stored: the caller
// knows that what lies past `count` is written after this. Otherwise a short row's tail goes through the stack:
// masked stores are slow on AMD before Zen 4.
__attribute__((target("avx2")))
static inline void store_first(float *p, long count, int whole, __m256 lo, __m256 hi) {
    if (whole || count == 16) { _mm256_storeu_ps(p, lo); _mm256_storeu_ps(p + 8, hi); return; }
    if (count >= 8) {
        _mm256_storeu_ps(p, lo);
        p += 8; count -= 8; lo = hi;
    }
    float tail[8];
    _mm256_storeu_ps(tail, lo);
    for (long k = 0; k < count; k++) p[k] = tail[k];
}

__attribute__((target("avx2")))
static void output_avx2(const float *mb, long mr, long oc0, long rows, long o, long oh, long ow, long segs,
                        long at[AXON_WINOGRAD_MAX_SEGMENTS][5], long n0, long ldm, const float *bias, float *out) {
    const long step = mr * ldm;  // from m[ξ] to m[ξ + 1]
    for (long oc = oc0; oc < oc0 + rows; oc++) {
        const __m256 b0 = _mm256_set1_ps(bias ? bias[oc] : 0);
        for (long g = 0; g < segs; g++) {
            const long j = at[g][0], i = at[g][1], ty = at[g][2], tx = at[g][3], seg = at[g][4];
            const float *m = mb + (oc - oc0) * ldm + j;
            __m256 p0[4], p1[4];  // Aᵀ m, along y: one column k at a time
            for (int k = 0; k < 4; k++) {
                const __m256 s0 = _mm256_loadu_ps(m + k * step), s1 = _mm256_loadu_ps(m + (4 + k) * step);
                const __m256 s2 = _mm256_loadu_ps(m + (8 + k) * step), s3 = _mm256_loadu_ps(m + (12 + k) * step);
                p0[k] = _mm256_add_ps(_mm256_add_ps(s0, s1), s2);
                p1[k] = _mm256_sub_ps(_mm256_sub_ps(s1, s2), s3);
            }
            const __m256 y00 = _mm256_add_ps(_mm256_add_ps(_mm256_add_ps(p0[0], p0[1]), p0[2]), b0);
            const __m256 y01 = _mm256_add_ps(_mm256_sub_ps(_mm256_sub_ps(p0[1], p0[2]), p0[3]), b0);
            const __m256 y10 = _mm256_add_ps(_mm256_add_ps(_mm256_add_ps(p1[0], p1[1]), p1[2]), b0);
            const __m256 y11 = _mm256_add_ps(_mm256_sub_ps(_mm256_sub_ps(p1[1], p1[2]), p1[3]), b0);
            float *row = out + ((n0 + i) * o + oc) * oh * ow + 2 * ty * ow + 2 * tx;
            const long count = 2 * seg < ow - 2 * tx ? 2 * seg : ow - 2 * tx;
            // A segment that starts a tile row may store whole vectors while they end inside the plane: everything
            // after its first output in the plane belongs to this segment or to tiles handled after it.
            const long left = (oh - 2 * ty) * ow;  // from `row` to the end of the plane (tx == 0)
            __m256 lo = _mm256_unpacklo_ps(y00, y01), hi = _mm256_unpackhi_ps(y00, y01);
            store_first(row, count, tx == 0 && left >= 16, _mm256_permute2f128_ps(lo, hi, 0x20),
                        _mm256_permute2f128_ps(lo, hi, 0x31));
            if (2 * ty + 1 < oh) {
                lo = _mm256_unpacklo_ps(y10, y11); hi = _mm256_unpackhi_ps(y10, y11);
                store_first(row + ow, count, tx == 0 && left - ow >= 16, _mm256_permute2f128_ps(lo, hi, 0x20),
                            _mm256_permute2f128_ps(lo, hi, 0x31));
            }
        }
    }
}

// AVX2: the output gradient's transform (see gradient_generic below), 8 tiles of a tile row at a time: a segment's two
// rows of outputs are loaded (masked at the row's end, or zero below the last row) and split into even and odd columns.
__attribute__((target("avx2")))
static void gradient_avx2(const float *dy, long o, long oh, long ow, long segs, long at[AXON_WINOGRAD_MAX_SEGMENTS][5],
                          long n0, long nb, long ldu, float *ub) {
    const long step = o * ldu;  // from ξ to ξ + 1
    const float *begin = dy + n0 * o * oh * ow, *end = dy + (n0 + nb) * o * oh * ow;
    const __m256 sign = _mm256_set1_ps(-0.0f);
    for (long oc = 0; oc < o; oc++) {
        for (long g = 0; g < segs; g++) {
            const long j = at[g][0], i = at[g][1], ty = at[g][2], tx = at[g][3];
            const float *row = dy + ((n0 + i) * o + oc) * oh * ow + 2 * ty * ow + 2 * tx;
            const long count = ow - 2 * tx;  // outputs of this tile row from the segment's first on
            __m256 ge[2], go[2];  // rows 2 ty and 2 ty + 1: even and odd columns, a tile per lane
            for (int q = 0; q < 2; q++) {
                __m256 lo = _mm256_setzero_ps(), hi = _mm256_setzero_ps();
                if (2 * ty + q < oh) {
                    const float *r = row + q * ow;
                    lo = load_span8(r, 0, count, begin, end);
                    hi = load_span8(r + 8, 0, count - 8, begin, end);
                }
                const __m256 even = _mm256_shuffle_ps(lo, hi, 0x88), odd = _mm256_shuffle_ps(lo, hi, 0xDD);
                ge[q] = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(even), 0xD8));
                go[q] = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(odd), 0xD8));
            }
            // (A g) by rows: g0, g0 + g1, g0 - g1, -g1; then each row (a, b) becomes a, a + b, a - b, -b.
            const __m256 ra[4] = {ge[0], _mm256_add_ps(ge[0], ge[1]), _mm256_sub_ps(ge[0], ge[1]), _mm256_xor_ps(ge[1], sign)};
            const __m256 rb[4] = {go[0], _mm256_add_ps(go[0], go[1]), _mm256_sub_ps(go[0], go[1]), _mm256_xor_ps(go[1], sign)};
            float *u = ub + oc * ldu + j;
            for (int r = 0; r < 4; r++) {
                _mm256_storeu_ps(u + (r * 4 + 0) * step, ra[r]);
                _mm256_storeu_ps(u + (r * 4 + 1) * step, _mm256_add_ps(ra[r], rb[r]));
                _mm256_storeu_ps(u + (r * 4 + 2) * step, _mm256_sub_ps(ra[r], rb[r]));
                _mm256_storeu_ps(u + (r * 4 + 3) * step, _mm256_xor_ps(rb[r], sign));
            }
        }
    }
}
#endif

// Splits the chunk's input rows for the vector transforms where they run, for blocks of at most `block` tiles (within
// their segment list's bound). Returns whether they run.
static int prepare_split(int level, long block, const float *x, long c, long h, long w, long pad_h, long pad_w, long th,
                         long tw, long n0, long nb, float *split) {
#if AXON_X86
    if (level >= 2 && block <= 64) {
        split_avx2(x, c, h, w, pad_h, pad_w, th, tw, n0, nb, split);
        return 1;
    }
#else
    (void)level; (void)block; (void)x; (void)c; (void)h; (void)w; (void)pad_h; (void)pad_w; (void)th; (void)tw;
    (void)n0; (void)nb; (void)split;
#endif
    return 0;
}

// The input transform of tiles [t0, t0 + n) into vb (row stride ld). The vector form lists the block's segments in
// `at` and returns their number; the portable form returns 0.
static long block_input(int vector, const float *x, const float *split, long c, long h, long w, long pad_h, long pad_w,
                        long th, long tw, long n0, long t0, long n, long ld, float *vb,
                        long at[AXON_WINOGRAD_MAX_SEGMENTS][5]) {
#if AXON_X86
    if (vector) {
        const long segs = block_segments(th, tw, t0, n, at);
        input_avx2(split, c, th, tw, segs, at, ld, vb);
        return segs;
    }
#else
    (void)vector; (void)split; (void)at;
#endif
    input_generic(x, c, h, w, pad_h, pad_w, th, tw, n0, t0, n, ld, vb);
    return 0;
}

int axon_winograd_levels(void) { return axon_cpu_avx2() ? 2 : 1; }

void axon_winograd_conv_f32_with(int level, const float *x, long c, long h, long w, long pad_h, long pad_w,
                                 const float *u, long o, long oh, long ow, const float *bias, long n0, long nb,
                                 axon_sgemm_variant variant, float *scratch, float *out) {
    const long mr = variant.mr, nr = variant.nr, slivers = (o + mr - 1) / mr, ld = block_stride(nr);
    const long th = (oh + 1) / 2, tw = (ow + 1) / 2, tiles = nb * th * tw;
    float *vb = scratch, *mb = scratch + 16 * c * ld, *split = mb + 16 * mr * ld;
    const int vector = prepare_split(level, nr, x, c, h, w, pad_h, pad_w, th, tw, n0, nb, split);
    for (long t0 = 0; t0 < tiles; t0 += nr) {
        const long n = tiles - t0 < nr ? tiles - t0 : nr;
        long at[AXON_WINOGRAD_MAX_SEGMENTS][5];
        const long segs = block_input(vector, x, split, c, h, w, pad_h, pad_w, th, tw, n0, t0, n, ld, vb, at);
        // Sliver by sliver of mr output channels: its 16 products, then its outputs, while its M is in L1.
        for (long s = 0; s < slivers; s++) {
            const long rows = o - s * mr < mr ? o - s * mr : mr;
            for (int xi = 0; xi < 16; xi++)
                variant.kernel(c, u + (xi * slivers + s) * c * mr, vb + xi * c * ld, ld, mb + xi * mr * ld, ld, rows, n, 0);
#if AXON_X86
            if (vector) output_avx2(mb, mr, s * mr, rows, o, oh, ow, segs, at, n0, ld, bias, out);
            else
#else
            (void)segs;
#endif
                output_generic(mb, mr, s * mr, rows, o, oh, ow, th, tw, n0, t0, n, ld, bias, out);
        }
    }
}

void axon_winograd_conv_f32(const float *x, long c, long h, long w, long pad_h, long pad_w, const float *u, long o,
                            long oh, long ow, const float *bias, long n0, long nb, axon_sgemm_variant variant,
                            float *scratch, float *out) {
    axon_winograd_conv_f32_with(axon_winograd_levels(), x, c, h, w, pad_h, pad_w, u, o, oh, ow, bias, n0, nb, variant,
                                scratch, out);
}

// ---- The weight gradient ----
// With the output gradient δ of a tile (2x2, zero past oh or ow), the forward Y = Aᵀ [U ⊙ V] A and U = G g Gᵀ give
//   dL/dg = Gᵀ [ Σ_tiles (A δ Aᵀ) ⊙ V ] G,
// 16 products per tile and channel pair again. For each ξ, M[ξ] (O x C) = Σ_t (A δ_t Aᵀ)[ξ] · V_t[ξ]ᵀ is a product
// whose K axis is the tiles. A chunk runs in blocks of this many tiles: both transforms of the block into `ub` and
// `vb` (tiles along rows), then for each ξ both operands packed (transposed) and multiplied into M.
#define AXON_WINOGRAD_GRAD_BLOCK 32

// Portable: ub[(ξ·o + oc)·ldu + j] = (A δ Aᵀ)[ξ] for output channel oc and tile t0 + j (j < n) of images n0..,
// A = [[1, 0], [1, 1], [1, -1], [0, -1]]: along y (rows g0, g0 + g1, g0 - g1, -g1), then along x.
static void gradient_generic(const float *dy, long o, long oh, long ow, long th, long tw, long n0, long t0, long n,
                             long ldu, float *ub) {
    const long step = o * ldu;
    for (long oc = 0; oc < o; oc++) {
        for (long j = 0; j < n; j++) {
            const long t = t0 + j, i = t / (th * tw), ty = t % (th * tw) / tw, tx = t % tw;
            const float *plane = dy + ((n0 + i) * o + oc) * oh * ow;
            float d[2][2];
            for (int q = 0; q < 2; q++)
                for (int s = 0; s < 2; s++) {
                    const long y = 2 * ty + q, x = 2 * tx + s;
                    d[q][s] = y < oh && x < ow ? plane[y * ow + x] : 0;
                }
            const float ra[4] = {d[0][0], d[0][0] + d[1][0], d[0][0] - d[1][0], -d[1][0]};
            const float rb[4] = {d[0][1], d[0][1] + d[1][1], d[0][1] - d[1][1], -d[1][1]};
            float *u = ub + oc * ldu + j;
            for (int r = 0; r < 4; r++) {
                u[(r * 4 + 0) * step] = ra[r];
                u[(r * 4 + 1) * step] = ra[r] + rb[r];
                u[(r * 4 + 2) * step] = ra[r] - rb[r];
                u[(r * 4 + 3) * step] = -rb[r];
            }
        }
    }
}

// Row stride of a block's transforms: the block and room for a vector that runs past it.
static long grad_stride(void) { return AXON_WINOGRAD_GRAD_BLOCK + 8; }

long axon_winograd_weight_scratch(long c, long o, long mr, long nr, long nb, long oh, long ow) {
    (void)mr;  // A (the output gradient's transform) is read in place
    const long th = (oh + 1) / 2, tw = (ow + 1) / 2, cslivers = (c + nr - 1) / nr;
    return 16 * (c + o) * grad_stride() + AXON_WINOGRAD_GRAD_BLOCK * cslivers * nr
           + 2 * nb * c * (2 * th + 2) * split_length(tw);
}

void axon_winograd_weight_grad_f32_with(int level, const float *x, long c, long h, long w, long pad_h, long pad_w,
                                        const float *dy, long o, long oh, long ow, long n0, long nb,
                                        axon_sgemm_variant variant, float *scratch, float *m) {
    const long mr = variant.mr, nr = variant.nr, ld = grad_stride(), kb = AXON_WINOGRAD_GRAD_BLOCK;
    const long oslivers = (o + mr - 1) / mr, cslivers = (c + nr - 1) / nr;
    const long th = (oh + 1) / 2, tw = (ow + 1) / 2, tiles = nb * th * tw;
    float *vb = scratch, *ub = vb + 16 * c * ld, *pb = ub + 16 * o * ld;
    float *split = pb + kb * cslivers * nr;
    const int vector = prepare_split(level, kb, x, c, h, w, pad_h, pad_w, th, tw, n0, nb, split);
    for (long t0 = 0; t0 < tiles; t0 += kb) {
        const long n = tiles - t0 < kb ? tiles - t0 : kb;
        long at[AXON_WINOGRAD_MAX_SEGMENTS][5];
        const long segs = block_input(vector, x, split, c, h, w, pad_h, pad_w, th, tw, n0, t0, n, ld, vb, at);
#if AXON_X86
        if (vector) gradient_avx2(dy, o, oh, ow, segs, at, n0, nb, ld, ub);
        else
#else
        (void)segs;
#endif
            gradient_generic(dy, o, oh, ow, th, tw, n0, t0, n, ld, ub);
        for (int xi = 0; xi < 16; xi++) {
            // The block's tiles are the K axis: A = (A δ Aᵀ)[ξ] (o x n, read in place by rows), B = V[ξ]ᵀ (n x c).
            for (long s = 0; s < cslivers; s++) {
                const long cols = c - s * nr < nr ? c - s * nr : nr;
                axon_pack_transposed_with(level, vb + (xi * c + s * nr) * ld, ld, n, cols, nr, pb + s * kb * nr);
            }
            for (long s = 0; s < oslivers; s++) {
                const long rows = o - s * mr < mr ? o - s * mr : mr;
                for (long q = 0; q < cslivers; q++) {
                    const long cols = c - q * nr < nr ? c - q * nr : nr;
                    variant.kernel_rows(n, ub + (xi * o + s * mr) * ld, ld, pb + q * kb * nr, nr,
                                        m + (xi * o + s * mr) * c + q * nr, c, rows, cols, t0 > 0);
                }
            }
        }
    }
}

void axon_winograd_weight_grad_f32(const float *x, long c, long h, long w, long pad_h, long pad_w, const float *dy,
                                   long o, long oh, long ow, long n0, long nb, axon_sgemm_variant variant,
                                   float *scratch, float *m) {
    axon_winograd_weight_grad_f32_with(axon_winograd_levels(), x, c, h, w, pad_h, pad_w, dy, o, oh, ow, n0, nb, variant,
                                       scratch, m);
}

// dw[(oc·c + ch)·9 + 3a + b] = (Gᵀ m G)[a][b] with m = m[(ξ·o + oc)·c + ch] over ξ, Gᵀ = [[1, ½, ½, 0], [0, ½, -½, 0],
// [0, ½, ½, 1]]: along y, then along x.
void axon_winograd_filter_grad_f32(const float *m, long o, long c, float *dw) {
    for (long oc = 0; oc < o; oc++)
        for (long ch = 0; ch < c; ch++) {
            float v[16], t[3][4];
            for (int xi = 0; xi < 16; xi++) v[xi] = m[(xi * o + oc) * c + ch];
            for (int s = 0; s < 4; s++) {
                t[0][s] = v[s] + 0.5f * (v[4 + s] + v[8 + s]);
                t[1][s] = 0.5f * (v[4 + s] - v[8 + s]);
                t[2][s] = 0.5f * (v[4 + s] + v[8 + s]) + v[12 + s];
            }
            float *d = dw + (oc * c + ch) * 9;
            for (int a = 0; a < 3; a++) {
                d[3 * a + 0] = t[a][0] + 0.5f * (t[a][1] + t[a][2]);
                d[3 * a + 1] = 0.5f * (t[a][1] - t[a][2]);
                d[3 * a + 2] = 0.5f * (t[a][1] + t[a][2]) + t[a][3];
            }
        }
}
