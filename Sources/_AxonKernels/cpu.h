// Private to the kernels: the x86 switch, the CPU checks every kernel file chooses its code by (cached:
// asked once per process), and the masks of a short row for AVX-512's masked loads and stores.
#ifndef AXON_CPU_H
#define AXON_CPU_H

#if defined(__x86_64__) || defined(__i386__)
#define AXON_X86 1
#include <immintrin.h>
#endif

// 1 when this CPU runs AVX-512F code, else 0.
int axon_cpu_avx512(void);
// 1 when this CPU runs AVX2 code, else 0.
int axon_cpu_avx2(void);
// 1 when this CPU runs AVX2 with FMA, else 0.
int axon_cpu_avx2_fma(void);

#if AXON_X86
// A row of n <= 32 floats as two 16-lane halves: the lanes of each half that lie in the row.
__attribute__((target("avx512f")))
static inline void axon_row_masks(long n, __mmask16 *m0, __mmask16 *m1) {
    *m0 = n >= 16 ? 0xFFFF : (__mmask16)((1u << n) - 1);
    *m1 = n >= 32 ? 0xFFFF : n <= 16 ? 0 : (__mmask16)((1u << (n - 16)) - 1);
}
#endif

#endif
