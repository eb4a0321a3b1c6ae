// Bodies of the float32 activation kernels (see activation_kernels.h). Included only by
// activation_{generic,avx2,avx512}.cpp, each of which ends with EMBER_ACT_KERNELS(its name); everything here
// has internal linkage, so each file keeps its own copy compiled with its own flags.
//
// Every loop is a plain loop over vmath.h's branch-free functions, which the compiler vectorizes. Reductions
// (row max, row sums in double) run in 16 fixed lanes combined in a fixed order: they vectorize without
// reassociation, and the result does not depend on the thread count.
#pragma once

#include <algorithm>
#include <cmath>

#include "activation_kernels.h"
#include "vmath.h"

namespace ember {
namespace {

constexpr int kLanes = 16;

// expm1(x) for x <= 0 or NaN (elu): 2^n (1 + q) - 1 = 2^n q + (2^n - 1) with q = e^r - 1 (vmath::exp_parts).
// For |x| < ln2 / 2, n = 0 and this is q itself (no cancellation near 0); elsewhere 1 - e^x >= 0.29. Only the lower
// bound is clamped (as a max that keeps NaN): with exp_parts' two-sided clamp after elu's min(x, 0), GCC merged the
// selects into compares and four blends per vector.
inline float expm1_f(float x) {
    float scale;
    const float q = vmath::exp_parts_of_clamped(vmath::kExpMin > x ? vmath::kExpMin : x, scale);
    return scale * q + (scale - 1.0f);
}

inline double sum_lanes(const double* acc) {
    double s8[8];
    for (int k = 0; k < 8; ++k) s8[k] = acc[k] + acc[k + 8];
    for (int k = 0; k < 4; ++k) s8[k] += s8[k + 4];
    return (s8[0] + s8[2]) + (s8[1] + s8[3]);
}

// Sum in double of v[0, n), in lanes.
inline double sum_f64(int64_t n, const float* v) {
    double acc[kLanes] = {};
    int64_t j = 0;
    for (; j + kLanes <= n; j += kLanes)
        for (int k = 0; k < kLanes; ++k) acc[k] += double(v[j + k]);
    for (int k = 0; j + k < n; ++k) acc[k] += double(v[j + k]);
    return sum_lanes(acc);
}

// max over the row; like std::max in a loop, a NaN element is skipped (it turns up in the exp instead). In a vector
// type: the loop over 16 scalar lanes stayed scalar (a compare-select per element, most of log_softmax's time).
inline float row_max(int64_t n, const float* x) {
    typedef float Lanes __attribute__((vector_size(kLanes * sizeof(float))));
    typedef float LanesU __attribute__((vector_size(kLanes * sizeof(float)), aligned(sizeof(float)), __may_alias__));
    Lanes acc;
    for (int k = 0; k < kLanes; ++k) acc[k] = -INFINITY;
    int64_t j = 0;
    for (; j + kLanes <= n; j += kLanes) {
        const Lanes v = *reinterpret_cast<const LanesU*>(x + j);
        acc = acc < v ? v : acc;
    }
    float m = -INFINITY;
    for (int k = 0; j + k < n; ++k) m = m < x[j + k] ? x[j + k] : m;
    for (int k = 0; k < kLanes; ++k) m = m < acc[k] ? acc[k] : m;
    return m;
}

void act_relu(int64_t n, const float* x, float* y, float) {  // '<=' so that NaN falls through as NaN
#pragma GCC ivdep
    for (int64_t i = 0; i < n; ++i) y[i] = x[i] <= 0.0f ? 0.0f : x[i];
}

void act_leaky_relu(int64_t n, const float* x, float* y, float a) {
#pragma GCC ivdep
    for (int64_t i = 0; i < n; ++i) y[i] = x[i] * (x[i] > 0.0f ? 1.0f : a);
}

void act_sigmoid(int64_t n, const float* x, float* y, float) {
#pragma GCC ivdep
    for (int64_t i = 0; i < n; ++i) y[i] = vmath::sigmoid_f(x[i]);
}

void act_tanh(int64_t n, const float* x, float* y, float) {
#pragma GCC ivdep
    for (int64_t i = 0; i < n; ++i) y[i] = vmath::tanh_f(x[i]);
}

void act_elu(int64_t n, const float* x, float* y, float a) {
#pragma GCC ivdep
    for (int64_t i = 0; i < n; ++i) {
        const float v = x[i];
        // min(v, 0) in minps' operand order, which keeps a NaN v (expm1 and the product then carry it): one min and
        // one select per vector, where a separate NaN select cost two more (elu was compute-bound, not memory-bound)
        const float neg = a * expm1_f(0.0f < v ? 0.0f : v);
        y[i] = v > 0.0f ? v : neg;
    }
}

void act_relu_backward(int64_t n, const float* x, const float*, const float* gy, float* gx, float) {
#pragma GCC ivdep
    for (int64_t i = 0; i < n; ++i) {
        const float g = gy[i];  // read unconditionally: a load on one side of the select kept GCC from vectorizing
        gx[i] = x[i] <= 0.0f ? 0.0f : g;
    }
}

void act_leaky_relu_backward(int64_t n, const float* x, const float*, const float* gy, float* gx, float a) {
#pragma GCC ivdep
    for (int64_t i = 0; i < n; ++i) gx[i] = gy[i] * (x[i] > 0.0f ? 1.0f : a);
}

void act_sigmoid_backward(int64_t n, const float*, const float* y, const float* gy, float* gx, float) {
#pragma GCC ivdep
    for (int64_t i = 0; i < n; ++i) gx[i] = gy[i] * (y[i] * (1.0f - y[i]));
}

void act_tanh_backward(int64_t n, const float*, const float* y, const float* gy, float* gx, float) {
#pragma GCC ivdep
    for (int64_t i = 0; i < n; ++i) gx[i] = gy[i] * (1.0f - y[i] * y[i]);
}

void act_elu_backward(int64_t n, const float* x, const float*, const float* gy, float* gx, float a) {
#pragma GCC ivdep
    for (int64_t i = 0; i < n; ++i) {
        const float v = x[i];
        // exp_f of min(v, 0) with only its lower clamp (as expm1_f): the same values, fewer selects
        const float m = v < 0.0f ? v : 0.0f;
        float scale;
        const float q = vmath::exp_parts_of_clamped(vmath::kExpMin > m ? vmath::kExpMin : m, scale);
        const float d = a * (m < vmath::kExpMin ? 0.0f : (q + 1.0f) * scale);
        gx[i] = v <= 0.0f ? gy[i] * d : gy[i];
    }
}

void add_repeated(int64_t n, const float* x, const float* pattern, int64_t span, float* y) {
    for (int64_t s = 0; s < n; s += span) {
        const int64_t len = std::min(span, n - s);
#pragma GCC ivdep
        for (int64_t k = 0; k < len; ++k) y[s + k] = x[s + k] + pattern[k];
    }
}

void softmax_row(int64_t cols, const float* x, float* y) {
    const float mx = row_max(cols, x);
#pragma GCC ivdep
    for (int64_t j = 0; j < cols; ++j) y[j] = vmath::exp_f(x[j] - mx);
    const float s = float(sum_f64(cols, y));
#pragma GCC ivdep
    for (int64_t j = 0; j < cols; ++j) y[j] /= s;
}

void softmax_backward_row(int64_t cols, const float* y, const float* gy, float* gx) {
    double acc[kLanes] = {};
    int64_t j = 0;
    for (; j + kLanes <= cols; j += kLanes)
        for (int k = 0; k < kLanes; ++k) acc[k] += double(gy[j + k]) * double(y[j + k]);
    for (int k = 0; j + k < cols; ++k) acc[k] += double(gy[j + k]) * double(y[j + k]);
    const float d = float(sum_lanes(acc));
#pragma GCC ivdep
    for (int64_t i = 0; i < cols; ++i) gx[i] = y[i] * (gy[i] - d);
}

// The exps go through a stack block (y may be x).
void log_softmax_row(int64_t cols, const float* x, float* y) {
    const float mx = row_max(cols, x);
    constexpr int64_t kBlock = 512;
    float e[kBlock];
    double acc[kLanes] = {};
    for (int64_t j0 = 0; j0 < cols; j0 += kBlock) {
        const int64_t m = std::min(kBlock, cols - j0);
        for (int64_t j = 0; j < m; ++j) e[j] = vmath::exp_f(x[j0 + j] - mx);
        int64_t j = 0;
        for (; j + kLanes <= m; j += kLanes)
            for (int k = 0; k < kLanes; ++k) acc[k] += double(e[j + k]);
        for (int k = 0; j + k < m; ++k) acc[k] += double(e[j + k]);
    }
    const float lse = float(std::log(sum_lanes(acc)));
#pragma GCC ivdep
    for (int64_t j = 0; j < cols; ++j) y[j] = (x[j] - mx) - lse;
}

void log_softmax_backward_row(int64_t cols, const float* y, const float* gy, float* gx) {
    const float s = float(sum_f64(cols, gy));
#pragma GCC ivdep
    for (int64_t j = 0; j < cols; ++j) gx[j] = gy[j] - vmath::exp_f(y[j]) * s;
}

}  // namespace
}  // namespace ember

#define EMBER_ACT_KERNELS(NAME)                                                                               \
    namespace ember {                                                                                         \
    ActKernelsF32 act_kernels_##NAME##_f32() {                                                                \
        return ActKernelsF32{{&act_relu, &act_leaky_relu, &act_elu, &act_sigmoid, &act_tanh},                  \
                             {&act_relu_backward, &act_leaky_relu_backward, &act_elu_backward,                 \
                              &act_sigmoid_backward, &act_tanh_backward},                                      \
                             &add_repeated,                                                                       \
                             &softmax_row,                                                                     \
                             &softmax_backward_row,                                                            \
                             &log_softmax_row,                                                                 \
                             &log_softmax_backward_row};                                                       \
    }                                                                                                         \
    }
