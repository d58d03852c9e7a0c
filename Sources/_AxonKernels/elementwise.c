// Branch-free float32 loops for the hottest elementwise steps of training, where a branch per element
// would be mispredicted about half the time (ReLU's sign pattern, max pooling's winners). Written in C so
// that the compiler turns the selects into vector blends or conditional moves.
#include "AxonKernels.h"
#include <stdint.h>
#include <string.h>

#include "cpu.h"

void axon_relu_f32(const float *x, float *out, long n) {
    if (out == x) {
        // In place through one pointer: the two-pointer loop below is vectorised behind a run-time overlap check,
        // which sends out == x to its scalar loop (a layer's ReLU in place ran one element at a time).
        float *p = out;
        for (long i = 0; i < n; i++) {
            const float v = p[i];
            p[i] = v <= 0 ? 0.0f : v;
        }
        return;
    }
    for (long i = 0; i < n; i++) {
        const float v = x[i];
        out[i] = v <= 0 ? 0.0f : v;  // NaN stays NaN, as PyTorch's relu; -0 becomes 0
    }
}

void axon_relu_backward_f32(const float *g, const float *y, float *out, long n) {
    // Both loads unconditional, so the select needs no branch (a conditional load would).
    for (long i = 0; i < n; i++) {
        const float gv = g[i], yv = y[i];
        out[i] = yv <= 0 ? 0.0f : gv;  // PyTorch's threshold_backward: the gradient passes at NaN
    }
}

// Rows of bytes to float32: out[(i - first) * row + j] = (float)bytes[r * row + j] * scale, r = rows[i] (or i when rows
// is NULL), for i in [first, end). A shuffled batch's rows lie anywhere in a dataset of tens of MB, so each row's
// cache lines would be a memory miss when the conversion reaches them: the rows two ahead are requested first.
// (One multiply of an exact conversion: the same bits at any vector width.)
#define AXON_DECODE_AHEAD 2
static inline const uint8_t *byte_row(const uint8_t *bytes, const long *rows, long i, long row) {
    return bytes + (rows ? rows[i] : i) * row;
}
static inline void prefetch_row(const uint8_t *r, long row) {
    for (long b = 0; b < row; b += 64) __builtin_prefetch(r + b);
}
void axon_bytes_to_f32_rows(const uint8_t *bytes, const long *rows, long first, long end, long row, float scale,
                            float *out) {
    for (long i = first; i < end && i < first + AXON_DECODE_AHEAD; i++) prefetch_row(byte_row(bytes, rows, i, row), row);
    for (long i = first; i < end; i++) {
        if (i + AXON_DECODE_AHEAD < end) prefetch_row(byte_row(bytes, rows, i + AXON_DECODE_AHEAD, row), row);
        const uint8_t *src = byte_row(bytes, rows, i, row);
        float *dst = out + (i - first) * row;
        for (long j = 0; j < row; j++) dst[j] = (float)src[j] * scale;
    }
}

// Requests rows[0..n) (of `row` bytes each) into the cache ahead of their use: a loader calls it for the next batch,
// whose rows then arrive while the current batch trains.
void axon_prefetch_rows(const uint8_t *bytes, const long *rows, long n, long row) {
    for (long i = 0; i < n; i++) prefetch_row(byte_row(bytes, rows, i, row), row);
}

// 2x2 windows with stride 2 over planes [first_plane, end_plane) of height x width (outputs oh x ow per plane). Ties
// and NaN as the general path: the first maximum wins, and a NaN wins wherever it appears (first NaN).
#if AXON_X86
// Eight windows at a time: even and odd columns of two input rows (a0, a1 and b0, b1: 16 columns each), compared
// with the same rule as the scalar loop (take v when !(v <= best) and best is not NaN), winners' positions
// (relative to the first window's top-left input) blended alongside.
__attribute__((target("avx2")))
static inline __m256 maxpool2x2_avx2_step(__m256 a0, __m256 a1, __m256 b0, __m256 b1, long width, __m256i *position,
                                          __m256i *winner) {
    // shuffle gives [0 2 8 10 | 4 6 12 14]; permute puts the 64-bit pairs back in order.
    __m256 v0 = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(_mm256_shuffle_ps(a0, a1, 0x88)), 0xD8));
    __m256 v1 = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(_mm256_shuffle_ps(a0, a1, 0xDD)), 0xD8));
    __m256 v2 = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(_mm256_shuffle_ps(b0, b1, 0x88)), 0xD8));
    __m256 v3 = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(_mm256_shuffle_ps(b0, b1, 0xDD)), 0xD8));
    __m256 best = v0;
    __m256i at = _mm256_setzero_si256();  // 0, 1, 2, 3: which of the four won
    __m256 take = _mm256_and_ps(_mm256_cmp_ps(v1, best, _CMP_NLE_UQ), _mm256_cmp_ps(best, best, _CMP_ORD_Q));
    best = _mm256_blendv_ps(best, v1, take); at = _mm256_blendv_epi8(at, _mm256_set1_epi32(1), _mm256_castps_si256(take));
    take = _mm256_and_ps(_mm256_cmp_ps(v2, best, _CMP_NLE_UQ), _mm256_cmp_ps(best, best, _CMP_ORD_Q));
    best = _mm256_blendv_ps(best, v2, take); at = _mm256_blendv_epi8(at, _mm256_set1_epi32(2), _mm256_castps_si256(take));
    take = _mm256_and_ps(_mm256_cmp_ps(v3, best, _CMP_NLE_UQ), _mm256_cmp_ps(best, best, _CMP_ORD_Q));
    best = _mm256_blendv_ps(best, v3, take); at = _mm256_blendv_epi8(at, _mm256_set1_epi32(3), _mm256_castps_si256(take));
    *winner = at;
    // position = 2·lane + (at & 1) + (at >> 1)·width
    const __m256i lanes = _mm256_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14);
    *position = _mm256_add_epi32(_mm256_add_epi32(lanes, _mm256_and_si256(at, _mm256_set1_epi32(1))),
                                 _mm256_mullo_epi32(_mm256_srli_epi32(at, 1), _mm256_set1_epi32((int)width)));
    return best;
}

