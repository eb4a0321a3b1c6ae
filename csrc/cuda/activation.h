// CUDA elementwise activations and last-axis softmax / log_softmax, forward and backward, with cpu/activation.h's
// semantics (the NumPy reference's): NaN propagates through every forward; relu'(0) = 0, leaky_relu'(0) = alpha,
// elu'(0) = alpha; a NaN input passes grad_y through relu and elu and scales it by alpha in leaky_relu.
#pragma once

#include <cstdint>
#include <string>

#include "exec.h"

namespace ember {
namespace cuda {

enum class Act { relu, leaky_relu, elu, sigmoid, tanh };

// Throws std::invalid_argument naming the known activations (the message of ember._C's).
Act parse_act(const std::string& name);

template <class X, typename T>
void activation_forward(const Ctx& ctx, Act act, int64_t n, const T* x, T* y, T alpha);
template <class X, typename T>
void activation_backward(const Ctx& ctx, Act act, int64_t n, const T* x, const T* y, const T* grad_y, T* grad_x,
                         T alpha);

// Over the last axis of C-contiguous (rows, cols); the backwards take the forward's output y.
template <class X, typename T>
void softmax_forward(const Ctx& ctx, int64_t rows, int64_t cols, const T* x, T* y, bool log);
template <class X, typename T>
void softmax_backward(const Ctx& ctx, int64_t rows, int64_t cols, const T* y, const T* grad_y, T* grad_x, bool log);

}  // namespace cuda
}  // namespace ember
