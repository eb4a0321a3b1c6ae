// CUDA dropout masks from a counter-based generator, so that (seed, offset) alone determine a mask, on any GPU and
// in any launch order. Element i of a call is random word q = offset + i: Philox4x32-10 (Salmon et al., SC'11) with
// key (seed & 0xffffffff, seed >> 32) on counter (q / 4 & 0xffffffff, q / 4 >> 32, 0, 0), output word q % 4: u.
// The element is kept when u >= floor(rate * 2^32) and is then 1 / (1 - rate) (computed in double), else 0;
// rate is in [0, 1] (1 keeps nothing).
// Consecutive calls with offset += n therefore continue one stream.
#pragma once

#include <cstdint>

#include "exec.h"

namespace ember {
namespace cuda {

template <class X, typename T>
void dropout_mask(const Ctx& ctx, int64_t n, T* out, double rate, uint64_t seed, uint64_t offset);

}  // namespace cuda
}  // namespace ember