// Eight windows per step; the last 1-7 windows of a row (rows of 5, 7, 13 and 14 windows are common) with masked
// loads into a step whose values and indices are stored for those windows only, by axon_store8's plain stores. With
// relu the maxima are rectified (v <= 0 gives +0, NaN stays), and `code` (may be NULL) gets each window's winner, 0-3,
// or 4 where the ReLU zeroed it. Returns ow.
__attribute__((target("avx2")))
static long maxpool2x2_avx2_row(const float *r0, const float *r1, long row0, long width, long ow, float *o, long *ix,
                                unsigned char *code, int relu) {
    long j = 0;
    for (; j < ow; j += 8) {
        const long rest = ow - j < 8 ? ow - j : 8;  // the last 1-7 windows: 2·rest columns of each row
        const __m256i m0 = axon_span_mask8(0, 2 * rest), m1 = axon_span_mask8(0, 2 * rest - 8);
        __m256i off, at;
        __m256 best = rest == 8
            ? maxpool2x2_avx2_step(_mm256_loadu_ps(r0 + 2 * j), _mm256_loadu_ps(r0 + 2 * j + 8), _mm256_loadu_ps(r1 + 2 * j),
                                   _mm256_loadu_ps(r1 + 2 * j + 8), width, &off, &at)
            : maxpool2x2_avx2_step(_mm256_maskload_ps(r0 + 2 * j, m0), _mm256_maskload_ps(r0 + 2 * j + 8, m1),
                                   _mm256_maskload_ps(r1 + 2 * j, m0), _mm256_maskload_ps(r1 + 2 * j + 8, m1), width, &off, &at);
        if (relu) {
            const __m256 keep = _mm256_cmp_ps(best, _mm256_setzero_ps(), _CMP_NLE_UQ);
            best = _mm256_and_ps(best, keep);
            at = _mm256_blendv_epi8(_mm256_set1_epi32(4), at, _mm256_castps_si256(keep));
        }
        // The first `rest` windows' values, and their indices (int64, moved as pairs of float lanes by the same stores).
        axon_store8(o + j, rest, (axon_v8)best);
        if (ix) {
            const __m256i base = _mm256_set1_epi64x(row0 + 2 * j);
            const __m256i lo = _mm256_add_epi64(base, _mm256_cvtepi32_epi64(_mm256_castsi256_si128(off)));
            const __m256i hi = _mm256_add_epi64(base, _mm256_cvtepi32_epi64(_mm256_extracti128_si256(off, 1)));
            axon_store8((float *)(ix + j), 2 * rest, (axon_v8)_mm256_castsi256_ps(lo));
            axon_store8((float *)(ix + j + 4), 2 * (rest - 4), (axon_v8)_mm256_castsi256_ps(hi));
        }
        if (!code) continue;
        int32_t winners[8];
        _mm256_storeu_si256((__m256i *)winners, at);
        for (long t = 0; t < rest; t++) code[j + t] = (unsigned char)winners[t];
    }
    return ow;
}
#endif

