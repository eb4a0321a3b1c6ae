// Optimizer updates fused into one pass per parameter: NumPy spends ~10 calls (and temporaries) per parameter on
// Adam's few lines, which showed in small networks' steps.
#pragma once

#include <cstdint>

namespace ember {

struct AdamStep {
    double beta_1, beta_2, epsilon;
    double lr_t;        // lr / (1 - beta_1^t)
    double bias_2;      // 1 - beta_2^t
};

// m = beta_1 m + (1 - beta_1) g;  v = beta_2 v + (1 - beta_2) g^2;  v_max = max(v_max, v) when v_max is given;
// p -= lr_t * m / (sqrt(v' / bias_2) + epsilon) with v' = v_max or v. The operations and their order are the
// NumPy update's (ember.optimizers.Adam), each rounded to T, so both give the same bits (the kernels are compiled
// with -ffp-contract=off, at the GEMM's vector width: divisions and square roots are correctly rounded at any width).
template <typename T>
void adam_update(int64_t n, T* p, const T* g, T* m, T* v, T* v_max, const AdamStep& s);

// The per-ISA versions (optimizer_impl.h), chosen as the GEMM's (for_gemm_isa): AVX2's 8-wide divisions and square
// roots against the baseline's 4-wide ones: LeNet-5's ten parameters (62K values) 81 -> 54 us on Zen 3.
struct OptimizerKernels {
    void (*adam_f32)(int64_t, float*, const float*, float*, float*, float*, const AdamStep&);
    void (*adam_f64)(int64_t, double*, const double*, double*, double*, double*, const AdamStep&);
};
OptimizerKernels optimizer_generic();
OptimizerKernels optimizer_avx2();
OptimizerKernels optimizer_avx512();

}  // namespace ember
