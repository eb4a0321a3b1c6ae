// The body of the fused Adam update (optimizer.h), included only by optimizer_{generic,avx2,avx512}.cpp, each of
// which ends with EMBER_OPTIMIZER(its name). Those files are compiled with -ffp-contract=off: the update must stay
// the NumPy update's operations, each rounded to T (an FMA would round once for two), so that both give the same
// bits. Each element is independent, so the parallel split changes no result.
#pragma once

#include <cmath>

#include "../common/parallel.h"
#include "optimizer.h"

namespace ember {
namespace {

template <typename T>
void adam_body(int64_t n, T* p, const T* g, T* m, T* v, T* v_max, const AdamStep& s) {
    const T b1 = T(s.beta_1), b2 = T(s.beta_2), c1 = T(1.0 - s.beta_1), c2 = T(1.0 - s.beta_2);
    const T lr_t = T(s.lr_t), bias_2 = T(s.bias_2), eps = T(s.epsilon);
    // Two divisions and a square root an element make it compute-bound well below the copy kernels' threshold:
    // LeNet's 400x120 kernel (48000 values) 0.058 -> 0.034 ms on 2 threads.
    const int threads = n < (int64_t(1) << 15) ? 1 : get_num_threads();
#pragma omp parallel for simd num_threads(threads) schedule(static)
    for (int64_t i = 0; i < n; ++i) {
        const T gi = g[i];
        const T mi = m[i] * b1 + c1 * gi;
        T vi = v[i] * b2 + c2 * (gi * gi);
        v[i] = vi;
        if (v_max) {
            const T old = v_max[i];
            vi = (old > vi) | (old != old) ? old : vi;  // NumPy's maximum: a NaN on either side wins
            v_max[i] = vi;
        }
        m[i] = mi;
        p[i] = p[i] - (lr_t * mi) / (std::sqrt(vi / bias_2) + eps);
    }
}

}  // namespace
}  // namespace ember

#define EMBER_OPTIMIZER(isa)                                                                               \
    namespace ember {                                                                                      \
    OptimizerKernels optimizer_##isa() { return {&adam_body<float>, &adam_body<double>}; }                 \
    }
