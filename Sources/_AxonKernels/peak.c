// sched_getaffinity and CPU_COUNT (the CPUs this thread may run on).
#if defined(__linux__) && !defined(_GNU_SOURCE)
#define _GNU_SOURCE
#endif
// The machine's float32 FMA peak: a loop of independent fused multiply-adds on registers only (no loads or
// stores), in the widest vectors this CPU runs. axon-bench times it to give the limit every GEMM and
// training figure is measured against.
#include "AxonKernels.h"

#include "cpu.h"

// 12 independent accumulators: more than an FMA's latency (4 cycles) times the FMA pipes (2), so the loop is
// bound by FMA throughput alone. a*x + b with a just below 1 converges to b / (1 - a) without denormals.
#define AXON_PEAK_ACCUMULATORS 12

#if AXON_X86
__attribute__((target("avx512f")))
static double fma_loop_avx512(long iterations) {
    __m512 acc[AXON_PEAK_ACCUMULATORS];
    for (int i = 0; i < AXON_PEAK_ACCUMULATORS; i++) acc[i] = _mm512_set1_ps((float)i);
    const __m512 a = _mm512_set1_ps(0.999999f), b = _mm512_set1_ps(1e-6f);
    for (long it = 0; it < iterations; it++) {
        for (int i = 0; i < AXON_PEAK_ACCUMULATORS; i++) acc[i] = _mm512_fmadd_ps(acc[i], a, b);
    }
    __m512 s = acc[0];
    for (int i = 1; i < AXON_PEAK_ACCUMULATORS; i++) s = _mm512_add_ps(s, acc[i]);
    return (double)_mm512_reduce_add_ps(s);
}

__attribute__((target("avx2,fma")))
static double fma_loop_avx2(long iterations) {
    __m256 acc[AXON_PEAK_ACCUMULATORS];
    for (int i = 0; i < AXON_PEAK_ACCUMULATORS; i++) acc[i] = _mm256_set1_ps((float)i);
    const __m256 a = _mm256_set1_ps(0.999999f), b = _mm256_set1_ps(1e-6f);
    for (long it = 0; it < iterations; it++) {
        for (int i = 0; i < AXON_PEAK_ACCUMULATORS; i++) acc[i] = _mm256_fmadd_ps(acc[i], a, b);
    }
    float lanes[8];
    __m256 s = acc[0];
    for (int i = 1; i < AXON_PEAK_ACCUMULATORS; i++) s = _mm256_add_ps(s, acc[i]);
    _mm256_storeu_ps(lanes, s);
    double total = 0;
    for (int i = 0; i < 8; i++) total += lanes[i];
    return total;
}
#endif

// Portable: 4-lane groups the compiler can keep in registers (NEON FMA on arm64).
static double fma_loop_generic(long iterations) {
    float acc[AXON_PEAK_ACCUMULATORS][4];
    for (int i = 0; i < AXON_PEAK_ACCUMULATORS; i++) for (int l = 0; l < 4; l++) acc[i][l] = (float)i;
    for (long it = 0; it < iterations; it++) {
        for (int i = 0; i < AXON_PEAK_ACCUMULATORS; i++) for (int l = 0; l < 4; l++) acc[i][l] = acc[i][l] * 0.999999f + 1e-6f;
    }
    double total = 0;
    for (int i = 0; i < AXON_PEAK_ACCUMULATORS; i++) for (int l = 0; l < 4; l++) total += acc[i][l];
    return total;
}

long axon_fma_peak_lanes(void) {
#if AXON_X86
    if (axon_cpu_avx512()) return 16;
    if (axon_cpu_avx2_fma()) return 8;
#endif
    return 4;
}

long axon_fma_peak_flops(long iterations) { return 2 * axon_fma_peak_lanes() * AXON_PEAK_ACCUMULATORS * iterations; }

double axon_fma_peak_loop(long iterations) {
    long lanes = axon_fma_peak_lanes();
#if AXON_X86
    if (lanes == 16) return fma_loop_avx512(iterations);
    if (lanes == 8) return fma_loop_avx2(iterations);
#endif
    return fma_loop_generic(iterations);
}

// ---- cross-core round trip ----
// Two threads pass a counter back and forth through one cache line: the time of a round trip is what a round of the
// worker pool pays to start its other threads and to learn that they are done. On the project's 2-vCPU machines it
// is about 60-150 ns in some periods and 330-420 ns in others (a Zen 4), and 2-thread training runs about half as
// fast in the second kind: axon-bench prints it beside the 2-thread figures.
#include <pthread.h>
#include <sched.h>
#include <time.h>

int axon_cpus_allowed(void) {
#if defined(__linux__)
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0) return CPU_COUNT(&set);
#endif
    return axon_cpu_count();
}

typedef struct {
    long flag __attribute__((aligned(64)));
    long trips;
} axon_ping_pong;

static void *pong(void *arg) {
    axon_ping_pong *p = arg;
    for (long i = 0; i <= p->trips; i++) {  // one more: the first trip, untimed, waits for this thread to start
        while (__atomic_load_n(&p->flag, __ATOMIC_ACQUIRE) != 2 * i + 1) {}
        __atomic_store_n(&p->flag, 2 * i + 2, __ATOMIC_RELEASE);
    }
    return NULL;
}

double axon_core_round_trip_ns(long trips) {
    axon_ping_pong p = {0, trips};
    pthread_t t;
    if (trips < 1 || axon_cpus_allowed() < 2 || pthread_create(&t, NULL, pong, &p) != 0) return -1;
    __atomic_store_n(&p.flag, 1, __ATOMIC_RELEASE);
    while (__atomic_load_n(&p.flag, __ATOMIC_ACQUIRE) != 2) {}
    struct timespec start, end;
    clock_gettime(CLOCK_MONOTONIC, &start);
    for (long i = 1; i <= trips; i++) {
        __atomic_store_n(&p.flag, 2 * i + 1, __ATOMIC_RELEASE);
        while (__atomic_load_n(&p.flag, __ATOMIC_ACQUIRE) != 2 * i + 2) {}
    }
    clock_gettime(CLOCK_MONOTONIC, &end);
    pthread_join(t, NULL);
    return ((double)(end.tv_sec - start.tv_sec) * 1e9 + (double)(end.tv_nsec - start.tv_nsec)) / (double)trips;
}
