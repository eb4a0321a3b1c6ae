// The fused pointwise pass of one recurrent time step: nonlinearities, state update and mask in one sweep
// over (B, H), forward and backward. The GEMMs around it are in rnn.cpp / gru.cpp.
//
// The passes are written once (rnn_cell_impl.h) as plain loops over the units, which the compiler vectorizes
// with vmath.h's exp / sigmoid / tanh; that file is compiled three times (generic, AVX2, AVX-512) and the
// table for the CPU at hand is chosen at run time, as the GEMM's micro-kernels are.
#pragma once

#include <cstdint>

namespace ember {

// Everything one pass may touch, for rows [b0, b1) and units [j0, j1) of one step. Row b of a (B, k * H)
// array starts at b * k * H; gate g of unit j is at column g * H + j. Each pass documents what it reads.
template <typename T>
struct RnnStep {
    int64_t H = 0;
    const uint8_t* mask = nullptr;  // this step's B flags (0: the row keeps its state), or null: none masked
    int relu = 0;                   // SimpleRNN: 1 relu, 0 tanh
    // forward
    const T* bias = nullptr;   // (G * H) never null (zeros when the layer has none); GRU: input bias
    const T* bias2 = nullptr;  // GRU reset_after: recurrent bias (3H)
    T* gates = nullptr;        // (B, G * H): x W in, activations out; GRU (B, 4H) [z, r, hh, q]
    const T* rec = nullptr;    // h_{t-1} U, (B, G * H) (GRU: (B, 3H), of which not reset_after uses 2H)
    int64_t ld_rec = 0;        // row stride of rec (padded: see rnn_common.h's padded_ld)
    const T* h_prev = nullptr;
    const T* c_prev = nullptr;
    T* h = nullptr;            // SimpleRNN: holds x W on entry
    T* c = nullptr;
    T* rh = nullptr;           // GRU (not reset_after): r * h_{t-1}, (B, H); zero on masked rows in backward
    // backward
    const T* grad_h = nullptr;
    const T* grad_c = nullptr;
    const T* dh = nullptr;     // gradient at h_t from step t + 1 that bypassed U (masked rows, z h'...), (B, H)
    const T* dh_rec = nullptr; // gradient at h_t from step t + 1 through U: dz[t + 1] U^T, (B, H)
    int64_t ld_dh_rec = 0;     // row stride of dh_rec (padded)
    T* dc = nullptr;           // LSTM: carried gradient at c_t, replaced by c_{t-1}'s
    T* dh_prev = nullptr;      // gradient at h_{t-1} except the dz U^T part (a GEMM adds that), (B, H)
    T* dz = nullptr;           // gate pre-activation gradients (B, G * H), zero on masked rows
    T* dz_rec = nullptr;       // GRU reset_after: gradient of h_{t-1} U + b_rec, (B, 3H)
    int64_t ld_dz = 0;         // row stride of dz and dz_rec (LSTM, GRU: padded; they are GEMM operands)
    const T* drh = nullptr;    // GRU (not reset_after): gradient at r * h_{t-1}, (B, H)
};

template <typename T>
struct RnnCellKernels {
    using Pass = void (*)(const RnnStep<T>&, int64_t b0, int64_t b1, int64_t j0, int64_t j1);
    Pass rnn_forward, rnn_backward;
    Pass lstm_forward, lstm_backward;
    Pass gru_forward;      // reset_after: gates (x W part), rec, bias, bias2, h_prev -> gates, h
    Pass gru_forward_zr;   // not reset_after, before the q GEMM: gates, rec, bias, h_prev -> z, r, rh
    Pass gru_forward_h;    // not reset_after, after it: gates (q filled), bias, h_prev -> hh, h
    Pass gru_backward;     // reset_after: grad_h, dh, gates, h_prev -> dz, dz_rec, dh_prev
    Pass gru_backward_zh;  // not reset_after, before the drh GEMM: -> dz (z, hh parts), dh_prev
    Pass gru_backward_r;   // not reset_after, after it: drh, gates, h_prev -> dz (r part), dh_prev +=, rh
};

// The table for this CPU ("avx512", "avx2" or "generic", as the GEMM's choice).
template <typename T>
const RnnCellKernels<T>& rnn_cell_kernels();

RnnCellKernels<float> rnn_cells_generic_f32();
RnnCellKernels<double> rnn_cells_generic_f64();
RnnCellKernels<float> rnn_cells_avx2_f32();
RnnCellKernels<double> rnn_cells_avx2_f64();
RnnCellKernels<float> rnn_cells_avx512_f32();
RnnCellKernels<double> rnn_cells_avx512_f64();

}  // namespace ember