#if AXON_X86
// Sixteen windows at a time, the last 1-15 of a row with masked loads and stores (rows of 7 and 14 windows are
// common, and a scalar tail would take most of them): even and odd columns of the two rows split by one permute
// each, the same comparisons as the scalar loop, and the winners' positions widened to 64 bits. Returns ow.
__attribute__((target("avx512f")))
static long maxpool2x2_avx512_row(const float *r0, const float *r1, long row0, long width, long ow, float *o, long *ix,
                                  unsigned char *code, int relu) {
    const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    const __m512i odd = _mm512_add_epi32(even, _mm512_set1_epi32(1));
    const __m512i one = _mm512_set1_epi32(1), w = _mm512_set1_epi32((int)width);
    for (long j = 0; j < ow; j += 16) {
        const long rest = ow - j < 16 ? ow - j : 16;
        const __mmask16 m = (__mmask16)((1u << rest) - 1);
        const __mmask16 lo = (__mmask16)(rest >= 8 ? 0xFFFF : (1u << (2 * rest)) - 1);
        const __mmask16 hi = (__mmask16)(rest > 8 ? (1u << (2 * (rest - 8))) - 1 : 0);
        const __m512 a0 = _mm512_maskz_loadu_ps(lo, r0 + 2 * j), a1 = _mm512_maskz_loadu_ps(hi, r0 + 2 * j + 16);
        const __m512 b0 = _mm512_maskz_loadu_ps(lo, r1 + 2 * j), b1 = _mm512_maskz_loadu_ps(hi, r1 + 2 * j + 16);
        const __m512 v1 = _mm512_permutex2var_ps(a0, odd, a1), v2 = _mm512_permutex2var_ps(b0, even, b1);
        const __m512 v3 = _mm512_permutex2var_ps(b0, odd, b1);
        __m512 best = _mm512_permutex2var_ps(a0, even, a1);
        __m512i at = _mm512_setzero_si512();  // 0, 1, 2, 3: which of the four won
        __mmask16 take = _mm512_cmp_ps_mask(v1, best, _CMP_NLE_UQ) & _mm512_cmp_ps_mask(best, best, _CMP_ORD_Q);
        best = _mm512_mask_mov_ps(best, take, v1); at = _mm512_mask_mov_epi32(at, take, one);
        take = _mm512_cmp_ps_mask(v2, best, _CMP_NLE_UQ) & _mm512_cmp_ps_mask(best, best, _CMP_ORD_Q);
        best = _mm512_mask_mov_ps(best, take, v2); at = _mm512_mask_mov_epi32(at, take, _mm512_set1_epi32(2));
        take = _mm512_cmp_ps_mask(v3, best, _CMP_NLE_UQ) & _mm512_cmp_ps_mask(best, best, _CMP_ORD_Q);
        best = _mm512_mask_mov_ps(best, take, v3); at = _mm512_mask_mov_epi32(at, take, _mm512_set1_epi32(3));
        __m512i winner = at;
        if (relu) {
            const __mmask16 keep = _mm512_cmp_ps_mask(best, _mm512_setzero_ps(), _CMP_NLE_UQ);
            best = _mm512_maskz_mov_ps(keep, best);
            winner = _mm512_mask_mov_epi32(_mm512_set1_epi32(4), keep, at);
        }
        _mm512_mask_storeu_ps(o + j, m, best);
        if (code) _mm512_mask_cvtepi32_storeu_epi8(code + j, m, winner);
        if (ix) {
            // position = row0 + 2j + 2·lane + (at & 1) + (at >> 1)·width
            const __m512i off = _mm512_add_epi32(_mm512_add_epi32(even, _mm512_and_si512(at, one)),
                                                 _mm512_mullo_epi32(_mm512_srli_epi32(at, 1), w));
            const __m512i base = _mm512_set1_epi64(row0 + 2 * j);
            _mm512_mask_storeu_epi64(ix + j, (__mmask8)m,
                                     _mm512_add_epi64(base, _mm512_cvtepi32_epi64(_mm512_castsi512_si256(off))));
            if (rest > 8)
                _mm512_mask_storeu_epi64(ix + j + 8, (__mmask8)(m >> 8),
                                         _mm512_add_epi64(base, _mm512_cvtepi32_epi64(_mm512_extracti64x4_epi64(off, 1))));
        }
    }
    return ow;
}
#endif

void axon_maxpool2x2_plane_f32(const float *x, long base, long height, long width, long oh, long ow, float *out, long *indices,
                               unsigned char *codes, int relu) {
#if AXON_X86
    const int avx2 = axon_cpu_avx2(), avx512 = axon_cpu_avx512();
#endif
    for (long i = 0; i < oh; i++) {
        const long r0 = 2 * i * width, r1 = r0 + width;
        float *o = out + i * ow;
        long *ix = indices ? indices + i * ow : 0;
        unsigned char *code = codes ? codes + i * ow : 0;
        long j0 = 0;
#if AXON_X86
        if (avx512) j0 = maxpool2x2_avx512_row(x + r0, x + r1, base + r0, width, ow, o, ix, code, relu);
        else if (avx2) j0 = maxpool2x2_avx2_row(x + r0, x + r1, base + r0, width, ow, o, ix, code, relu);
#endif
        for (long j = j0; j < ow; j++) {
            const long a0 = r0 + 2 * j, a1 = a0 + 1, a2 = r1 + 2 * j, a3 = a2 + 1;
            float best = x[a0];
            long at = a0;
            int k = 0;
            float v = x[a1];
            int take = !(v <= best) && best == best;
            best = take ? v : best; at = take ? a1 : at; k = take ? 1 : k;
            v = x[a2];
            take = !(v <= best) && best == best;
            best = take ? v : best; at = take ? a2 : at; k = take ? 2 : k;
            v = x[a3];
            take = !(v <= best) && best == best;
            best = take ? v : best; at = take ? a3 : at; k = take ? 3 : k;
            if (relu && best <= 0) { best = 0.0f; k = 4; }
            o[j] = best;
            if (ix) ix[j] = base + at;
            if (code) code[j] = (unsigned char)k;
        }
    }
}

