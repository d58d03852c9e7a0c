// SGEMM micro-kernels. Each variant is compiled for its instruction set with a target attribute and
// chosen at run time, so a plain `swift build` (baseline x86-64) still runs AVX-512 code where the CPU has it.
// Packing, blocking and threading live in Swift (AxonCore/Backend/GEMM.swift).
#include "AxonKernels.h"
#include <string.h>

#include "cpu.h"

// Writes the m x n corner of a full MR x NR tile held in `tile` (row stride nr) into C.
static inline void axon_store_edge(const float *tile, int nr, float *c, long ldc, long m, long n, int accumulate) {
    for (long i = 0; i < m; i++) {
        if (accumulate) {
            for (long j = 0; j < n; j++) c[i * ldc + j] += tile[i * nr + j];
        } else {
            for (long j = 0; j < n; j++) c[i * ldc + j] = tile[i * nr + j];
        }
    }
}

// ---- generic (portable C; the compiler vectorizes for the baseline ISA, NEON on arm64) ----
#define G_MR 4
#define G_NR 16
static void sgemm_generic(long kc, const float *a, const float *b, long ldb, float *c, long ldc, long m, long n, int accumulate) {
    float acc[G_MR * G_NR];
    memset(acc, 0, sizeof acc);
    for (long k = 0; k < kc; k++) {
        const float *ak = a + k * G_MR;
        const float *bk = b + k * ldb;
        for (int i = 0; i < G_MR; i++) {
            float ai = ak[i];
            for (int j = 0; j < G_NR; j++) acc[i * G_NR + j] += ai * bk[j];
        }
    }
    axon_store_edge(acc, G_NR, c, ldc, m, n, accumulate);
}

#if AXON_X86
// ---- AVX2 + FMA: 6 x 16 (12 ymm accumulators) ----
#define Y_ROW(r) __m256 c##r##0 = _mm256_setzero_ps(), c##r##1 = _mm256_setzero_ps()
#define Y_FMA(r) do { __m256 ar = _mm256_broadcast_ss(a + (r)); \
        c##r##0 = _mm256_fmadd_ps(ar, b0, c##r##0); c##r##1 = _mm256_fmadd_ps(ar, b1, c##r##1); } while (0)
