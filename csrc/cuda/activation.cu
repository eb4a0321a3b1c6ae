// Activations: one thread per element, the activation a uniform switch. Softmax: one thread per row (three passes
// over it: maximum, sum of exponentials, output), which is what ember's layers need (rows = batch x positions);
// rows far longer than a few thousand columns would want a warp per row.
#include "activation.h"

#include <stdexcept>

#include "activation.cuh"
#include "exec.cuh"

namespace ember {
namespace cuda {

Act parse_act(const std::string& name) {
    if (name == "relu") return Act::relu;
    if (name == "leaky_relu") return Act::leaky_relu;
    if (name == "elu") return Act::elu;
    if (name == "sigmoid") return Act::sigmoid;
    if (name == "tanh") return Act::tanh;
    throw std::invalid_argument("activation: unknown activation '" + name +
                                "'. Expected one of ['relu', 'leaky_relu', 'elu', 'sigmoid', 'tanh'].");
}

namespace {

template <typename T>
struct ActForward {
    Act act;
    const T* x;
    T* y;
    T alpha;
    EMBER_HD void operator()(int64_t i) const { y[i] = activate(act, x[i], alpha); }
};

template <typename T>
struct ActBackward {
    Act act;
    const T *x, *y, *gy;
    T* gx;
    T alpha;
    EMBER_HD void operator()(int64_t i) const {
        const T g = gy[i];
        switch (act) {
            case Act::relu: gx[i] = x[i] <= T(0) ? T(0) : g; break;
            case Act::leaky_relu: gx[i] = g * (x[i] > T(0) ? T(1) : alpha); break;
            // alpha * e^x rather than y + alpha, which cancels for very negative x
            case Act::elu: gx[i] = x[i] <= T(0) ? g * (alpha * exp_(min0(x[i]))) : g; break;
            case Act::sigmoid: gx[i] = g * (y[i] * (T(1) - y[i])); break;
            case Act::tanh: gx[i] = g * (T(1) - y[i] * y[i]); break;
        }
    }
};

// The maximum as std::max(m, v) = (m < v) ? v : m: a NaN is skipped here but reaches every output through exp.
template <typename T>
struct SoftmaxForward {
    int64_t cols;
    const T* x;
    T* y;
    bool log;
    EMBER_HD void operator()(int64_t r) const {
        const T* xr = x + r * cols;
        T* yr = y + r * cols;
        T mx = -INFINITY;
        for (int64_t j = 0; j < cols; ++j) mx = mx < xr[j] ? xr[j] : mx;
        T sum = T(0);
        for (int64_t j = 0; j < cols; ++j) sum += exp_(xr[j] - mx);
        if (log) {
            const T lse = log_(sum);
            for (int64_t j = 0; j < cols; ++j) yr[j] = (xr[j] - mx) - lse;
        } else {
            for (int64_t j = 0; j < cols; ++j) yr[j] = exp_(xr[j] - mx) / sum;
        }
    }
};

//   softmax:      grad_x = y * (g - sum(g * y))
//   log_softmax:  grad_x = g - exp(y) * sum(g)
template <typename T>
struct SoftmaxBackward {
    int64_t cols;
    const T *y, *gy;
    T* gx;
    bool log;
    EMBER_HD void operator()(int64_t r) const {
        const T* yr = y + r * cols;
        const T* gr = gy + r * cols;
        T* out = gx + r * cols;
        T s = T(0);
        for (int64_t j = 0; j < cols; ++j) s += log ? gr[j] : gr[j] * yr[j];
        for (int64_t j = 0; j < cols; ++j) out[j] = log ? gr[j] - exp_(yr[j]) * s : yr[j] * (gr[j] - s);
    }
};

}  // namespace

template <class X, typename T>
void activation_forward(const Ctx& ctx, Act act, int64_t n, const T* x, T* y, T alpha) {
    X{ctx}.for_each(n, ActForward<T>{act, x, y, alpha});
}

template <class X, typename T>
void activation_backward(const Ctx& ctx, Act act, int64_t n, const T* x, const T* y, const T* gy, T* gx, T alpha) {
    X{ctx}.for_each(n, ActBackward<T>{act, x, y, gy, gx, alpha});
}

template <class X, typename T>
void softmax_forward(const Ctx& ctx, int64_t rows, int64_t cols, const T* x, T* y, bool log) {
    X{ctx}.for_each(rows, SoftmaxForward<T>{cols, x, y, log});
}

template <class X, typename T>
void softmax_backward(const Ctx& ctx, int64_t rows, int64_t cols, const T* y, const T* gy, T* gx, bool log) {
    X{ctx}.for_each(rows, SoftmaxBackward<T>{cols, y, gy, gx, log});
}

#define EMBER_CUDA_ACT_INSTANTIATE(X, T)                                                                       \
    template void activation_forward<X, T>(const Ctx&, Act, int64_t, const T*, T*, T);                           \
    template void activation_backward<X, T>(const Ctx&, Act, int64_t, const T*, const T*, const T*, T*, T);      \
    template void softmax_forward<X, T>(const Ctx&, int64_t, int64_t, const T*, T*, bool);                       \
    template void softmax_backward<X, T>(const Ctx&, int64_t, int64_t, const T*, const T*, T*, bool);
EMBER_CUDA_FOR_EXECS(EMBER_CUDA_ACT_INSTANTIATE)

}  // namespace cuda
}  // namespace ember
