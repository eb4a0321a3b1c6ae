// CUDA recurrent sequences: SimpleRNN, LSTM, GRU, forward and backward through time, with cpu/rnn.h's semantics
// (the NumPy reference's, backend/reference/recurrent.py): time-major x (T, B, I), states (B, H), outputs (T, B, H),
// Keras gate order, gates (T, B, 4H) after their nonlinearities ([i, f, g, o]; GRU [z, r, hh, q]), mask (T, B)
// or null. All arrays C-contiguous device memory; outputs overwritten.
//
// Forward: the input projection of every step as one GEMM (T*B x I @ I x G*H), then one fused kernel per time
// step: the recurrent product h_{t-1} U with every gate of a unit in one thread, then the gates, the state update
// and the mask (GRU without reset_after: two, since r must be known before (r * h') U_h). Backward: one fused
// kernel per step from the last: dz[t+1] U^T, then the gate gradients dz[t] and the carried gradients; then the
// weight gradients [W; U; b] as one GEMM over all steps ([x | h_{t-1} | 1]^T dz, masked steps' rows zero) and
// grad_x = dz W^T as another.
#pragma once

#include <cstdint>

#include "exec.h"

namespace ember {
namespace cuda {

struct RnnDims {
    int64_t T, B, I, H;
};

template <class X, typename T>
void simple_rnn_forward(const Ctx& ctx, const RnnDims& d, const T* x, const T* h0, const T* kernel,
                        const T* recurrent, const T* bias, bool relu, const uint8_t* mask, T* h);
template <class X, typename T>
void simple_rnn_backward(const Ctx& ctx, const RnnDims& d, const T* grad_h, const T* x, const T* h0,
                         const T* kernel, const T* recurrent, bool relu, const uint8_t* mask, const T* h, T* grad_x,
                         T* grad_h0, T* grad_kernel, T* grad_recurrent, T* grad_bias);

template <class X, typename T>
void lstm_forward(const Ctx& ctx, const RnnDims& d, const T* x, const T* h0, const T* c0, const T* kernel,
                  const T* recurrent, const T* bias, const uint8_t* mask, T* h, T* c, T* gates);
template <class X, typename T>
void lstm_backward(const Ctx& ctx, const RnnDims& d, const T* grad_h, const T* grad_c, const T* x, const T* h0,
                   const T* c0, const T* kernel, const T* recurrent, const uint8_t* mask, const T* h, const T* c,
                   const T* gates, T* grad_x, T* grad_h0, T* grad_c0, T* grad_kernel, T* grad_recurrent,
                   T* grad_bias);

// bias: (2, 3H) when reset_after, else (3H,), or null; grad_bias has bias' shape for reset_after.
template <class X, typename T>
void gru_forward(const Ctx& ctx, const RnnDims& d, const T* x, const T* h0, const T* kernel, const T* recurrent,
                 const T* bias, bool reset_after, const uint8_t* mask, T* h, T* gates);
template <class X, typename T>
void gru_backward(const Ctx& ctx, const RnnDims& d, const T* grad_h, const T* x, const T* h0, const T* kernel,
                  const T* recurrent, bool reset_after, const uint8_t* mask, const T* h, const T* gates, T* grad_x,
                  T* grad_h0, T* grad_kernel, T* grad_recurrent, T* grad_bias);

}  // namespace cuda
}  // namespace ember
