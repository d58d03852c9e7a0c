// Packing of a transposed operand for the GEMM (see GEMM.packB in AxonCore/Backend/GEMM.swift):
// dst[p * nr + j] = src[j * ld + p] for p < rows, j < cols, zero for cols <= j < nr. This is the layout of
// x·Wᵀ's right operand (W stored [N, K]), where a plain loop either reads or writes with a large stride;
// the AVX2 version moves 8x8 tiles through registers (an in-register transpose). The same loops, with a destination
// row stride and no padding, transpose a block of one matrix into another (axon_transpose).
#include "AxonKernels.h"
#include <string.h>

#include "cpu.h"

// dst[p * ldd + j] = src[j * ld + p] for p < rows, j < cols; zero for cols <= j < pad (pad = nr when packing, cols
// when transposing into a matrix).
static void pack_t_generic(const float *src, long ld, long rows, long cols, long ldd, long pad, float *dst) {
    for (long p = 0; p < rows; p++) {
        float *d = dst + p * ldd;
        for (long j = 0; j < cols; j++) d[j] = src[j * ld + p];
        for (long j = cols; j < pad; j++) d[j] = 0;
    }
}

#if AXON_X86
// Transposes the 8x8 tile of rows r[0..7] in registers: on return r[t] holds column t.
__attribute__((target("avx2")))
static inline void transpose8x8(__m256 r[8]) {
    __m256 t0 = _mm256_unpacklo_ps(r[0], r[1]), t1 = _mm256_unpackhi_ps(r[0], r[1]), t2 = _mm256_unpacklo_ps(r[2], r[3]),
           t3 = _mm256_unpackhi_ps(r[2], r[3]), t4 = _mm256_unpacklo_ps(r[4], r[5]), t5 = _mm256_unpackhi_ps(r[4], r[5]),
           t6 = _mm256_unpacklo_ps(r[6], r[7]), t7 = _mm256_unpackhi_ps(r[6], r[7]);
    __m256 u0 = _mm256_shuffle_ps(t0, t2, 0x44), u1 = _mm256_shuffle_ps(t0, t2, 0xEE),
           u2 = _mm256_shuffle_ps(t1, t3, 0x44), u3 = _mm256_shuffle_ps(t1, t3, 0xEE),
           u4 = _mm256_shuffle_ps(t4, t6, 0x44), u5 = _mm256_shuffle_ps(t4, t6, 0xEE),
           u6 = _mm256_shuffle_ps(t5, t7, 0x44), u7 = _mm256_shuffle_ps(t5, t7, 0xEE);
    r[0] = _mm256_permute2f128_ps(u0, u4, 0x20); r[1] = _mm256_permute2f128_ps(u1, u5, 0x20);
    r[2] = _mm256_permute2f128_ps(u2, u6, 0x20); r[3] = _mm256_permute2f128_ps(u3, u7, 0x20);
    r[4] = _mm256_permute2f128_ps(u0, u4, 0x31); r[5] = _mm256_permute2f128_ps(u1, u5, 0x31);
    r[6] = _mm256_permute2f128_ps(u2, u6, 0x31); r[7] = _mm256_permute2f128_ps(u3, u7, 0x31);
}

// The 8x8 tile at s (rows ld apart), transposed: on return r[t] holds the tile's column t.
__attribute__((target("avx2")))
static inline void load_transposed(const float *s, long ld, __m256 r[8]) {
    for (long q = 0; q < 8; q++) r[q] = _mm256_loadu_ps(s + q * ld);
    transpose8x8(r);
}

// At most 8 columns into groups of nr <= 8 (the GEMM's packed A: MR = 6 rows of a row-major A, each k's six values
// together): 8 k at a time through one tile, each group written as a whole 8-lane vector in increasing order, so
// that the next group overwrites its spare lanes. The last group of the last tile would spill past the end: the
// scalar loop writes it.
__attribute__((target("avx2")))
static void pack_t_narrow_avx2(const float *src, long ld, long rows, long cols, long nr, float *dst) {
    long p = 0;
    for (; p + 8 < rows || (p + 8 == rows && nr == 8); p += 8) {
        __m256 r[8];
        for (long j = 0; j < 8; j++) r[j] = j < cols ? _mm256_loadu_ps(src + j * ld + p) : _mm256_setzero_ps();
        transpose8x8(r);
        for (long t = 0; t < 8; t++) _mm256_storeu_ps(dst + (p + t) * nr, r[t]);
    }
    for (; p < rows; p++) {
        float *d = dst + p * nr;
        for (long j = 0; j < cols; j++) d[j] = src[j * ld + p];
        for (long j = cols; j < nr; j++) d[j] = 0;
    }
}

__attribute__((target("avx2")))
static void pack_t_avx2(const float *src, long ld, long rows, long cols, long ldd, long pad, float *dst) {
    if (ldd <= 8) { pack_t_narrow_avx2(src, ld, rows, cols, ldd, dst); return; }
    const long nr = ldd, rows8 = rows / 8 * 8, cols8 = cols / 8 * 8;
    // Eight k at a time across all the column tiles, so that the eight destination rows are written whole, one after
    // another: tile-column by tile-column, each row's line was written in parts, far apart (a 16-wide sliver of a
    // 784 x 256 weight: 50 us against 25-34 us this way, on a Zen 3).
    for (long p = 0; p < rows8; p += 8) {
        for (long j = 0; j < cols8; j += 8) {
            __m256 r[8];
            load_transposed(src + j * ld + p, ld, r);
            float *d = dst + p * nr + j;
            for (long t = 0; t < 8; t++) _mm256_storeu_ps(d + t * nr, r[t]);
        }
    }
    for (long p = rows8; p < rows; p++)
        for (long j = 0; j < cols8; j++) dst[p * nr + j] = src[j * ld + p];
    if (cols8 == pad) return;  // no odd columns and no padding: the loop below would only count the rows
    for (long p = 0; p < rows; p++) {
        float *d = dst + p * nr;
        for (long j = cols8; j < cols; j++) d[j] = src[j * ld + p];
        for (long j = cols; j < pad; j++) d[j] = 0;
    }
}
#endif

