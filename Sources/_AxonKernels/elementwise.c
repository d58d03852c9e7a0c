// Branch-free float32 loops for the hottest elementwise steps of training, where a branch per element
// would be mispredicted about half the time (ReLU's sign pattern, max pooling's winners). Written in C so
// that the compiler turns the selects into vector blends or conditional moves.
#include "AxonKernels.h"

void axon_relu_f32(const float *x, float *out, long n) {
    for (long i = 0; i < n; i++) {
        const float v = x[i];
        out[i] = v > 0 ? v : 0.0f;
    }
}

void axon_relu_backward_f32(const float *g, const float *y, float *out, long n) {
    // Both loads unconditional, so the select needs no branch (a conditional load would).
    for (long i = 0; i < n; i++) {
        const float gv = g[i], yv = y[i];
        out[i] = yv > 0 ? gv : 0.0f;
    }
}

// 2x2 windows with stride 2 over planes [first_plane, end_plane) of height x width (outputs oh x ow per plane). Ties
// and NaN as the general path: the first maximum wins, and a NaN wins wherever it appears (first NaN).
void axon_maxpool2x2_f32(const float *x, long first_plane, long end_plane, long height, long width, long oh, long ow,
                         float *out, long *indices) {
    for (long p = first_plane; p < end_plane; p++) {
        const long base = p * height * width;
        for (long i = 0; i < oh; i++) {
            const long r0 = base + 2 * i * width, r1 = r0 + width;
            float *o = out + (p * oh + i) * ow;
            long *ix = indices ? indices + (p * oh + i) * ow : 0;
            for (long j = 0; j < ow; j++) {
                const long a0 = r0 + 2 * j, a1 = a0 + 1, a2 = r1 + 2 * j, a3 = a2 + 1;
                float best = x[a0];
                long at = a0;
                float v = x[a1];
                int take = !(v <= best) && best == best;
                best = take ? v : best; at = take ? a1 : at;
                v = x[a2];
                take = !(v <= best) && best == best;
                best = take ? v : best; at = take ? a2 : at;
                v = x[a3];
                take = !(v <= best) && best == best;
                best = take ? v : best; at = take ? a3 : at;
                o[j] = best;
                if (ix) ix[j] = at;
            }
        }
    }
}
