// float32 activation and softmax kernels built on vmath.h's exp / sigmoid / tanh, compiled once per ISA
// (activation_{generic,avx2,avx512}.cpp from activation_impl.h) and chosen at run time with the GEMM's kernel,
// as the recurrent cells are. float64 stays in activation.cpp on libm.
#pragma once

#include <cstdint>

namespace ember {

// Indexed by Activation (activation.h): relu, leaky_relu, elu, sigmoid, tanh.
constexpr int kActivationCount = 5;
using ActForwardF32 = void (*)(int64_t n, const float* x, float* y, float alpha);
// gx from the forward's input x or its output y, whichever the activation's derivative is cheaper from.
using ActBackwardF32 = void (*)(int64_t n, const float* x, const float* y, const float* gy, float* gx, float alpha);

struct ActKernelsF32 {
    // elementwise over [0, n); y may be x, gx may be gy
    ActForwardF32 forward[kActivationCount];
    ActBackwardF32 backward[kActivationCount];
    // y = x + the pattern repeated: y[i] = x[i] + pattern[i % span]
    void (*add_repeated)(int64_t n, const float* x, const float* pattern, int64_t span, float* y);
    // one row of cols
    void (*softmax_row)(int64_t cols, const float* x, float* y);
    void (*softmax_backward_row)(int64_t cols, const float* y, const float* gy, float* gx);
    void (*log_softmax_row)(int64_t cols, const float* x, float* y);
    void (*log_softmax_backward_row)(int64_t cols, const float* y, const float* gy, float* gx);
};

// The table for this CPU ("avx512", "avx2" or "generic", as the GEMM's choice).
const ActKernelsF32& act_kernels_f32();

ActKernelsF32 act_kernels_generic_f32();
ActKernelsF32 act_kernels_avx2_f32();
ActKernelsF32 act_kernels_avx512_f32();

}  // namespace ember