void axon_maxpool2x2_f32(const float *x, long first_plane, long end_plane, long height, long width, long oh, long ow,
                         float *out, long *indices, int relu) {
    for (long p = first_plane; p < end_plane; p++) {
        axon_maxpool2x2_plane_f32(x + p * height * width, p * height * width, height, width, oh, ow, out + p * oh * ow,
                                  indices ? indices + p * oh * ow : 0, 0, relu);
    }
}

// The adjoint of 2x2 max pooling with stride 2: each input of a window gets the window's gradient where it was
// the maximum (indices from axon_maxpool2x2_f32) and zero elsewhere. Windows do not overlap, so every input is
// written once (0 + g, as a scatter-add into zeros gives), and the rows and columns no window covers are zeroed.
// Branch-free: which of the four is the maximum is data, and a branch on it is mispredicted most of the time.
static inline float keep_if(float v, int keep) {
    uint32_t bits;
    memcpy(&bits, &v, sizeof bits);
    bits &= (uint32_t)0 - (uint32_t)keep;
    memcpy(&v, &bits, sizeof v);
    return v;
}

#if AXON_X86
// Eight windows at a time: the four masks of where each window's index points, then each row's 16 values interleaved
// from the two masked gradients; the last few windows with masks. Returns ow.
__attribute__((target("avx512f")))
static long maxpool2x2_backward_avx512_row(const float *g, const long *ix, long r0, long width, long ow, float *d0, float *d1) {
    const __m512i even = _mm512_setr_epi64(0, 2, 4, 6, 8, 10, 12, 14);
    const __m512i interleave = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
    const __m512i one = _mm512_set1_epi64(1), w = _mm512_set1_epi64(width), w1 = _mm512_set1_epi64(width + 1);
    long j = 0;
    for (; j + 8 <= ow; j += 8) {
        const __m512 v = _mm512_castps256_ps512(_mm256_add_ps(_mm256_setzero_ps(), _mm256_loadu_ps(g + j)));
        const __m512i rel = _mm512_sub_epi64(_mm512_loadu_si512(ix + j), _mm512_add_epi64(_mm512_set1_epi64(r0 + 2 * j), even));
        const __mmask16 m00 = _mm512_cmpeq_epi64_mask(rel, _mm512_setzero_si512()), m01 = _mm512_cmpeq_epi64_mask(rel, one);
        const __mmask16 m10 = _mm512_cmpeq_epi64_mask(rel, w), m11 = _mm512_cmpeq_epi64_mask(rel, w1);
        _mm512_storeu_ps(d0 + 2 * j, _mm512_permutex2var_ps(_mm512_maskz_mov_ps(m00, v), interleave, _mm512_maskz_mov_ps(m01, v)));
        _mm512_storeu_ps(d1 + 2 * j, _mm512_permutex2var_ps(_mm512_maskz_mov_ps(m10, v), interleave, _mm512_maskz_mov_ps(m11, v)));
    }
    if (j < ow) {  // the last 1-7 windows (rows of 7 or 14 are common): the same with masked loads and stores
        const long rest = ow - j;
        const __mmask16 in = (__mmask16)((1u << rest) - 1), out = (__mmask16)((1u << (2 * rest)) - 1);
        const __m512 v = _mm512_add_ps(_mm512_setzero_ps(), _mm512_maskz_loadu_ps(in, g + j));
        const __m512i rel = _mm512_sub_epi64(_mm512_maskz_loadu_epi64((__mmask8)in, ix + j),
                                             _mm512_add_epi64(_mm512_set1_epi64(r0 + 2 * j), even));
        const __mmask16 m00 = _mm512_mask_cmpeq_epi64_mask((__mmask8)in, rel, _mm512_setzero_si512());
        const __mmask16 m01 = _mm512_mask_cmpeq_epi64_mask((__mmask8)in, rel, one);
        const __mmask16 m10 = _mm512_mask_cmpeq_epi64_mask((__mmask8)in, rel, w);
        const __mmask16 m11 = _mm512_mask_cmpeq_epi64_mask((__mmask8)in, rel, w1);
        _mm512_mask_storeu_ps(d0 + 2 * j, out, _mm512_permutex2var_ps(_mm512_maskz_mov_ps(m00, v), interleave, _mm512_maskz_mov_ps(m01, v)));
        _mm512_mask_storeu_ps(d1 + 2 * j, out, _mm512_permutex2var_ps(_mm512_maskz_mov_ps(m10, v), interleave, _mm512_maskz_mov_ps(m11, v)));
        j = ow;
    }
    return j;
}
// Four windows' gradients g and winners' indices ix, the first window's top-left input being at index `at`: the two
// rows' 8 columns each, *top and *bottom (each window's gradient where its index points, zeros elsewhere).
__attribute__((target("avx2")))
static inline void maxpool2x2_backward_avx2_step(__m128 g, __m256i ix, long at, long width, __m256 *top, __m256 *bottom) {
    const __m256i even = _mm256_setr_epi64x(0, 2, 4, 6), twice = _mm256_setr_epi32(0, 0, 1, 1, 2, 2, 3, 3);
    // Each window's gradient in both lanes of its pair of columns.
    const __m256 v = _mm256_permutevar8x32_ps(_mm256_castps128_ps256(_mm_add_ps(_mm_setzero_ps(), g)), twice);
    const __m256i rel = _mm256_sub_epi64(ix, _mm256_add_epi64(_mm256_set1_epi64x(at), even));
    // A 64-bit compare fills both 32-bit lanes of a window: even lanes take the left column's mask, odd the right's.
    const __m256i t = _mm256_blend_epi32(_mm256_cmpeq_epi64(rel, _mm256_setzero_si256()), _mm256_cmpeq_epi64(rel, _mm256_set1_epi64x(1)), 0xAA);
    const __m256i b = _mm256_blend_epi32(_mm256_cmpeq_epi64(rel, _mm256_set1_epi64x(width)),
                                         _mm256_cmpeq_epi64(rel, _mm256_set1_epi64x(width + 1)), 0xAA);
    *top = _mm256_and_ps(v, _mm256_castsi256_ps(t));
    *bottom = _mm256_and_ps(v, _mm256_castsi256_ps(b));
}

