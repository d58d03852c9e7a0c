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

// Where a micro-kernel reads A. Packed (in_place 0): a sliver of kc groups of MR values, rows past m zero. In place
// (in_place 1): A's own rows, element (r, k) at a[r * lda + k]; rows past m read row 0 again (valid memory), and
// their results are not stored. Each kernel is one always-inlined body called with the flag as a constant, so both
// forms compile to their own loop, with the same operations for every C element (the same bits).
#define A_ROW_POINTERS(MR) \
    const float *ar_[MR]; \
    for (int r_ = 0; r_ < (MR); r_++) ar_[r_] = in_place ? a + (r_ < m ? r_ : 0) * lda : a + r_; \
    const long astep_ = in_place ? 1 : 6  // the packed A keeps 6-wide groups even for the 4-row loops
#define A_AT(r) ar_[r][k * astep_]

// ---- generic (portable C; the compiler vectorizes for the baseline ISA, NEON on arm64) ----
#define G_MR 4
#define G_NR 16
static inline __attribute__((always_inline))
void sgemm_generic_body(long kc, const float *a, long lda, int in_place, const float *b, long ldb, float *c, long ldc,
                        long m, long n, int accumulate) {
    float acc[G_MR * G_NR];
    memset(acc, 0, sizeof acc);
    const float *ar_[G_MR];
    for (int r = 0; r < G_MR; r++) ar_[r] = in_place ? a + (r < m ? r : 0) * lda : a + r;
    const long astep_ = in_place ? 1 : G_MR;
    for (long k = 0; k < kc; k++) {
        const float *bk = b + k * ldb;
        for (int i = 0; i < G_MR; i++) {
            float ai = A_AT(i);
            for (int j = 0; j < G_NR; j++) acc[i * G_NR + j] += ai * bk[j];
        }
    }
    axon_store_edge(acc, G_NR, c, ldc, m, n, accumulate);
}
static void sgemm_generic(long kc, const float *a, const float *b, long ldb, float *c, long ldc, long m, long n, int accumulate) {
    sgemm_generic_body(kc, a, 0, 0, b, ldb, c, ldc, m, n, accumulate);
}
static void sgemm_generic_rows(long kc, const float *a, long lda, const float *b, long ldb, float *c, long ldc, long m,
                               long n, int accumulate) {
    sgemm_generic_body(kc, a, lda, 1, b, ldb, c, ldc, m, n, accumulate);
}

#if AXON_X86
// ---- Tiles two vectors wide: AVX2's 6 x 16 and AVX-512's 6 x 32 (12 accumulators) ----
// One body for both widths (V: the vector type of W lanes; SET1, FMADD, LOADU, STOREU, ADD: its intrinsics). Row r
// keeps c<r>0 and c<r>1.
#define T2_ROW(V, SET1, r) V c##r##0 = SET1(0.0f), c##r##1 = SET1(0.0f)
#define T2_FMA(V, SET1, FMADD, r) do { V ar = SET1(A_AT(r)); \
        c##r##0 = FMADD(ar, b0, c##r##0); c##r##1 = FMADD(ar, b1, c##r##1); } while (0)
