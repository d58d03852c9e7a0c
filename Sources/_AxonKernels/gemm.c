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
__attribute__((target("avx2,fma")))
static void sgemm_avx2_6x16(long kc, const float *a, const float *b, long ldb, float *c, long ldc, long m, long n, int accumulate) {
    __m256 c00 = _mm256_setzero_ps(), c01 = _mm256_setzero_ps();
    __m256 c10 = _mm256_setzero_ps(), c11 = _mm256_setzero_ps();
    __m256 c20 = _mm256_setzero_ps(), c21 = _mm256_setzero_ps();
    __m256 c30 = _mm256_setzero_ps(), c31 = _mm256_setzero_ps();
    __m256 c40 = _mm256_setzero_ps(), c41 = _mm256_setzero_ps();
    __m256 c50 = _mm256_setzero_ps(), c51 = _mm256_setzero_ps();
    // The C tile's lines are requested before the K loop, so that their misses (a large C, accumulated over several
    // K blocks) overlap the arithmetic instead of stalling the stores after it.
    for (int r = 0; r < 6; r++) {
        _mm_prefetch((const char *)(c + r * ldc), _MM_HINT_T0);
        _mm_prefetch((const char *)(c + r * ldc + 15), _MM_HINT_T0);
    }
#pragma clang loop unroll_count(4)
    for (long k = 0; k < kc; k++) {
        __m256 b0 = _mm256_loadu_ps(b), b1 = _mm256_loadu_ps(b + 8);
        __m256 a0 = _mm256_broadcast_ss(a + 0);
        c00 = _mm256_fmadd_ps(a0, b0, c00); c01 = _mm256_fmadd_ps(a0, b1, c01);
        __m256 a1 = _mm256_broadcast_ss(a + 1);
        c10 = _mm256_fmadd_ps(a1, b0, c10); c11 = _mm256_fmadd_ps(a1, b1, c11);
        __m256 a2 = _mm256_broadcast_ss(a + 2);
        c20 = _mm256_fmadd_ps(a2, b0, c20); c21 = _mm256_fmadd_ps(a2, b1, c21);
        __m256 a3 = _mm256_broadcast_ss(a + 3);
        c30 = _mm256_fmadd_ps(a3, b0, c30); c31 = _mm256_fmadd_ps(a3, b1, c31);
        __m256 a4 = _mm256_broadcast_ss(a + 4);
        c40 = _mm256_fmadd_ps(a4, b0, c40); c41 = _mm256_fmadd_ps(a4, b1, c41);
        __m256 a5 = _mm256_broadcast_ss(a + 5);
        c50 = _mm256_fmadd_ps(a5, b0, c50); c51 = _mm256_fmadd_ps(a5, b1, c51);
        a += 6; b += ldb;
    }
    if (m == 6 && n == 16) {
#define AXON_ST2(r, x0, x1) do { float *p = c + (r) * ldc; \
        if (accumulate) { x0 = _mm256_add_ps(x0, _mm256_loadu_ps(p)); x1 = _mm256_add_ps(x1, _mm256_loadu_ps(p + 8)); } \
        _mm256_storeu_ps(p, x0); _mm256_storeu_ps(p + 8, x1); } while (0)
        AXON_ST2(0, c00, c01); AXON_ST2(1, c10, c11); AXON_ST2(2, c20, c21);
        AXON_ST2(3, c30, c31); AXON_ST2(4, c40, c41); AXON_ST2(5, c50, c51);
#undef AXON_ST2
    } else {
        float tile[6 * 16];
        _mm256_storeu_ps(tile + 0, c00);  _mm256_storeu_ps(tile + 8, c01);
        _mm256_storeu_ps(tile + 16, c10); _mm256_storeu_ps(tile + 24, c11);
        _mm256_storeu_ps(tile + 32, c20); _mm256_storeu_ps(tile + 40, c21);
        _mm256_storeu_ps(tile + 48, c30); _mm256_storeu_ps(tile + 56, c31);
        _mm256_storeu_ps(tile + 64, c40); _mm256_storeu_ps(tile + 72, c41);
        _mm256_storeu_ps(tile + 80, c50); _mm256_storeu_ps(tile + 88, c51);
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
