// Recurrent sequence kernels: SimpleRNN, LSTM, GRU, forward and backward through time, float and double.
// Semantics are ember.backend's (see its docstring) and the NumPy reference's (backend/reference/recurrent.py):
// time-major x (T, B, I), states (B, H), outputs (T, B, H), Keras gate order, mask (T, B) or null.
//
// Forward: the input projection of every step as one GEMM (T*B x I @ I x G*H); U packed once into panels
// (rnn_common.h: PackedGates; SimpleRNN/LSTM: each thread packs its own panels on entering the region); then
// one parallel region for the whole sequence in which each thread owns a block of units of every gate: per
// step it multiplies h_{t-1} by its panels of U and runs the fused pointwise pass (rnn_cell.h) on its units,
// then waits at one barrier. Backward likewise with U^T packed once: per step the fused pass giving the gate
// gradients dz[t], a barrier, dz[t] U^T for the thread's units; then the SimpleRNN/LSTM weight gradients
// (kernel, recurrent kernel, bias) as ONE GEMM over all steps, [x_t | h_{t-1} | 1]^T dz (rnn_common.h:
// grad_weights_gemm), and grad_x as another (GRU: one GEMM each, grad_bias as column sums in a fixed order).
// Workspaces are per-thread, reused across calls; nothing is allocated in the time loop. Results do not
// depend on the thread count. Pointers are C-contiguous; callers check shapes (rnn_shapes.h).
#pragma once

#include <cstdint>

namespace ember {

struct RnnDims {
    int64_t T, B, I, H;
};

template <typename T>
void simple_rnn_forward(const RnnDims& d, const T* x, const T* h0, const T* kernel, const T* recurrent,
                        const T* bias, bool relu, const uint8_t* mask, T* h);
template <typename T>
void simple_rnn_backward(const RnnDims& d, const T* grad_h, const T* x, const T* h0, const T* kernel,
                         const T* recurrent, bool relu, const uint8_t* mask, const T* h, T* grad_x, T* grad_h0,
                         T* grad_kernel, T* grad_recurrent, T* grad_bias);

// gates (T, B, 4H): i, f, g, o after their nonlinearities. gates null: inference, nothing kept for a backward
// pass, c (B, H) receives the final cell state only.
template <typename T>
void lstm_forward(const RnnDims& d, const T* x, const T* h0, const T* c0, const T* kernel, const T* recurrent,
                  const T* bias, const uint8_t* mask, T* h, T* c, T* gates);
template <typename T>
void lstm_backward(const RnnDims& d, const T* grad_h, const T* grad_c, const T* x, const T* h0, const T* c0,
                   const T* kernel, const T* recurrent, const uint8_t* mask, const T* h, const T* c,
                   const T* gates, T* grad_x, T* grad_h0, T* grad_c0, T* grad_kernel, T* grad_recurrent,
                   T* grad_bias);

// bias: (2, 3H) when reset_after, else (3H,), or null. gates (T, B, 4H): z, r, hh, q.
// grad_bias has bias' shape for reset_after (6H or 3H values) even when bias is null.
template <typename T>
void gru_forward(const RnnDims& d, const T* x, const T* h0, const T* kernel, const T* recurrent, const T* bias,
                 bool reset_after, const uint8_t* mask, T* h, T* gates);
template <typename T>
void gru_backward(const RnnDims& d, const T* grad_h, const T* x, const T* h0, const T* kernel, const T* recurrent,
                  bool reset_after, const uint8_t* mask, const T* h, const T* gates, T* grad_x, T* grad_h0,
                  T* grad_kernel, T* grad_recurrent, T* grad_bias);

}  // namespace ember
