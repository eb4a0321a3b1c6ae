// Pieces shared by the recurrent drivers (rnn.cu, gru.cu): the operands of a step's recurrent product and the
// weight-gradient product over all steps.
#pragma once

#include <cstdint>

#include "exec.cuh"
#include "gemm.h"
#include "rnn.h"

namespace ember {
namespace cuda {

constexpr int kStepTM = 2;  // a step's tile: 32 batch rows x 16 units (every gate of each)

// B of the forward step product: U (H, ld) read as the columns of gates [first, first + G) of every unit, in
// gate_column order (a tile of 16 G logical columns = 16 units x G gates).
template <typename T>
struct GateColumns {
    const T* u;
    int64_t ld, H;
    int G, first;
    bool k_fast;
    struct Ctx {
        const T* col;  // null past the last unit
    };
    EMBER_HD GateColumns for_batch(int64_t) const { return *this; }
    EMBER_HD Ctx ctx(int64_t n) const {
        const int64_t tile = n / (16 * G), c = n % (16 * G), unit = tile * 16 + c % 16;
        return {unit < H ? u + (first + c / 16) * H + unit : nullptr};
    }
    EMBER_HD T load(const Ctx& c, int64_t k) const { return c.col ? c.col[k * ld] : T(0); }
};

template <typename T>
GateColumns<T> gate_columns(const T* u, int64_t ld, int64_t H, int G, int first) {
    return {u, ld, H, G, first, false};
}

// A (rows, K) row-major with row stride ld: h_{t-1} (forward) or dz[t + 1] (backward).
template <typename T>
StridedOperand<T> rows_of(const T* p, int64_t rows, int64_t ld) {
    return strided_operand(p, 0, ld, 1, rows);
}

// B (k, j) = U[j, off + k]: the transpose of U's columns [off, off + K), for dz U^T.
template <typename T>
StridedOperand<T> transposed(const T* u, int64_t ld, int64_t off, int64_t H) {
    return strided_operand(u + off, 0, ld, 1, H);
}

// The weight gradients of pre-activations z = x W + h_{t-1} U + b (or any subset of the three) as one product over
// all T * B rows k = t * B + b: rows [x_k (I) | h_{k-1} (H, h0 for the first step) | 1] of A^T, times dz (T*B, N)
// (row stride ldz). A masked row of A is zero, so a NaN that the mask hides (padding) does not reach the gradients
// as NaN * 0. Outputs: gw[m * ld_out + col + n] (rows of x), gu[(m - I) * ld_out + col + n] (rows of h),
// gb[col + n] (the ones).
template <typename T>
struct WeightGradArgs {
    int64_t steps, B;
    const T* x;
    int64_t I;
    const T *h0, *h;
    int64_t H;
    bool ones;
    const uint8_t* mask;
    const T* dz;
    int64_t ldz, N;
    T *gw, *gu, *gb;
    int64_t ld_out, col;
};

template <class X, typename T>
void rnn_weight_grads(const Ctx& ctx, const WeightGradArgs<T>& a);

// grad_x (T*B, I) = dz (T*B, G) W^T, W (I, G).
template <class X, typename T>
void input_grads(const Ctx& ctx, const RnnDims& d, int64_t G, const T* dz, const T* kernel, T* grad_x) {
    gemm_batched<X, T>(ctx, 1, d.T * d.B, d.I, G, T(1), dz, 0, G, 1, kernel, 0, 1, G, T(0), grad_x, 0, d.I);
}

// out (T*B, n) with row stride ldc = x (T*B, I) W (I, n): every step's input projection.
template <class X, typename T>
void project(const Ctx& ctx, const RnnDims& d, int64_t n, const T* x, const T* kernel, T* out, int64_t ldc) {
    gemm_batched<X, T>(ctx, 1, d.T * d.B, n, d.I, T(1), x, 0, d.I, 1, kernel, 0, n, 1, T(0), out, 0, ldc);
}

// grad_h0 (B, H) += dz0 (B, K) (row stride ldz) U[:, off : off + K)^T: the recurrent part of h0's gradient.
template <class X, typename T>
void add_recurrent_grad(const Ctx& ctx, const RnnDims& d, const T* dz0, int64_t ldz, const T* u, int64_t ld_u,
                        int64_t off, int64_t K, T* grad_h0) {
    gemm_batched<X, T>(ctx, 1, d.B, d.H, K, T(1), dz0, 0, ldz, 1, u + off, 0, 1, ld_u, T(1), grad_h0, 0, d.H);
}

EMBER_HD bool masked(const uint8_t* mask, int64_t b) { return mask && !mask[b]; }

}  // namespace cuda
}  // namespace ember