// The same with AVX2, four windows at a time (their int64 indices fill one vector); the last 1-3 windows of a row
// (rows of 7 and 14 windows are common) the same way, with masked loads and axon_store8's stores of the rest's lanes
// (AVX2's masked stores are slow on AMD's Zen 3). Returns ow.
__attribute__((target("avx2")))
static long maxpool2x2_backward_avx2_row(const float *g, const long *ix, long r0, long width, long ow, float *d0, float *d1) {
    __m256 top, bottom;
    long j = 0;
    for (; j + 4 <= ow; j += 4) {
        maxpool2x2_backward_avx2_step(_mm_loadu_ps(g + j), _mm256_loadu_si256((const __m256i *)(ix + j)), r0 + 2 * j, width,
                                      &top, &bottom);
        _mm256_storeu_ps(d0 + 2 * j, top);
        _mm256_storeu_ps(d1 + 2 * j, bottom);
    }
    if (j < ow) {
        // Lanes [0, 2·rest) as floats are the rest's columns, and as int64 (by their high halves) its indices.
        const __m256i columns = axon_span_mask8(0, 2 * (ow - j));
        maxpool2x2_backward_avx2_step(_mm_maskload_ps(g + j, _mm256_castsi256_si128(axon_span_mask8(0, ow - j))),
                                      _mm256_maskload_epi64((const long long *)(ix + j), columns), r0 + 2 * j, width, &top, &bottom);
        axon_store8(d0 + 2 * j, 2 * (ow - j), (axon_v8)top);
        axon_store8(d1 + 2 * j, 2 * (ow - j), (axon_v8)bottom);
    }
    return ow;
}
#endif

// One plane: grad and dx point at the plane's own values; indices count from `base`, its first position in the input.
static void maxpool2x2_backward_plane(const float *grad, const long *indices, long base, long height, long width, long oh,
                                      long ow, float *dx) {
#if AXON_X86
    const int avx2 = axon_cpu_avx2(), avx512 = axon_cpu_avx512();
#endif
    if (height != 2 * oh || width != 2 * ow) memset(dx, 0, sizeof(float) * height * width);
    for (long i = 0; i < oh; i++) {
        const long r0 = base + 2 * i * width, r1 = r0 + width;
        const float *g = grad + i * ow;
        const long *ix = indices + i * ow;
        float *d0 = dx + 2 * i * width, *d1 = d0 + width;
        long j0 = 0;
#if AXON_X86
        if (avx512) j0 = maxpool2x2_backward_avx512_row(g, ix, r0, width, ow, d0, d1);
        else if (avx2) j0 = maxpool2x2_backward_avx2_row(g, ix, r0, width, ow, d0, d1);
#endif
        for (long j = j0; j < ow; j++) {
            const long at = ix[j], a0 = r0 + 2 * j;
            const float v = 0.0f + g[j];
            d0[2 * j] = keep_if(v, at == a0);
            d0[2 * j + 1] = keep_if(v, at == a0 + 1);
            d1[2 * j] = keep_if(v, at == r1 + 2 * j);
            d1[2 * j + 1] = keep_if(v, at == r1 + 2 * j + 1);
        }
    }
}

void axon_maxpool2x2_backward_f32(const float *grad, const long *indices, long first_plane, long end_plane, long height,
                                  long width, long oh, long ow, float *dx) {
    for (long p = first_plane; p < end_plane; p++) {
        maxpool2x2_backward_plane(grad + p * oh * ow, indices + p * oh * ow, p * height * width, height, width, oh, ow,
                                  dx + p * height * width);
    }
}

