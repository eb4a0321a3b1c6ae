// CUDA column sums, as cpu/column_sums.h: out (N,) = the sums over the rows of a C-contiguous (M, N), in a fixed
// order (chunks of rows from M alone, summed in row order, the chunks added in order). A bias gradient.
#pragma once

#include <cstdint>

#include "exec.h"

namespace ember {
namespace cuda {

template <class X, typename T>
void column_sums(const Ctx& ctx, int64_t m, int64_t n, const T* a, T* out);

}  // namespace cuda
}  // namespace ember