#define Y_ST(r) do { float *p = c + (r) * ldc; \
        if (accumulate) { c##r##0 = _mm256_add_ps(c##r##0, _mm256_loadu_ps(p)); \
                          c##r##1 = _mm256_add_ps(c##r##1, _mm256_loadu_ps(p + 8)); } \
        _mm256_storeu_ps(p, c##r##0); _mm256_storeu_ps(p + 8, c##r##1); } while (0)
#define Y_TILE(r) do { _mm256_storeu_ps(tile + (r) * 16, c##r##0); _mm256_storeu_ps(tile + (r) * 16 + 8, c##r##1); } while (0)

// A last sliver of at most 4 rows (M = 64 is 10 slivers of 6 and one of 4: a batch of 64, or 128 features) runs
// only its 4 rows: 8 accumulators, still as many as the FMA pipes need in flight. The same operations for every C
// element, so the same bits; in cache, a 4 x 16 tile at kc = 256 took 318 ns against 491 through the 6-row loop
// (Zen 3).
__attribute__((target("avx2,fma")))
static void sgemm_avx2_4x16(long kc, const float *a, const float *b, long ldb, float *c, long ldc, long m, long n, int accumulate) {
    Y_ROW(0); Y_ROW(1); Y_ROW(2); Y_ROW(3);
#pragma clang loop unroll_count(4)
    for (long k = 0; k < kc; k++) {
        __m256 b0 = _mm256_loadu_ps(b), b1 = _mm256_loadu_ps(b + 8);
        Y_FMA(0); Y_FMA(1); Y_FMA(2); Y_FMA(3);
        a += 6; b += ldb;  // the packed A keeps its 6-wide groups
    }
    float tile[4 * 16];
    Y_TILE(0); Y_TILE(1); Y_TILE(2); Y_TILE(3);
    axon_store_edge(tile, 16, c, ldc, m, n, accumulate);
}

__attribute__((target("avx2,fma")))
static void sgemm_avx2_6x16(long kc, const float *a, const float *b, long ldb, float *c, long ldc, long m, long n, int accumulate) {
    if (m <= 4) { sgemm_avx2_4x16(kc, a, b, ldb, c, ldc, m, n, accumulate); return; }
    Y_ROW(0); Y_ROW(1); Y_ROW(2); Y_ROW(3); Y_ROW(4); Y_ROW(5);
    // The C tile's lines are requested before the K loop, so that their misses (a large C, accumulated over several
    // K blocks) overlap the arithmetic instead of stalling the stores after it.
    for (int r = 0; r < 6; r++) {
        _mm_prefetch((const char *)(c + r * ldc), _MM_HINT_T0);
        _mm_prefetch((const char *)(c + r * ldc + 15), _MM_HINT_T0);
    }
#pragma clang loop unroll_count(4)
    for (long k = 0; k < kc; k++) {
        __m256 b0 = _mm256_loadu_ps(b), b1 = _mm256_loadu_ps(b + 8);
        Y_FMA(0); Y_FMA(1); Y_FMA(2); Y_FMA(3); Y_FMA(4); Y_FMA(5);
        a += 6; b += ldb;
    }
    if (m == 6 && n == 16) {
        Y_ST(0); Y_ST(1); Y_ST(2); Y_ST(3); Y_ST(4); Y_ST(5);
    } else {
        float tile[6 * 16];
        Y_TILE(0); Y_TILE(1); Y_TILE(2); Y_TILE(3); Y_TILE(4); Y_TILE(5);
        axon_store_edge(tile, 16, c, ldc, m, n, accumulate);
    }
}

// ---- AVX-512: 6 x 64 (24 zmm accumulators), the shape measured best here (../shared/PERFORMANCE.md) ----
#define Z_ROW(r) __m512 c##r##0 = _mm512_setzero_ps(), c##r##1 = _mm512_setzero_ps(), \
                        c##r##2 = _mm512_setzero_ps(), c##r##3 = _mm512_setzero_ps()
#define Z_FMA(r) do { __m512 ar = _mm512_set1_ps(a[r]); \
        c##r##0 = _mm512_fmadd_ps(ar, b0, c##r##0); c##r##1 = _mm512_fmadd_ps(ar, b1, c##r##1); \
        c##r##2 = _mm512_fmadd_ps(ar, b2, c##r##2); c##r##3 = _mm512_fmadd_ps(ar, b3, c##r##3); } while (0)
#define Z_ST(r) do { float *p = c + (r) * ldc; \
        if (accumulate) { c##r##0 = _mm512_add_ps(c##r##0, _mm512_loadu_ps(p)); \
                          c##r##1 = _mm512_add_ps(c##r##1, _mm512_loadu_ps(p + 16)); \
                          c##r##2 = _mm512_add_ps(c##r##2, _mm512_loadu_ps(p + 32)); \
                          c##r##3 = _mm512_add_ps(c##r##3, _mm512_loadu_ps(p + 48)); } \
        _mm512_storeu_ps(p, c##r##0); _mm512_storeu_ps(p + 16, c##r##1); \
        _mm512_storeu_ps(p + 32, c##r##2); _mm512_storeu_ps(p + 48, c##r##3); } while (0)
#define Z_TILE(r) do { float *p = tile + (r) * 64; \
        _mm512_storeu_ps(p, c##r##0); _mm512_storeu_ps(p + 16, c##r##1); \
        _mm512_storeu_ps(p + 32, c##r##2); _mm512_storeu_ps(p + 48, c##r##3); } while (0)

__attribute__((target("avx512f")))
static void sgemm_avx512_6x64(long kc, const float *a, const float *b, long ldb, float *c, long ldc, long m, long n, int accumulate) {
    Z_ROW(0); Z_ROW(1); Z_ROW(2); Z_ROW(3); Z_ROW(4); Z_ROW(5);
    for (long k = 0; k < kc; k++) {
        __m512 b0 = _mm512_loadu_ps(b), b1 = _mm512_loadu_ps(b + 16);
        __m512 b2 = _mm512_loadu_ps(b + 32), b3 = _mm512_loadu_ps(b + 48);
        Z_FMA(0); Z_FMA(1); Z_FMA(2); Z_FMA(3); Z_FMA(4); Z_FMA(5);
        a += 6; b += ldb;
    }
    if (m == 6 && n == 64) {
        Z_ST(0); Z_ST(1); Z_ST(2); Z_ST(3); Z_ST(4); Z_ST(5);
    } else {
        float tile[6 * 64];
        Z_TILE(0); Z_TILE(1); Z_TILE(2); Z_TILE(3); Z_TILE(4); Z_TILE(5);
        axon_store_edge(tile, 64, c, ldc, m, n, accumulate);
    }
}
#endif  // AXON_X86

#include <pthread.h>

static axon_sgemm_variant variants[3];
static int variant_count = 0;
static pthread_once_t variants_once = PTHREAD_ONCE_INIT;

static void init_variants(void) {
    int k = 0;
#if AXON_X86
    if (axon_cpu_avx512()) {
        variants[k++] = (axon_sgemm_variant){"avx512", 6, 64, sgemm_avx512_6x64};
    }
    if (axon_cpu_avx2_fma()) {
        variants[k++] = (axon_sgemm_variant){"avx2", 6, 16, sgemm_avx2_6x16};
    }
#endif
    variants[k++] = (axon_sgemm_variant){"generic", G_MR, G_NR, sgemm_generic};
    variant_count = k;
}

int axon_sgemm_variant_count(void) {
    pthread_once(&variants_once, init_variants);
    return variant_count;
}

axon_sgemm_variant axon_sgemm_variant_at(int i) {
    int n = axon_sgemm_variant_count();
    if (i < 0 || i >= n) i = n - 1;
    return variants[i];
}

// The CPU checks (cpu.h): asked once; threads racing on the first call store the same value.
enum { CPU_AVX512F = 1, CPU_AVX2 = 2, CPU_FMA = 4 };
static int cpu_features(void) {
    static int features = -1;
    int f = __atomic_load_n(&features, __ATOMIC_RELAXED);
    if (f < 0) {
        f = 0;
#if AXON_X86
        __builtin_cpu_init();
        if (__builtin_cpu_supports("avx512f")) f |= CPU_AVX512F;
        if (__builtin_cpu_supports("avx2")) f |= CPU_AVX2;
        if (__builtin_cpu_supports("fma")) f |= CPU_FMA;
#endif
        __atomic_store_n(&features, f, __ATOMIC_RELAXED);
    }
    return f;
}

int axon_cpu_avx512(void) { return (cpu_features() & CPU_AVX512F) != 0; }
int axon_cpu_avx2(void) { return (cpu_features() & CPU_AVX2) != 0; }
int axon_cpu_avx2_fma(void) { return (cpu_features() & (CPU_AVX2 | CPU_FMA)) == (CPU_AVX2 | CPU_FMA); }
