// Activations: one pass over contiguous memory each, parallel in large fixed chunks.
#include "activation.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <type_traits>
#include <vector>

#include "../common/parallel.h"
#include "activation_kernels.h"
#include "column_sums.h"  // strip_span

namespace ember {
namespace {

constexpr int64_t kGrain = 16384;  // elements per parallel chunk; below one chunk, run inline

int threads_for(int64_t work) { return work < 2 * kGrain ? 1 : get_num_threads(); }

// Runs body(begin, end) over [0, n) in chunks, in parallel when worthwhile.
template <class F>
void parallel_chunks(int64_t n, F body) {
    const int64_t chunks = (n + kGrain - 1) / kGrain;
    if (threads_for(n) == 1) {  // no parallel region at all: even a one-thread one costs a microsecond or so
        for (int64_t t = 0; t < chunks; ++t) body(t * kGrain, std::min(n, (t + 1) * kGrain));
        return;
    }
#pragma omp parallel for num_threads(threads_for(n)) schedule(static)
    for (int64_t t = 0; t < chunks; ++t) body(t * kGrain, std::min(n, (t + 1) * kGrain));
}

// float32 sigmoid / tanh / elu and the softmaxes run activation_kernels.h's per-ISA vectorized kernels
// (vmath.h's polynomials: exp <= 1 ulp, sigmoid <= 3 ulp, tanh <= 1 ulp); float64 keeps libm.
template <typename T>
constexpr bool kVec = std::is_same_v<T, float>;

// exp(-|x|) never overflows: 1 / (1 + e^-x) for x >= 0, e^x / (1 + e^x) for x < 0.
template <typename T>
inline T sigmoid(T x) {
    const T e = std::exp(-std::fabs(x));
    return x >= 0 ? T(1) / (T(1) + e) : e / (T(1) + e);
}

}  // namespace

Activation parse_activation(const std::string& name) {
    if (name == "relu") return Activation::relu;
    if (name == "leaky_relu") return Activation::leaky_relu;
    if (name == "elu") return Activation::elu;
    if (name == "sigmoid") return Activation::sigmoid;
    if (name == "tanh") return Activation::tanh;
    throw std::invalid_argument("activation: unknown activation '" + name +
                                "'. Expected one of ['relu', 'leaky_relu', 'elu', 'sigmoid', 'tanh'].");
}

static_assert(int(Activation::relu) == 0 && int(Activation::leaky_relu) == 1 && int(Activation::elu) == 2 &&
                  int(Activation::sigmoid) == 3 && int(Activation::tanh) == 4 && kActivationCount == 5,
              "ActKernelsF32's tables are indexed by Activation");

template <typename T>
void activation_forward(Activation act, int64_t n, const T* x_in, T* y_out, T alpha) {
    if constexpr (kVec<T>) {
        const ActForwardF32 fn = act_kernels_f32().forward[int(act)];
        parallel_chunks(n, [&](int64_t b, int64_t e) { fn(e - b, x_in + b, y_out + b, alpha); });
        return;
    }
    parallel_chunks(n, [&](int64_t b, int64_t e) {
        // Local copies: read through the by-reference capture, every store to y might change them, so GCC
        // reloaded them each element and left the loops scalar.
        const T a = alpha;
        const T* __restrict x = x_in;
        T* __restrict y = y_out;
        switch (act) {
            case Activation::relu:  // '<=' rather than '>' so that NaN falls through as NaN
#pragma omp simd
                for (int64_t i = b; i < e; ++i) y[i] = x[i] <= T(0) ? T(0) : x[i];
                break;
            case Activation::leaky_relu:  // a select of the slope, then one multiply: vectorizes, no branch
#pragma omp simd
                for (int64_t i = b; i < e; ++i) y[i] = x[i] * (x[i] > T(0) ? T(1) : a);
                break;
            case Activation::elu:
                for (int64_t i = b; i < e; ++i) y[i] = x[i] > T(0) ? x[i] : a * std::expm1(std::min(x[i], T(0)));
                break;
            case Activation::sigmoid:
                for (int64_t i = b; i < e; ++i) y[i] = sigmoid(x[i]);
                break;
            case Activation::tanh:
                for (int64_t i = b; i < e; ++i) y[i] = std::tanh(x[i]);
                break;
        }
    });
}

template <typename T>
void activation_backward(Activation act, int64_t n, const T* x_in, const T* y_in, const T* gy_in, T* gx_out,
                         T alpha) {
    if constexpr (kVec<T>) {
        const ActBackwardF32 fn = act_kernels_f32().backward[int(act)];
        parallel_chunks(n, [&](int64_t b, int64_t e) {
            fn(e - b, x_in ? x_in + b : nullptr, y_in ? y_in + b : nullptr, gy_in + b, gx_out + b, alpha);
        });
        return;
    }
    parallel_chunks(n, [&](int64_t b, int64_t e) {
        const T a = alpha;  // local copies, as in activation_forward
        const T* __restrict x = x_in;
        const T* __restrict y = y_in;
        const T* __restrict gy = gy_in;
        T* __restrict gx = gx_out;
        switch (act) {
            case Activation::relu:  // was a branch, mispredicted on random signs: 35x slower than the forward
#pragma omp simd  // gy read unconditionally: a load only on one side of the select kept GCC from vectorizing
                for (int64_t i = b; i < e; ++i) {
                    const T g = gy[i];
                    gx[i] = x[i] <= T(0) ? T(0) : g;
                }
                break;
            case Activation::leaky_relu:
#pragma omp simd
                for (int64_t i = b; i < e; ++i) gx[i] = gy[i] * (x[i] > T(0) ? T(1) : a);
                break;
            case Activation::elu:  // alpha * e^x rather than y + alpha, which cancels for very negative x
                for (int64_t i = b; i < e; ++i)
                    gx[i] = x[i] <= T(0) ? gy[i] * (a * std::exp(std::min(x[i], T(0)))) : gy[i];
                break;
            case Activation::sigmoid:
                for (int64_t i = b; i < e; ++i) gx[i] = gy[i] * (y[i] * (T(1) - y[i]));
                break;
            case Activation::tanh:
                for (int64_t i = b; i < e; ++i) gx[i] = gy[i] * (T(1) - y[i] * y[i]);
                break;
        }
    });
}

// Strips of whole rows that are also whole 16-lane vectors (lcm(cols, 16) elements, one row when rows are wide), so
// adding the bias is a full-width add against a repeated pattern whatever cols is (6 channels: 48-element strips);
// each chunk of strips then goes through the activation while it is in cache.
template <typename T>
void bias_activation_forward(const Activation* act, int64_t rows, int64_t cols, const T* x_in, const T* bias, T* y_out,
                             T alpha) {
    const int64_t n = rows * cols;
    if (n == 0) return;
    const int64_t span = strip_span(cols);
    std::vector<T> pattern(size_t(span), T(0));
    if (bias)
        for (int64_t k = 0; k < span; ++k) pattern[size_t(k)] = bias[k % cols];
    // The activation follows the bias add block by block, each block (16 KiB of float) still in L1: after a whole
    // 64 KiB chunk it reread the sums from L2 (256x1024, 1 thread, Zen 5: relu 56 -> 31 us, bias alone 26).
    const int64_t block = std::max<int64_t>(1, kL1Elements / span) * span;
    const int64_t chunk = std::max<int64_t>(1, kGrain / block) * block, chunks = (n + chunk - 1) / chunk;
#pragma omp parallel for num_threads(threads_for(n)) schedule(static)
    for (int64_t t = 0; t < chunks; ++t) {
        const int64_t chunk_end = std::min(n, (t + 1) * chunk);
        const T* __restrict p = pattern.data();
        for (int64_t b = t * chunk; b < chunk_end; b += block) {
            const int64_t e = std::min(chunk_end, b + block);
            if constexpr (kVec<T>) {
                act_kernels_f32().add_repeated(e - b, x_in + b, p, span, y_out + b);
            } else {
                for (int64_t s = b; s < e; s += span) {
                    const int64_t len = std::min(span, e - s);
                    const T* x = x_in + s;
                    T* y = y_out + s;
#pragma omp simd
                    for (int64_t k = 0; k < len; ++k) y[k] = x[k] + p[k];
                }
            }
            if (act) activation_forward<T>(*act, e - b, y_out + b, y_out + b, alpha);  // inline: one thread's block
        }
    }
}

// Row sums accumulate in double: one rounding per row for float rather than one per element.
template <typename T>
void softmax_forward(int64_t rows, int64_t cols, const T* x, T* y) {
    if constexpr (kVec<T>) {
        const auto fn = act_kernels_f32().softmax_row;
#pragma omp parallel for num_threads(threads_for(rows * cols)) schedule(static)
        for (int64_t r = 0; r < rows; ++r) fn(cols, x + r * cols, y + r * cols);
        return;
    }
#pragma omp parallel for num_threads(threads_for(rows * cols)) schedule(static)
    for (int64_t r = 0; r < rows; ++r) {
        const T* xr = x + r * cols;
        T* yr = y + r * cols;
        T mx = -INFINITY;
        for (int64_t j = 0; j < cols; ++j) mx = std::max(mx, xr[j]);
        double sum = 0;
        for (int64_t j = 0; j < cols; ++j) {
            yr[j] = std::exp(xr[j] - mx);
            sum += yr[j];
        }
        const T s = T(sum);
        for (int64_t j = 0; j < cols; ++j) yr[j] /= s;
    }
}

template <typename T>
void softmax_backward(int64_t rows, int64_t cols, const T* y, const T* gy, T* gx) {
    if constexpr (kVec<T>) {
        const auto fn = act_kernels_f32().softmax_backward_row;
#pragma omp parallel for num_threads(threads_for(rows * cols)) schedule(static)
        for (int64_t r = 0; r < rows; ++r) fn(cols, y + r * cols, gy + r * cols, gx + r * cols);
        return;
    }
#pragma omp parallel for num_threads(threads_for(rows * cols)) schedule(static)
    for (int64_t r = 0; r < rows; ++r) {
        const T* yr = y + r * cols;
        const T* gr = gy + r * cols;
        T* out = gx + r * cols;
        double dot = 0;
        for (int64_t j = 0; j < cols; ++j) dot += double(gr[j]) * double(yr[j]);
        const T d = T(dot);
        for (int64_t j = 0; j < cols; ++j) out[j] = yr[j] * (gr[j] - d);
    }
}

template <typename T>
void log_softmax_forward(int64_t rows, int64_t cols, const T* x, T* y) {
    if constexpr (kVec<T>) {
        const auto fn = act_kernels_f32().log_softmax_row;
#pragma omp parallel for num_threads(threads_for(rows * cols)) schedule(static)
        for (int64_t r = 0; r < rows; ++r) fn(cols, x + r * cols, y + r * cols);
        return;
    }
#pragma omp parallel for num_threads(threads_for(rows * cols)) schedule(static)
    for (int64_t r = 0; r < rows; ++r) {
        const T* xr = x + r * cols;
        T* yr = y + r * cols;
        T mx = -INFINITY;
        for (int64_t j = 0; j < cols; ++j) mx = std::max(mx, xr[j]);
        double sum = 0;
        for (int64_t j = 0; j < cols; ++j) sum += std::exp(xr[j] - mx);
        const T lse = T(std::log(sum));
        for (int64_t j = 0; j < cols; ++j) yr[j] = (xr[j] - mx) - lse;
    }
}

template <typename T>
void log_softmax_backward(int64_t rows, int64_t cols, const T* y, const T* gy, T* gx) {
    if constexpr (kVec<T>) {
        const auto fn = act_kernels_f32().log_softmax_backward_row;
#pragma omp parallel for num_threads(threads_for(rows * cols)) schedule(static)
        for (int64_t r = 0; r < rows; ++r) fn(cols, y + r * cols, gy + r * cols, gx + r * cols);
        return;
    }
#pragma omp parallel for num_threads(threads_for(rows * cols)) schedule(static)
    for (int64_t r = 0; r < rows; ++r) {
        const T* yr = y + r * cols;
        const T* gr = gy + r * cols;
        T* out = gx + r * cols;
        double sum = 0;
        for (int64_t j = 0; j < cols; ++j) sum += gr[j];
        const T s = T(sum);
        for (int64_t j = 0; j < cols; ++j) out[j] = gr[j] - std::exp(yr[j]) * s;
    }
}

#define EMBER_ACT_INSTANTIATE(T)                                                                   \
    template void activation_forward<T>(Activation, int64_t, const T*, T*, T);                     \
    template void activation_backward<T>(Activation, int64_t, const T*, const T*, const T*, T*, T); \
    template void bias_activation_forward<T>(const Activation*, int64_t, int64_t, const T*, const T*, T*, T); \
    template void softmax_forward<T>(int64_t, int64_t, const T*, T*);                              \
    template void softmax_backward<T>(int64_t, int64_t, const T*, const T*, T*);                   \
    template void log_softmax_forward<T>(int64_t, int64_t, const T*, T*);                          \
    template void log_softmax_backward<T>(int64_t, int64_t, const T*, const T*, T*);
EMBER_ACT_INSTANTIATE(float)
EMBER_ACT_INSTANTIATE(double)

}  // namespace ember