// The same from window codes (0-3: which input of the window won; 4: none, the ReLU after the pooling zeroed it), as
// axon_maxpool2x2_plane_f32 writes them: the values of the positions' adjoint (of the gradient masked by ReLU's
// derivative, with codes of 4), from a byte per window instead of eight. The codes must have 15 readable bytes after
// the plane's last.
#if AXON_X86
// Sixteen windows at a time: each row's 32 values interleaved from the gradient masked by where the code points.
__attribute__((target("avx512f")))
static void maxpool2x2_backward_codes_avx512_row(const float *g, const unsigned char *code, long ow, float *d0, float *d1) {
    const __m512i lo = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
    const __m512i hi = _mm512_setr_epi32(8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
    for (long j = 0; j < ow; j += 16) {
        const long rest = ow - j < 16 ? ow - j : 16;
        const __mmask16 in = (__mmask16)((1u << rest) - 1);
        const __mmask16 first = (__mmask16)(rest >= 8 ? 0xFFFF : (1u << (2 * rest)) - 1);
        const __mmask16 second = (__mmask16)(rest > 8 ? (1u << (2 * (rest - 8))) - 1 : 0);
        // Sixteen codes read even for fewer windows (the buffer has 15 bytes to spare); lanes past `rest` are masked off.
        const __m512i k = _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)(code + j)));
        const __m512 v = _mm512_add_ps(_mm512_setzero_ps(), _mm512_maskz_loadu_ps(in, g + j));
        const __m512 t0 = _mm512_maskz_mov_ps(_mm512_mask_cmpeq_epi32_mask(in, k, _mm512_setzero_si512()), v);
        const __m512 t1 = _mm512_maskz_mov_ps(_mm512_mask_cmpeq_epi32_mask(in, k, _mm512_set1_epi32(1)), v);
        const __m512 t2 = _mm512_maskz_mov_ps(_mm512_mask_cmpeq_epi32_mask(in, k, _mm512_set1_epi32(2)), v);
        const __m512 t3 = _mm512_maskz_mov_ps(_mm512_mask_cmpeq_epi32_mask(in, k, _mm512_set1_epi32(3)), v);
        _mm512_mask_storeu_ps(d0 + 2 * j, first, _mm512_permutex2var_ps(t0, lo, t1));
        _mm512_mask_storeu_ps(d1 + 2 * j, first, _mm512_permutex2var_ps(t2, lo, t3));
        if (second) {
            _mm512_mask_storeu_ps(d0 + 2 * j + 16, second, _mm512_permutex2var_ps(t0, hi, t1));
            _mm512_mask_storeu_ps(d1 + 2 * j + 16, second, _mm512_permutex2var_ps(t2, hi, t3));
        }
    }
}
#endif

void axon_maxpool2x2_backward_codes_plane_f32(const float *grad, const unsigned char *codes, long height, long width, long oh,
                                              long ow, float *dx) {
#if AXON_X86
    const int avx512 = axon_cpu_avx512();
#endif
    if (height != 2 * oh || width != 2 * ow) memset(dx, 0, sizeof(float) * height * width);
    for (long i = 0; i < oh; i++) {
        const float *g = grad + i * ow;
        const unsigned char *code = codes + i * ow;
        float *d0 = dx + 2 * i * width, *d1 = d0 + width;
#if AXON_X86
        if (avx512) { maxpool2x2_backward_codes_avx512_row(g, code, ow, d0, d1); continue; }
#endif
        for (long j = 0; j < ow; j++) {
            const int k = code[j];
            const float v = 0.0f + g[j];
            d0[2 * j] = keep_if(v, k == 0);
            d0[2 * j + 1] = keep_if(v, k == 1);
            d1[2 * j] = keep_if(v, k == 2);
            d1[2 * j + 1] = keep_if(v, k == 3);
        }
    }
}

// ---- im2col for stride 1 and dilation 1, padded or not (the common convolution) -------------------------
// Row r = (c, kh, kw), columns i*P + p: image i's plane c read at (oh - pad_h + kh, ow - pad_w + kw), zero outside
// the image. Each output row of ow <= 32 values is a few masked vector copies: lane x reads input column
// x - pad_w + kw where that lies in [0, width), lanes [lo, hi) below; the others are padding (zeros).
//
// Its adjoint for the same case: image i's plane c gains the row block of column row r = (c, kh, kw), shifted by
// (kh - pad_h, kw - pad_w), inside the image only. Each input row is gathered in registers from the (kh, kw) terms
// that reach it, added in r order onto zero, and stored once: the same sums, in the same order, as adding each
// term into the zeroed gradient, without a store that the next term's load has to wait for. Input column w takes
// output column w - kw + pad_w, where that lies in [0, ow): lanes [kw - pad_w, kw - pad_w + ow) of the input row.
// Rows of at most 32 values (input and output), and kernels at most 32 wide.
//
// Both are written once for vectors V of W lanes with masks M (cpu.h's primitives of that width: SPAN makes the
// mask of lanes [lo, hi), LOAD reads masked lanes as zeros, STORE writes the masked lanes only). Whole-vector
// stores may run past the end of a row into the next ones, which the next rows' stores then overwrite (masked
// stores are slow on AMD before Zen 4); a store that would pass the end of the block or plane is masked, so
// nothing outside it is written.
static inline void inside_span(long ow, long width, long pad_w, long kw, long *lo, long *hi) {
    *lo = pad_w - kw < 0 ? 0 : pad_w - kw;
    *hi = width + pad_w - kw > ow ? ow : width + pad_w - kw;
}