#define T2_ST(W, LOADU, STOREU, ADD, r) do { float *p = c + (r) * ldc; \
        if (accumulate) { c##r##0 = ADD(c##r##0, LOADU(p)); c##r##1 = ADD(c##r##1, LOADU(p + (W))); } \
        STOREU(p, c##r##0); STOREU(p + (W), c##r##1); } while (0)
#define T2_TILE(W, STOREU, r) do { STOREU(tile + (r) * 2 * (W), c##r##0); STOREU(tile + (r) * 2 * (W) + (W), c##r##1); } while (0)

// A last sliver of at most 4 rows (M = 64 is 10 slivers of 6 and one of 4: a batch of 64, or 128 features) runs only
// its 4 rows: 8 accumulators, still as many as the FMA pipes need in flight. The same operations for every C element,
// so the same bits; in cache, a 4 x 16 tile at kc = 256 took 318 ns against 491 through the 6-row loop (Zen 3).
// The C tile's lines are requested before the K loop, so that their misses (a large C, accumulated over several K
// blocks) overlap the arithmetic instead of stalling the stores after it.
#define AXON_TWO_VECTOR_KERNELS(NAME, FOUR, V, W, SET1, FMADD, LOADU, STOREU, ADD, TARGET)                             \
    static inline __attribute__((always_inline, target(TARGET)))                                                       \
    void FOUR(long kc, const float *a, long lda, int in_place, const float *b, long ldb, float *c, long ldc, long m,   \
              long n, int accumulate) {                                                                                \
        A_ROW_POINTERS(4);                                                                                             \
        T2_ROW(V, SET1, 0); T2_ROW(V, SET1, 1); T2_ROW(V, SET1, 2); T2_ROW(V, SET1, 3);                                \
        _Pragma("clang loop unroll_count(4)")                                                                          \
        for (long k = 0; k < kc; k++) {                                                                                \
            V b0 = LOADU(b), b1 = LOADU(b + (W));                                                                      \
            T2_FMA(V, SET1, FMADD, 0); T2_FMA(V, SET1, FMADD, 1); T2_FMA(V, SET1, FMADD, 2); T2_FMA(V, SET1, FMADD, 3); \
            b += ldb;                                                                                                  \
        }                                                                                                              \
        float tile[4 * 2 * (W)];                                                                                       \
        T2_TILE(W, STOREU, 0); T2_TILE(W, STOREU, 1); T2_TILE(W, STOREU, 2); T2_TILE(W, STOREU, 3);                    \
        axon_store_edge(tile, 2 * (W), c, ldc, m, n, accumulate);                                                      \
    }                                                                                                                  \
    static inline __attribute__((always_inline, target(TARGET)))                                                       \
    void NAME##_body(long kc, const float *a, long lda, int in_place, const float *b, long ldb, float *c, long ldc,     \
                     long m, long n, int accumulate) {                                                                 \
        if (m <= 4) { FOUR(kc, a, lda, in_place, b, ldb, c, ldc, m, n, accumulate); return; }                          \
        A_ROW_POINTERS(6);                                                                                             \
        T2_ROW(V, SET1, 0); T2_ROW(V, SET1, 1); T2_ROW(V, SET1, 2); T2_ROW(V, SET1, 3); T2_ROW(V, SET1, 4);            \
        T2_ROW(V, SET1, 5);                                                                                            \
        for (int r = 0; r < 6; r++) {                                                                                  \
            for (int l = 0; l < 2 * (W); l += 16) _mm_prefetch((const char *)(c + r * ldc + l), _MM_HINT_T0);          \
            _mm_prefetch((const char *)(c + r * ldc + 2 * (W) - 1), _MM_HINT_T0);                                      \
        }                                                                                                              \
        _Pragma("clang loop unroll_count(4)")                                                                          \
        for (long k = 0; k < kc; k++) {                                                                                \
            V b0 = LOADU(b), b1 = LOADU(b + (W));                                                                      \
            T2_FMA(V, SET1, FMADD, 0); T2_FMA(V, SET1, FMADD, 1); T2_FMA(V, SET1, FMADD, 2); T2_FMA(V, SET1, FMADD, 3); \
            T2_FMA(V, SET1, FMADD, 4); T2_FMA(V, SET1, FMADD, 5);                                                      \
            b += ldb;                                                                                                  \
        }                                                                                                              \
        if (m == 6 && n == 2 * (W)) {                                                                                  \
            T2_ST(W, LOADU, STOREU, ADD, 0); T2_ST(W, LOADU, STOREU, ADD, 1); T2_ST(W, LOADU, STOREU, ADD, 2);         \
            T2_ST(W, LOADU, STOREU, ADD, 3); T2_ST(W, LOADU, STOREU, ADD, 4); T2_ST(W, LOADU, STOREU, ADD, 5);         \
        } else {                                                                                                       \
            float tile[6 * 2 * (W)];                                                                                   \
            T2_TILE(W, STOREU, 0); T2_TILE(W, STOREU, 1); T2_TILE(W, STOREU, 2); T2_TILE(W, STOREU, 3);                \
            T2_TILE(W, STOREU, 4); T2_TILE(W, STOREU, 5);                                                              \
            axon_store_edge(tile, 2 * (W), c, ldc, m, n, accumulate);                                                  \
        }                                                                                                              \
    }                                                                                                                  \
    __attribute__((target(TARGET))) static void NAME(long kc, const float *a, const float *b, long ldb, float *c,     \
                                                     long ldc, long m, long n, int accumulate) {                      \
        NAME##_body(kc, a, 0, 0, b, ldb, c, ldc, m, n, accumulate);                                                    \
    }                                                                                                                  \
    __attribute__((target(TARGET))) static void NAME##_rows(long kc, const float *a, long lda, const float *b,        \
                                                            long ldb, float *c, long ldc, long m, long n,             \
                                                            int accumulate) {                                         \
        NAME##_body(kc, a, lda, 1, b, ldb, c, ldc, m, n, accumulate);                                                  \
    }

