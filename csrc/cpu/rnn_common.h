// Pieces shared by the recurrent drivers (rnn.cpp, gru.cpp): the recurrent GEMMs in the orientation that lets
// the GEMM read U in place, the parallel split of a pointwise pass, fixed-order column sums.
#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

#include "../common/parallel.h"
#include "gemm.h"

#ifdef _OPENMP
#include <omp.h>
#endif

namespace ember {
namespace rnn_detail {

// Below this many (b, unit) cells a step's pass runs inline: a parallel region would cost more.
constexpr int64_t kParallelCells = 2048;

// Runs pass(b0, b1, j0, j1) over the (B, H) cells of one step: rows split among the threads when there are
// enough of them, else units in multiples of 16 (whole vectors). Cells are independent, so any split gives
// the same results.
template <class F>
void for_cells(int64_t B, int64_t H, F&& pass) {
    const int nt = B * H >= kParallelCells ? get_num_threads() : 1;
    if (nt <= 1) {
        pass(int64_t(0), B, int64_t(0), H);
        return;
    }
#pragma omp parallel num_threads(nt)
    {
#ifdef _OPENMP
        const int64_t i = omp_get_thread_num(), n = omp_get_num_threads();
#else
        const int64_t i = 0, n = 1;
#endif
        int64_t lo, hi;
        if (B >= n) {
            split_range(B, n, i, lo, hi);
            if (lo < hi) pass(lo, hi, int64_t(0), H);
        } else {
            const int64_t vecs = (H + 15) / 16;
            split_range(vecs, n, i, lo, hi);
            lo = std::min(H, lo * 16), hi = std::min(H, hi * 16);
            if (lo < hi) pass(int64_t(0), B, lo, hi);
        }
    }
}

// Row stride for a (rows, n) workspace that gemm_state_by_u / gemm_grad_by_ut write column by column: n
// rounded up to 16, plus 16 when that is a multiple of 256 elements, so that successive rows do not map to the
// same cache sets (a stride of a multiple of 4 KiB made the LSTM step 3x slower).
inline int64_t padded_ld(int64_t n) {
    const int64_t r = (n + 15) / 16 * 16;
    return r % 256 == 0 ? r + 16 : r;
}

// out (B, N) (row stride ldo) = beta * out + h (B, K) @ U, given ut = U^T (N, K) contiguous. Posed as
// out^T = U^T h^T so that the GEMM reads U^T in place (K contiguous) and packs only the small h. It then
// stores out column by column: callers pass beta = 0 and a separate buffer with a padded_ld row stride;
// reading C back (beta = 1) with such strides made the LSTM step 5x slower.
template <typename T>
void gemm_state_by_u(int64_t B, int64_t N, int64_t K, const T* h, int64_t ldh, const T* ut, int64_t ldut, T beta,
                     T* out, int64_t ldo) {
    gemm<T>(N, B, K, T(1), ut, ldut, 1, h, 1, ldh, beta, out, 1, ldo);
}

// out (B, K) = beta * out + dz (B, N) @ U^T for U (K, N) with row stride ldu: out^T = U dz^T, U read in place.
template <typename T>
void gemm_grad_by_ut(int64_t B, int64_t K, int64_t N, const T* dz, int64_t ldz, const T* u, int64_t ldu, T beta,
                     T* out, int64_t ldo) {
    gemm<T>(K, B, N, T(1), u, ldu, 1, dz, 1, ldz, beta, out, 1, ldo);
}

// dst (cols, rows) = src^T for src (rows, cols) with row stride lds.
template <typename T>
void transpose(int64_t rows, int64_t cols, const T* src, int64_t lds, T* dst) {
    constexpr int64_t kb = 32;
    for (int64_t r0 = 0; r0 < rows; r0 += kb)
        for (int64_t c0 = 0; c0 < cols; c0 += kb)
            for (int64_t c = c0; c < std::min(cols, c0 + kb); ++c)
                for (int64_t r = r0; r < std::min(rows, r0 + kb); ++r) dst[c * rows + r] = src[r * lds + c];
}

// dst[j] = sum over rows of src[r, j] (row stride lds), in double, rows in order: the same bits whatever the
// thread count. Parallel over blocks of columns.
template <typename T>
void column_sums(int64_t rows, int64_t cols, const T* src, int64_t lds, T* dst) {
    constexpr int64_t kb = 256;
    const int64_t blocks = (cols + kb - 1) / kb;
    const int nt = rows * cols >= 65536 ? get_num_threads() : 1;
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1)
    for (int64_t blk = 0; blk < blocks; ++blk) {
        const int64_t c0 = blk * kb, c1 = std::min(cols, c0 + kb);
        double acc[kb] = {};
        for (int64_t r = 0; r < rows; ++r) {
            const T* row = src + r * lds;
            for (int64_t c = c0; c < c1; ++c) acc[c - c0] += double(row[c]);
        }
        for (int64_t c = c0; c < c1; ++c) dst[c] = T(acc[c - c0]);
    }
}

// grad_u (K, N) = sum_t h_{t-1}^T dz[t] with h_{-1} = h0: two GEMMs (h0 with step 0, h[0..T-2] with the rest).
template <typename T>
void grad_recurrent_gemm(int64_t steps, int64_t B, int64_t K, int64_t N, const T* h0, const T* h, int64_t ldh,
                         const T* dz, int64_t ldz, T* grad_u, int64_t ldg) {
    if (steps == 0) {
        for (int64_t k = 0; k < K; ++k) std::fill(grad_u + k * ldg, grad_u + k * ldg + N, T(0));
        return;
    }
    gemm<T>(K, N, B, T(1), h0, 1, ldh, dz, ldz, 1, T(0), grad_u, ldg, 1);
    if (steps > 1)
        gemm<T>(K, N, (steps - 1) * B, T(1), h, 1, ldh, dz + B * ldz, ldz, 1, T(1), grad_u, ldg, 1);
}

}  // namespace rnn_detail
}  // namespace ember
