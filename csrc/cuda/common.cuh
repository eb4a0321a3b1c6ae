// Small helpers shared by the kernels: grid sizing for grid-stride loops, math in the reference's forms.
// Everything a kernel body calls is __host__ __device__ (EMBER_HD), so that exec.cuh's HostExec can run the very
// same bodies on the CPU (ember._cuda.emulator, tested on machines without a GPU).
#pragma once

#include <cuda_runtime.h>

#include <cmath>
#include <cstdint>

#define EMBER_HD __host__ __device__ __forceinline__

namespace ember {
namespace cuda {

constexpr int kBlock = 256;  // threads per block of the elementwise and per-window kernels

// Blocks for a grid-stride loop over n items: enough to fill any current GPU, never past the grid limit.
inline unsigned grid_for(int64_t n, int threads = kBlock) {
    const int64_t blocks = (n + threads - 1) / threads;
    return unsigned(blocks < 1 ? 1 : blocks > 65536 ? 65536 : blocks);
}

EMBER_HD int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }
EMBER_HD int64_t max64(int64_t a, int64_t b) { return a < b ? b : a; }
EMBER_HD int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

// Plain IEEE operations (no fast-math intrinsics); fma_ is one rounding, as the CPU's FMA micro-kernels.
EMBER_HD float fma_(float a, float b, float c) { return fmaf(a, b, c); }
EMBER_HD double fma_(double a, double b, double c) { return fma(a, b, c); }
EMBER_HD float exp_(float x) { return expf(x); }
EMBER_HD double exp_(double x) { return exp(x); }
EMBER_HD float expm1_(float x) { return expm1f(x); }
EMBER_HD double expm1_(double x) { return expm1(x); }
EMBER_HD float log_(float x) { return logf(x); }
EMBER_HD double log_(double x) { return log(x); }
EMBER_HD float tanh_(float x) { return tanhf(x); }
EMBER_HD double tanh_(double x) { return tanh(x); }
EMBER_HD float abs_(float x) { return fabsf(x); }
EMBER_HD double abs_(double x) { return fabs(x); }

// std::min(x, 0) as the CPU writes it ((0 < x) ? 0 : x): a NaN x stays NaN (fminf would return 0).
template <typename T>
EMBER_HD T min0(T x) {
    return T(0) < x ? T(0) : x;
}

// exp(-|x|) never overflows: 1 / (1 + e^-x) for x >= 0, e^x / (1 + e^x) for x < 0 (the reference's form).
template <typename T>
EMBER_HD T sigmoid_(T x) {
    const T e = exp_(-abs_(x));
    return x >= T(0) ? T(1) / (T(1) + e) : e / (T(1) + e);
}

}  // namespace cuda
}  // namespace ember