void axon_pack_transposed_with(int level, const float *src, long ld, long rows, long cols, long nr, float *dst) {
#if AXON_X86
    if (level >= 2) { pack_t_avx2(src, ld, rows, cols, nr, nr, dst); return; }
#endif
    pack_t_generic(src, ld, rows, cols, nr, nr, dst);
}

// dst[p * ldd + j] += src[j * ld + p] for p < rows, j < cols: a block of a product computed transposed, added onto
// its destination (each element one addition, the same bits in either order of the operands).
static void transpose_add_generic(const float *src, long ld, long rows, long cols, float *dst, long ldd) {
    for (long p = 0; p < rows; p++) {
        float *d = dst + p * ldd;
        for (long j = 0; j < cols; j++) d[j] += src[j * ld + p];
    }
}

#if AXON_X86
__attribute__((target("avx2")))
static void transpose_add_avx2(const float *src, long ld, long rows, long cols, float *dst, long ldd) {
    const long rows8 = rows / 8 * 8, cols8 = cols / 8 * 8;
    for (long p = 0; p < rows8; p += 8) {
        for (long j = 0; j < cols8; j += 8) {
            __m256 r[8];
            load_transposed(src + j * ld + p, ld, r);
            float *d = dst + p * ldd + j;
            for (long t = 0; t < 8; t++) _mm256_storeu_ps(d + t * ldd, _mm256_add_ps(_mm256_loadu_ps(d + t * ldd), r[t]));
        }
        for (long t = p; t < p + 8; t++)
            for (long j = cols8; j < cols; j++) dst[t * ldd + j] += src[j * ld + t];
    }
    transpose_add_generic(src + rows8, ld, rows - rows8, cols, dst + rows8 * ldd, ldd);
}
#endif

void axon_transpose_add(const float *src, long ld, long rows, long cols, float *dst, long ldd) {
#if AXON_X86
    if (axon_cpu_avx2()) { transpose_add_avx2(src, ld, rows, cols, dst, ldd); return; }
#endif
    transpose_add_generic(src, ld, rows, cols, dst, ldd);
}

void axon_transpose(const float *src, long ld, long rows, long cols, float *dst, long ldd) {
#if AXON_X86
    if (axon_cpu_avx2() && ldd > 8) { pack_t_avx2(src, ld, rows, cols, ldd, cols, dst); return; }
#endif
    pack_t_generic(src, ld, rows, cols, ldd, cols, dst);
}

int axon_pack_transposed_levels(void) { return axon_cpu_avx2() ? 2 : 1; }

void axon_pack_transposed(const float *src, long ld, long rows, long cols, long nr, float *dst) {
    axon_pack_transposed_with(axon_pack_transposed_levels(), src, ld, rows, cols, nr, dst);
}

// Fixed sizes, so that the compiler moves each row with vector loads and stores in place of a memcpy call (a call
// per 64-byte row cost more than the copy).
#define AXON_PACK_FIXED(NR) do { \
        for (long p = 0; p < rows; p++) memcpy(dst + p * (NR), src + p * ld, (NR) * sizeof(float)); \
        return; } while (0)

void axon_pack_rows(const float *src, long ld, long rows, long cols, long nr, float *dst) {
    if (cols == nr && nr == 6) AXON_PACK_FIXED(6);  // MR: the A sliver of a transposed A (Gᵀ·X)
    if (cols == nr && nr == 16) AXON_PACK_FIXED(16);
    if (cols == nr && nr == 64) AXON_PACK_FIXED(64);
    for (long p = 0; p < rows; p++) {
        memcpy(dst + p * nr, src + p * ld, (size_t)cols * sizeof(float));
        memset(dst + p * nr + cols, 0, (size_t)(nr - cols) * sizeof(float));
    }
}

// A whole block of slivers from a row-major source: columns [s * nr, s * nr + nr) of `rows` rows form sliver s, packed
// as axon_pack_rows packs one (dst + s * rows * nr; the last sliver zero-padded). A transposed A (Gᵀ·X, G's rows
// 4 KiB apart in an LSTM's weight gradient) read sliver by sliver took 24 bytes from each of kc rows per sliver, all in
// one L1 set; here each source row's part is read once, 16 rows at a time, and each sliver's 16 rows are written whole.
void axon_pack_rows_slivers(const float *src, long ld, long rows, long cols, long nr, float *dst) {
    const long slivers = (cols + nr - 1) / nr, chunk = 16;
    for (long p0 = 0; p0 < rows; p0 += chunk) {
        const long pn = rows - p0 < chunk ? rows - p0 : chunk;
        for (long s = 0; s < slivers; s++) {
            const long width = cols - s * nr < nr ? cols - s * nr : nr;
            axon_pack_rows(src + p0 * ld + s * nr, ld, pn, width, nr, dst + s * rows * nr + p0 * nr);
        }
    }
}