#if AXON_X86
#define AXON_UNFOLD_KERNELS(IM2COL, COL2IM, V, W, M, SPAN, LOAD, STORE, TARGET)                                    \
    __attribute__((target(TARGET))) static void IM2COL(const float *x, long channels, long height, long width,      \
                                                       long kh_n, long kw_n, long oh, long ow, long pad_h,          \
                                                       long pad_w, long n0, long nb, float *out) {                  \
        const long P = oh * ow, columns = nb * P, plane = height * width, chunks = (ow + W - 1) / W;              \
        M row[32 / W], in[32 / W]; /* the lanes of an output row; those read from the image */                   \
        for (long q = 0; q < chunks; q++) row[q] = SPAN(0, ow - W * q);                                           \
        for (long c = 0; c < channels; c++)                                                                        \
            for (long kh = 0; kh < kh_n; kh++)                                                                     \
                for (long kw = 0; kw < kw_n; kw++) {                                                               \
                    const long r = (c * kh_n + kh) * kw_n + kw;                                                    \
                    long lo, hi;                                                                                   \
                    inside_span(ow, width, pad_w, kw, &lo, &hi);                                                   \
                    for (long q = 0; q < chunks; q++) in[q] = SPAN(lo - W * q, hi - W * q);                        \
                    for (long i = 0; i < nb; i++) {                                                                \
                        const float *image = x + ((n0 + i) * channels + c) * plane;                                \
                        float *dst = out + r * columns + i * P;                                                    \
                        const float *end = dst + P;                                                                \
                        for (long y = 0; y < oh; y++, dst += ow) {                                                 \
                            const long ih = y - pad_h + kh;                                                        \
                            const int inside = ih >= 0 && ih < height;                                             \
                            /* Lane x reads src[x]; masked-off lanes (before or after the row) are never read. */ \
                            const float *src = inside ? image + ih * width + kw - pad_w : image;                   \
                            for (long q = 0; q < chunks; q++) {                                                    \
                                const V v = inside ? LOAD(src + W * q, in[q]) : (V){0};                            \
                                if (dst + W * q + W <= end) *(V *)(dst + W * q) = v;                               \
                                else STORE(dst + W * q, row[q], v);                                                \
                            }                                                                                      \
                        }                                                                                          \
                    }                                                                                              \
                }                                                                                                  \
    }                                                                                                              \
    __attribute__((target(TARGET))) static void COL2IM(const float *cols, long channels, long height, long width,   \
                                                       long kh_n, long kw_n, long oh, long ow, long pad_h,          \
                                                       long pad_w, long n0, long nb, float *dx) {                   \
        const long P = oh * ow, columns = nb * P, plane = height * width, chunks = (width + W - 1) / W;           \
        M row[32 / W], in[32][32 / W]; /* the lanes of an input row; those each kw reaches */                     \
        for (long q = 0; q < chunks; q++) row[q] = SPAN(0, width - W * q);                                        \
        for (long kw = 0; kw < kw_n; kw++)                                                                         \
            for (long q = 0; q < chunks; q++)                                                                      \
                in[kw][q] = SPAN(kw - pad_w - W * q, (kw - pad_w + ow > width ? width : kw - pad_w + ow) - W * q); \
        for (long i = 0; i < nb; i++)                                                                              \
            for (long c = 0; c < channels; c++) {                                                                  \
                float *image = dx + ((n0 + i) * channels + c) * plane;                                             \
                for (long ih = 0; ih < height; ih++) {                                                             \
                    /* Aligned to a cache line: kept in memory (q is not known at compile time), an accumulator */ \
                    /* that straddled two lines made every addition wait (LeNet's 1-thread training ran at 35k */   \
                    /* samples/s or 40k depending on where the main thread's stack began). */                      \
                    V s[32 / W] __attribute__((aligned(64)));                                                         \
                    for (long q = 0; q < chunks; q++) s[q] = (V){0};                                               \
                    for (long kh = 0; kh < kh_n; kh++) {                                                           \
                        const long y = ih + pad_h - kh; /* the output row whose window row kh reads row ih */     \
                        if (y < 0 || y >= oh) continue;                                                            \
                        for (long kw = 0; kw < kw_n; kw++) {                                                       \
                            const long r = (c * kh_n + kh) * kw_n + kw;                                            \
                            const float *src = cols + r * columns + i * P + y * ow + pad_w - kw;                   \
                            for (long q = 0; q < chunks; q++) s[q] += LOAD(src + W * q, in[kw][q]);                \
                        }                                                                                          \
                    }                                                                                              \
                    float *d = image + ih * width;                                                                 \
                    for (long q = 0; q < chunks; q++) {                                                            \
                        if (d + W * q + W <= image + plane) *(V *)(d + W * q) = s[q];                              \
                        else STORE(d + W * q, row[q], s[q]);                                                       \
                    }                                                                                              \
                }                                                                                                  \
            }                                                                                                      \
    }

