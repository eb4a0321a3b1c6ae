// GRU drivers (Keras' gates [z, r, hh]): GEMMs around the fused passes of rnn_cell.h.
//
// reset_after (Keras' default, cuDNN's form): the whole recurrent product q_all = h' U + b_rec is one GEMM per
// step, and r multiplies only its hh part, so one pass follows it. Not reset_after: r must be known before
// (r * h') U_h can be formed, so a step is GEMM (U_zr), pass, GEMM (U_h), pass; backward mirrors it.
#include <algorithm>
#include <vector>

#include "rnn.h"
#include "rnn_cell.h"
#include "rnn_common.h"

namespace ember {

using namespace rnn_detail;

template <typename T>
void gru_forward(const RnnDims& d, const T* x, const T* h0, const T* kernel, const T* recurrent, const T* bias,
                 bool reset_after, const uint8_t* mask, T* h, T* gates) {
    const int64_t B = d.B, H = d.H, G = 3 * H, S = 4 * H;  // S: row length of the saved gates
    const RnnCellKernels<T>& cells = rnn_cell_kernels<T>();
    const PackedGates<T> u(H, 3, H, recurrent, G, 1);
    T* rec = scratch<T>(kWork, size_t(B * padded_ld(G)));
    T* rh = scratch<T>(kRh, reset_after ? 0 : size_t(B * H));
    T* zeros = bias ? nullptr : scratch<T>(kZeros, size_t(2 * G));
    if (zeros) std::fill(zeros, zeros + 2 * G, T(0));
    gemm<T>(d.T * B, G, d.I, T(1), x, d.I, 1, kernel, G, 1, T(0), gates, S, 1);  // x W into [z, r, hh] columns
    RnnStep<T> base;
    base.H = H;
    base.bias = bias ? bias : zeros;
    base.bias2 = bias ? bias + G : zeros + G;  // read only when reset_after
    base.rec = rec;
    base.ld_rec = padded_ld(G);
    base.rh = rh;
    // U is packed above: nothing for the threads to pack (see rnn_common.h for the two splits)
    const StepSplit split = step_split(B, H, u.nr, B * G * H);
    for_step_blocks(split, B, H, u.nr, [](int64_t, int64_t) {}, [&](int64_t b0, int64_t b1, int64_t j0, int64_t j1) {
        RnnStep<T> s = base;
        const int64_t rows = b1 - b0;
        for (int64_t t = 0; t < d.T; ++t) {
            s.h_prev = t ? h + (t - 1) * B * H : h0;
            s.h = h + t * B * H;
            s.gates = gates + t * B * S;
            s.mask = mask ? mask + t * B : nullptr;
            const T* hp = s.h_prev + b0 * H;
            T* rec_rows = rec + b0 * s.ld_rec;
            if (reset_after) {
                for (int64_t g = 0; g < 3; ++g)
                    u.multiply(rows, hp, H, g, j0, j1, rec_rows + g * H + j0, s.ld_rec, 0, H);
                cells.gru_forward(s, b0, b1, j0, j1);
            } else {
                for (int64_t g = 0; g < 2; ++g)
                    u.multiply(rows, hp, H, g, j0, j1, rec_rows + g * H + j0, s.ld_rec, 0, H);
                cells.gru_forward_zr(s, b0, b1, j0, j1);
                if (!split.by_rows) step_barrier();  // by units, (r * h') U_h needs every unit of r * h'
                u.multiply(rows, rh + b0 * H, H, 2, j0, j1, s.gates + b0 * S + 3 * H + j0, S, 0, H);
                cells.gru_forward_h(s, b0, b1, j0, j1);
            }
            if (!split.by_rows) step_barrier();
        }
    });
}

template <typename T>
void gru_backward(const RnnDims& d, const T* grad_h, const T* x, const T* h0, const T* kernel, const T* recurrent,
                  bool reset_after, const uint8_t* mask, const T* h, const T* gates, T* grad_x, T* grad_h0,
                  T* grad_kernel, T* grad_recurrent, T* grad_bias) {
    const int64_t B = d.B, H = d.H, G = 3 * H, S = 4 * H, TB = d.T * d.B;
    const RnnCellKernels<T>& cells = rnn_cell_kernels<T>();
    const PackedGates<T> ut(G, 1, H, recurrent, 1, G);  // U^T
    // dz: gradient of x W + b_in per step; reset_after: dz_rec, of h' U + b_rec; not: rh = r * h' per step
    // (zero on masked rows) and drh, the gradient at r * h' of the current step.
    const int64_t ldz = padded_ld(G);  // padded rows: GEMM operands (see lstm_backward)
    T* dz = scratch<T>(kWork, size_t(TB * ldz));
    T* dz_rec = scratch<T>(kWork2, reset_after ? size_t(TB * ldz) : 0);
    T* rh = scratch<T>(kRh, reset_after ? 0 : size_t(TB * H));
    T* drh = scratch<T>(kDrh, reset_after ? 0 : size_t(B * H));
    const int64_t n_carry = 2 * B * H + B * padded_ld(H);
    T* carry = scratch<T>(kCarry, size_t(n_carry));
    std::fill(carry, carry + n_carry, T(0));
    T* dh_rec = carry + 2 * B * H;
    RnnStep<T> base;
    base.H = H;
    base.dh_rec = dh_rec;  // row stride padded_ld(H)
    base.ld_dh_rec = padded_ld(H);
    base.drh = drh;
    base.ld_dz = ldz;
    const StepSplit split = step_split(B, H, ut.nr, B * G * H);
    for_step_blocks(split, B, H, ut.nr, [](int64_t, int64_t) {}, [&](int64_t b0, int64_t b1, int64_t j0, int64_t j1) {
        RnnStep<T> s = base;
        const int64_t rows = b1 - b0;
        T* dh = carry;
        T* dh_prev = dh + B * H;
        for (int64_t t = d.T - 1; t >= 0; --t) {
            s.grad_h = grad_h + t * B * H;
            s.dh = dh;
            s.dh_prev = dh_prev;
            s.h_prev = t ? h + (t - 1) * B * H : h0;
            s.gates = const_cast<T*>(gates + t * B * S);  // read only in the backward passes
            s.dz = dz + t * B * ldz;
            s.mask = mask ? mask + t * B : nullptr;
            T* dh_rec_rows = dh_rec + b0 * s.ld_dh_rec;
            if (reset_after) {
                s.dz_rec = dz_rec + t * B * ldz;
                cells.gru_backward(s, b0, b1, j0, j1);
                if (!split.by_rows) step_barrier();  // by units, the product needs every thread's dz_rec[t]
                ut.multiply(rows, s.dz_rec + b0 * ldz, ldz, 0, j0, j1, dh_rec_rows + j0, s.ld_dh_rec, 0, G);
            } else {
                s.rh = rh + t * B * H;
                cells.gru_backward_zh(s, b0, b1, j0, j1);
                if (!split.by_rows) step_barrier();
                ut.multiply(rows, s.dz + b0 * ldz + 2 * H, ldz, 0, j0, j1, drh + b0 * H + j0, H, 2 * H, H);
                cells.gru_backward_r(s, b0, b1, j0, j1);
                if (!split.by_rows) step_barrier();
                ut.multiply(rows, s.dz + b0 * ldz, ldz, 0, j0, j1, dh_rec_rows + j0, s.ld_dh_rec, 0, 2 * H);
            }
            std::swap(dh, dh_prev);
        }
    });
    const T* dh = carry + (d.T % 2 ? B * H : 0);
    for (int64_t b = 0; b < B; ++b)
        for (int64_t j = 0; j < H; ++j) grad_h0[b * H + j] = dh[b * H + j] + dh_rec[b * base.ld_dh_rec + j];
    gemm<T>(d.I, G, TB, T(1), x, 1, d.I, dz, ldz, 1, T(0), grad_kernel, G, 1);
    if (reset_after) {
        grad_recurrent_gemm<T>(d.T, B, H, G, h0, h, H, dz_rec, ldz, grad_recurrent, G);
        column_sums<T>(TB, G, dz, ldz, grad_bias);
        column_sums<T>(TB, G, dz_rec, ldz, grad_bias + G);
    } else {
        grad_recurrent_gemm<T>(d.T, B, H, 2 * H, h0, h, H, dz, ldz, grad_recurrent, G);
        gemm<T>(H, H, TB, T(1), rh, 1, H, dz + 2 * H, ldz, 1, T(0), grad_recurrent + 2 * H, G, 1);
        column_sums<T>(TB, G, dz, ldz, grad_bias);
    }
    gemm<T>(TB, d.I, G, T(1), dz, ldz, 1, kernel, 1, G, T(0), grad_x, d.I, 1);
}

#define EMBER_GRU_INSTANTIATE(T)                                                                                  \
    template void gru_forward<T>(const RnnDims&, const T*, const T*, const T*, const T*, const T*, bool,          \
                                 const uint8_t*, T*, T*);                                                         \
    template void gru_backward<T>(const RnnDims&, const T*, const T*, const T*, const T*, const T*, bool,         \
                                  const uint8_t*, const T*, const T*, T*, T*, T*, T*, T*);
EMBER_GRU_INSTANTIATE(float)
EMBER_GRU_INSTANTIATE(double)

}  // namespace ember
