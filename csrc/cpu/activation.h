// Elementwise activations and row-wise softmax / log_softmax, forward and backward.
// Semantics follow the NumPy reference (ember.backend.reference.activation / softmax):
// NaN propagates through every forward; relu'(0) = 0, leaky_relu'(0) = alpha, elu'(0) = alpha; a NaN
// input passes grad_y through relu and elu, scales it by alpha in leaky_relu.
#pragma once

#include <cstdint>
#include <string>

namespace ember {

enum class Activation { relu, leaky_relu, elu, sigmoid, tanh };

// Throws std::invalid_argument naming the known activations.
Activation parse_activation(const std::string& name);

template <typename T>
void activation_forward(Activation act, int64_t n, const T* x, T* y, T alpha);

// x, y: the forward's input and output; each rule uses whichever gives the more accurate derivative.
template <typename T>
void activation_backward(Activation act, int64_t n, const T* x, const T* y, const T* grad_y, T* grad_x, T alpha);

// y (rows, cols) = act(x + bias) with bias (cols,) or null (no bias) and act null for the identity: one pass over
// memory, a layer's bias and activation after its GEMM or convolution. y may be x.
template <typename T>
void bias_activation_forward(const Activation* act, int64_t rows, int64_t cols, const T* x, const T* bias, T* y,
                             T alpha);

// Over the last axis of a C-contiguous (rows, cols) array; the backwards take the forward's output y.
template <typename T>
void softmax_forward(int64_t rows, int64_t cols, const T* x, T* y);
template <typename T>
void softmax_backward(int64_t rows, int64_t cols, const T* y, const T* grad_y, T* grad_x);
template <typename T>
void log_softmax_forward(int64_t rows, int64_t cols, const T* x, T* y);
template <typename T>
void log_softmax_backward(int64_t rows, int64_t cols, const T* y, const T* grad_y, T* grad_x);

}  // namespace ember