AXON_UNFOLD_KERNELS(im2col_s1_avx512, col2im_s1_avx512, axon_v16, 16, __mmask16, axon_mask16, axon_load16m, axon_store16m, "avx512f")
AXON_UNFOLD_KERNELS(im2col_s1_avx2, col2im_s1_avx2, axon_v8, 8, __m256i, axon_span_mask8, axon_load8m, axon_store8m, "avx2")
#endif

int axon_unfold_levels(void) { return axon_vector_levels(); }

int axon_im2col_s1_f32_with(int level, const float *x, long channels, long height, long width, long kh, long kw, long oh,
                            long ow, long pad_h, long pad_w, long n0, long nb, float *out) {
#if AXON_X86
    if (ow > 32) return 0;
    if (level >= 3) { im2col_s1_avx512(x, channels, height, width, kh, kw, oh, ow, pad_h, pad_w, n0, nb, out); return 1; }
    if (level == 2) { im2col_s1_avx2(x, channels, height, width, kh, kw, oh, ow, pad_h, pad_w, n0, nb, out); return 1; }
#endif
    return 0;
}

int axon_im2col_s1_f32(const float *x, long channels, long height, long width, long kh, long kw, long oh, long ow,
                       long pad_h, long pad_w, long n0, long nb, float *out) {
    return axon_im2col_s1_f32_with(axon_unfold_levels(), x, channels, height, width, kh, kw, oh, ow, pad_h, pad_w, n0, nb, out);
}

int axon_col2im_s1_f32_with(int level, const float *cols, long channels, long height, long width, long kh, long kw, long oh,
                            long ow, long pad_h, long pad_w, long n0, long nb, float *dx) {
#if AXON_X86
    if (ow > 32 || width > 32 || kw > 32) return 0;
    if (level >= 3) { col2im_s1_avx512(cols, channels, height, width, kh, kw, oh, ow, pad_h, pad_w, n0, nb, dx); return 1; }
    if (level == 2) { col2im_s1_avx2(cols, channels, height, width, kh, kw, oh, ow, pad_h, pad_w, n0, nb, dx); return 1; }
#endif
    return 0;
}

int axon_col2im_s1_f32(const float *cols, long channels, long height, long width, long kh, long kw, long oh, long ow,
                       long pad_h, long pad_w, long n0, long nb, float *dx) {
    return axon_col2im_s1_f32_with(axon_unfold_levels(), cols, channels, height, width, kh, kw, oh, ow, pad_h, pad_w, n0, nb, dx);
}

// Sum of n floats in a fixed order (the bias gradient of a convolution, plane by plane). Each level keeps its running
// sums in its own lanes, so the levels' results may differ in the last bits; each is the same on every call.
#if AXON_X86
// 16 running sums, then a fixed tree.
__attribute__((target("avx512f")))
static float sum_avx512(const float *x, long n) {
    __m512 s = _mm512_setzero_ps();
    long k = 0;
    for (; k + 16 <= n; k += 16) s = _mm512_add_ps(s, _mm512_loadu_ps(x + k));
    if (k < n) s = _mm512_add_ps(s, _mm512_maskz_loadu_ps((__mmask16)((1u << (n - k)) - 1), x + k));
    return _mm512_reduce_add_ps(s);
}

// 32 running sums (four vectors: four chains of additions in flight, not one), added pairwise into 8, which take the
// blocks of 8 left and the tail (zero-filled), then axon_hsum8's tree. In a C harness on a Zen 3 (family 25 model 1),
// planes of 676, 784 and 121 floats: 15.0-17.0 floats/ns against 5.7-6.4 for the portable loop this level ran before.
__attribute__((target("avx2")))
static float sum_avx2(const float *x, long n) {
    axon_v8 s0 = {0}, s1 = {0}, s2 = {0}, s3 = {0};
    long k = 0;
    for (; k + 32 <= n; k += 32) {
        s0 += *(const axon_v8 *)(x + k);
        s1 += *(const axon_v8 *)(x + k + 8);
        s2 += *(const axon_v8 *)(x + k + 16);
        s3 += *(const axon_v8 *)(x + k + 24);
    }
    axon_v8 s = (s0 + s1) + (s2 + s3);
    for (; k + 8 <= n; k += 8) s += *(const axon_v8 *)(x + k);
    if (k < n) s += axon_load8(x + k, n - k, 0);
    return axon_hsum8(s);
}
#endif

int axon_sum_levels(void) { return axon_vector_levels(); }

float axon_sum_f32_with(int level, const float *x, long n) {
#if AXON_X86
    if (level >= 3) return sum_avx512(x, n);
    if (level == 2) return sum_avx2(x, n);
#endif
    // 8 running sums, then a fixed tree.
    float s[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    long k = 0;
    for (; k + 8 <= n; k += 8)
        for (int l = 0; l < 8; l++) s[l] += x[k + l];
    float t = ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]));
    for (; k < n; k++) t += x[k];
    return t;
}

float axon_sum_f32(const float *x, long n) { return axon_sum_f32_with(axon_sum_levels(), x, n); }