AXON_TWO_VECTOR_KERNELS(sgemm_avx2_6x16, sgemm_avx2_4x16, __m256, 8, _mm256_set1_ps, _mm256_fmadd_ps, _mm256_loadu_ps,
                        _mm256_storeu_ps, _mm256_add_ps, "avx2,fma")
// AVX-512's, for products of 17-32 columns (a convolution's weight gradient over 32 input channels): half the
// instructions of two AVX2 tiles.
AXON_TWO_VECTOR_KERNELS(sgemm_avx512_6x32, sgemm_avx512_4x32, __m512, 16, _mm512_set1_ps, _mm512_fmadd_ps,
                        _mm512_loadu_ps, _mm512_storeu_ps, _mm512_add_ps, "avx512f")

// ---- AVX-512: 6 x 64 (24 zmm accumulators), the shape measured best here (../shared/PERFORMANCE.md) ----
#define Z_ROW(r) __m512 c##r##0 = _mm512_setzero_ps(), c##r##1 = _mm512_setzero_ps(), \
                        c##r##2 = _mm512_setzero_ps(), c##r##3 = _mm512_setzero_ps()
#define Z_FMA(r) do { __m512 ar = _mm512_set1_ps(A_AT(r)); \
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
#define Z_LOAD_B() __m512 b0 = _mm512_loadu_ps(b), b1 = _mm512_loadu_ps(b + 16), \
                          b2 = _mm512_loadu_ps(b + 32), b3 = _mm512_loadu_ps(b + 48)

// A last sliver of at most 4 rows runs only those rows, as on AVX2 (16 accumulators).
static inline __attribute__((always_inline, target("avx512f")))
void sgemm_avx512_4x64(long kc, const float *a, long lda, int in_place, const float *b, long ldb, float *c, long ldc,
                       long m, long n, int accumulate) {
    A_ROW_POINTERS(4);
    Z_ROW(0); Z_ROW(1); Z_ROW(2); Z_ROW(3);
    for (long k = 0; k < kc; k++) {
        Z_LOAD_B();
        Z_FMA(0); Z_FMA(1); Z_FMA(2); Z_FMA(3);
        b += ldb;
    }
    float tile[4 * 64];
    Z_TILE(0); Z_TILE(1); Z_TILE(2); Z_TILE(3);
    axon_store_edge(tile, 64, c, ldc, m, n, accumulate);
}

