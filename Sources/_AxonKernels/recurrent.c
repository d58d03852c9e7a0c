// The elementwise part of an LSTM step, forward and backward, for one sequence. The float32 operations are those of
// the Swift rules (AxonNN's lstmStepForward and lstmGateGradients), in their order and without contraction into FMAs,
// so every path (AVX-512, AVX2, portable) gives their bits.
#include "AxonKernels.h"

#include "cpu.h"

#pragma STDC FP_CONTRACT OFF

void axon_lstm_cell_forward_f32(long h, float *gates, const float *c_prev, float *c_next, float *tanh_c, float *h_next) {
    axon_sigmoid_f32(gates, gates, 2 * h);
    axon_tanh_f32(gates + 2 * h, gates + 2 * h, h);
    axon_sigmoid_f32(gates + 3 * h, gates + 3 * h, h);
    const float *i = gates, *f = gates + h, *g = gates + 2 * h, *o = gates + 3 * h;
    for (long j = 0; j < h; j++) c_next[j] = f[j] * c_prev[j] + i[j] * g[j];
    axon_tanh_f32(c_next, tanh_c, h);
    for (long j = 0; j < h; j++) h_next[j] = o[j] * tanh_c[j];
}

// Backward, for one sequence whose state changed at the step.

// Units [from, h) of the row.
static void lstm_cell_backward_portable(long from, long h, const float *gates, const float *tanh_c, const float *c_prev,
                                        const float *dh_out, const float *dc_out, const float *dh_next,
                                        const float *dc_next, float *dgates, float *dc_prev) {
    for (long j = from; j < h; j++) {
        const float i = gates[j], f = gates[h + j], g = gates[2 * h + j], o = gates[3 * h + j], tc = tanh_c[j];
        const float dh = dh_out[j] + dh_next[j], dc_in = dc_out[j] + dc_next[j];
        const float dho = dh * o, tc2 = tc * tc;
        const float dc = dc_in + dho * (1.0f - tc2);
        const float dcg = dc * g, dcc = dc * c_prev[j], dci = dc * i, gg = g * g, dht = dh * tc;
        dgates[j] = dcg * i * (1.0f - i);
        dgates[h + j] = dcc * f * (1.0f - f);
        dgates[2 * h + j] = dci * (1.0f - gg);
        dgates[3 * h + j] = dht * o * (1.0f - o);
        dc_prev[j] = dc * f;
    }
}

#if AXON_X86
// The same rule over V-wide vectors (the operations in the portable loop's order), for AVX-512 and AVX2.
#define LSTM_CELL_STEP(V, load, store, set1, add, sub, mul, at)                                                     \
    do {                                                                                                        \
        const V one = set1(1.0f);                                                                               \
        const V i = load(gates + at), f = load(gates + h + at), g = load(gates + 2 * h + at);                   \
        const V o = load(gates + 3 * h + at), tc = load(tanh_c + at);                                           \
        const V dh = add(load(dh_out + at), load(dh_next + at)), dc_in = add(load(dc_out + at), load(dc_next + at)); \
        const V dc = add(dc_in, mul(mul(dh, o), sub(one, mul(tc, tc))));                                        \
        store(dgates + at, mul(mul(mul(dc, g), i), sub(one, i)));                                               \
        store(dgates + h + at, mul(mul(mul(dc, load(c_prev + at)), f), sub(one, f)));                           \
        store(dgates + 2 * h + at, mul(mul(dc, i), sub(one, mul(g, g))));                                       \
        store(dgates + 3 * h + at, mul(mul(mul(dh, tc), o), sub(one, o)));                                      \
        store(dc_prev + at, mul(dc, f));                                                                        \
    } while (0)

__attribute__((target("avx512f")))
static long lstm_cell_backward_avx512(long h, const float *gates, const float *tanh_c, const float *c_prev, const float *dh_out,
                                      const float *dc_out, const float *dh_next, const float *dc_next, float *dgates,
                                      float *dc_prev) {
    long j = 0;
    for (; j + 16 <= h; j += 16)
        LSTM_CELL_STEP(__m512, _mm512_loadu_ps, _mm512_storeu_ps, _mm512_set1_ps, _mm512_add_ps, _mm512_sub_ps, _mm512_mul_ps, j);
    return j;
}

__attribute__((target("avx2")))
static long lstm_cell_backward_avx2(long h, const float *gates, const float *tanh_c, const float *c_prev, const float *dh_out,
                                    const float *dc_out, const float *dh_next, const float *dc_next, float *dgates,
                                    float *dc_prev) {
    long j = 0;
    for (; j + 8 <= h; j += 8)
        LSTM_CELL_STEP(__m256, _mm256_loadu_ps, _mm256_storeu_ps, _mm256_set1_ps, _mm256_add_ps, _mm256_sub_ps, _mm256_mul_ps, j);
    return j;
}
#endif

void axon_lstm_cell_backward_f32(long h, const float *gates, const float *tanh_c, const float *c_prev, const float *dh_out,
                                 const float *dc_out, const float *dh_next, const float *dc_next, float *dgates, float *dc_prev) {
    long j = 0;
#if AXON_X86
    if (axon_cpu_avx512()) j = lstm_cell_backward_avx512(h, gates, tanh_c, c_prev, dh_out, dc_out, dh_next, dc_next, dgates, dc_prev);
    else if (axon_cpu_avx2()) j = lstm_cell_backward_avx2(h, gates, tanh_c, c_prev, dh_out, dc_out, dh_next, dc_next, dgates, dc_prev);
#endif
    lstm_cell_backward_portable(j, h, gates, tanh_c, c_prev, dh_out, dc_out, dh_next, dc_next, dgates, dc_prev);
}
