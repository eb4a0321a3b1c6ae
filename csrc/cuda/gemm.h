// CUDA GEMM: C = alpha * A @ B + beta * C for float and double, batched, with every operand addressed by strides
// in elements (a transposed view is swapped strides; a batch stride of 0 broadcasts), as cpu/gemm.h.
// beta == 0 means C is written without being read. C must not overlap A or B. Work is queued on ctx.stream.
#pragma once

#include <cstdint>

#include "exec.h"

namespace ember {
namespace cuda {

// Item p: A at a + p * bs_a (m x k, strides rs_a, cs_a), B at b + p * bs_b, C at c + p * bs_c (row stride ldc,
// unit column stride).
template <class X, typename T>
void gemm_batched(const Ctx& ctx, int64_t batch, int64_t m, int64_t n, int64_t k, T alpha, const T* a, int64_t bs_a,
                  int64_t rs_a, int64_t cs_a, const T* b, int64_t bs_b, int64_t rs_b, int64_t cs_b, T beta, T* c,
                  int64_t bs_c, int64_t ldc);

// The readable reference: one thread per element of C, k in order; C with any strides.
template <class X, typename T>
void gemm_naive(const Ctx& ctx, int64_t m, int64_t n, int64_t k, T alpha, const T* a, int64_t rs_a, int64_t cs_a,
                const T* b, int64_t rs_b, int64_t cs_b, T beta, T* c, int64_t rs_c, int64_t cs_c);

}  // namespace cuda
}  // namespace ember