static inline __attribute__((always_inline, target("avx512f")))
void sgemm_avx512_6x64_body(long kc, const float *a, long lda, int in_place, const float *b, long ldb, float *c,
                            long ldc, long m, long n, int accumulate) {
    if (m <= 4) { sgemm_avx512_4x64(kc, a, lda, in_place, b, ldb, c, ldc, m, n, accumulate); return; }
    A_ROW_POINTERS(6);
    Z_ROW(0); Z_ROW(1); Z_ROW(2); Z_ROW(3); Z_ROW(4); Z_ROW(5);
    // The C tile's lines are requested before the K loop, as on AVX2 (square 2048 on a Zen 4, in a C loop of the
    // GEMM's blocking: 103-109 GFLOP/s against 96-106 without).
    for (int r = 0; r < 6; r++) {
        for (int l = 0; l < 64; l += 16) _mm_prefetch((const char *)(c + r * ldc + l), _MM_HINT_T0);
    }
    for (long k = 0; k < kc; k++) {
        Z_LOAD_B();
        Z_FMA(0); Z_FMA(1); Z_FMA(2); Z_FMA(3); Z_FMA(4); Z_FMA(5);
        b += ldb;
    }
    if (m == 6 && n == 64) {
        Z_ST(0); Z_ST(1); Z_ST(2); Z_ST(3); Z_ST(4); Z_ST(5);
    } else {
        float tile[6 * 64];
        Z_TILE(0); Z_TILE(1); Z_TILE(2); Z_TILE(3); Z_TILE(4); Z_TILE(5);
        axon_store_edge(tile, 64, c, ldc, m, n, accumulate);
    }
}
__attribute__((target("avx512f")))
static void sgemm_avx512_6x64(long kc, const float *a, const float *b, long ldb, float *c, long ldc, long m, long n, int accumulate) {
    sgemm_avx512_6x64_body(kc, a, 0, 0, b, ldb, c, ldc, m, n, accumulate);
}
__attribute__((target("avx512f")))
static void sgemm_avx512_6x64_rows(long kc, const float *a, long lda, const float *b, long ldb, float *c, long ldc,
                                   long m, long n, int accumulate) {
    sgemm_avx512_6x64_body(kc, a, lda, 1, b, ldb, c, ldc, m, n, accumulate);
}

#endif  // AXON_X86

#include <pthread.h>

static axon_sgemm_variant variants[4];
static int variant_count = 0;
static pthread_once_t variants_once = PTHREAD_ONCE_INIT;

static void init_variants(void) {
    int k = 0;
#if AXON_X86
    if (axon_cpu_avx512()) {
        variants[k++] = (axon_sgemm_variant){"avx512", 6, 64, sgemm_avx512_6x64, sgemm_avx512_6x64_rows};
        variants[k++] = (axon_sgemm_variant){"avx512-32", 6, 32, sgemm_avx512_6x32, sgemm_avx512_6x32_rows};
    }
    if (axon_cpu_avx2_fma()) {
        variants[k++] = (axon_sgemm_variant){"avx2", 6, 16, sgemm_avx2_6x16, sgemm_avx2_6x16_rows};
    }
#endif
    variants[k++] = (axon_sgemm_variant){"generic", G_MR, G_NR, sgemm_generic, sgemm_generic_rows};
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
enum { CPU_AVX512F = 1, CPU_AVX2 = 2, CPU_FMA = 4, CPU_INTEL = 8 };
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
        if (__builtin_cpu_is("intel")) f |= CPU_INTEL;
#endif
        __atomic_store_n(&features, f, __ATOMIC_RELAXED);
    }
    return f;
}

int axon_cpu_avx512(void) { return (cpu_features() & CPU_AVX512F) != 0; }
int axon_cpu_avx2(void) { return (cpu_features() & CPU_AVX2) != 0; }
int axon_cpu_avx2_fma(void) { return (cpu_features() & (CPU_AVX2 | CPU_FMA)) == (CPU_AVX2 | CPU_FMA); }

int axon_cpu_intel(void) { return (cpu_features() & CPU_INTEL) != 0; }
