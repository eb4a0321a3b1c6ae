// CUDA batch-norm statistics: per channel of x (M, C), the mean and the biased variance, in a fixed reduction order
// (so the same on every run and every GPU): Welford over fixed chunks of rows, the chunks merged in order (Chan et
// al.), float32 accumulating in float32, float64 in float64. M == 0 gives NaN (NumPy's mean of nothing).
#pragma once

#include <cstdint>

#include "exec.h"

namespace ember {
namespace cuda {

template <class X, typename T>
void batch_norm_statistics(const Ctx& ctx, int64_t M, int64_t C, const T* x, T* mean, T* var);

}  // namespace cuda
}  // namespace ember
