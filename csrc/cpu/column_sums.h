// Column sums of a row-major (rows, cols) matrix: a bias gradient, summed over batch and pixels.
#pragma once

#include <cstdint>
#include <numeric>

namespace ember {

// Elements per strip for row-wise work on a row-major (rows, cols) matrix: lcm(cols, 16), a whole number of rows
// that is also a whole number of 16-lane vectors, so a per-column pattern repeats per strip and the inner loop is
// full-width whatever cols is (6 columns: 48); one row when rows are wide (256+), which vectorize as they are.
inline int64_t strip_span(int64_t cols) { return cols >= 256 ? cols : cols / std::gcd(cols, int64_t(16)) * 16; }

// Elements a fused row-wise pass produces and consumes while they stay in L1 (16 KiB of float): bias_activation's
// add-then-activate and the bias backward's activate-then-sum.
constexpr int64_t kL1Elements = 4096;

// out[c] = sum over r of a[r * cols + c], in a fixed order whatever the thread count.
template <typename T>
void column_sums(int64_t rows, int64_t cols, const T* a, T* out);

enum class Activation;

// A fused layer's backward to its pre-activation and bias: grad_x (rows, cols) = act'(y) * grad_y (act null: a copy of
// grad_y), with y the forward's output standing for its input (exact for relu, leaky_relu, sigmoid and tanh), and
// grad_bias = column_sums(grad_x), summed a few strips at a time while they are in L1 rather than reread from memory.
// The same sums in the same order as column_sums of grad_x.
template <typename T>
void bias_activation_backward(const Activation* act, int64_t rows, int64_t cols, const T* y, const T* grad_y,
                              T* grad_x, T* grad_bias, T alpha);

}  // namespace ember
