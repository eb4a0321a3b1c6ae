// Column sums of a row-major (rows, cols) matrix: a bias gradient, summed over batch and pixels.
#pragma once

#include <cstdint>

namespace ember {

// out[c] = sum over r of a[r * cols + c], in a fixed order whatever the thread count.
template <typename T>
void column_sums(int64_t rows, int64_t cols, const T* a, T* out);

}  // namespace ember
