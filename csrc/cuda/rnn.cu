// SimpleRNN and LSTM drivers (see rnn.h for the plan) and their fused step cells. A cell finishes one (row, unit)
// of a step from the recurrent product `rec` its thread computed; masked rows use selects, never a multiply by the
// mask, so a NaN computed on a masked row does not leak into the state or the gradients as 0 * NaN. Operation order
// follows the CPU passes (cpu/rnn_cell_impl.h). In the backward cells the carried gradient at h (`carry`, which is
// grad_h0's memory) is read and rewritten in place: each element by its own thread only.
#include "rnn.h"

#include "rnn_common.cuh"

namespace ember {
namespace cuda {
namespace {

template <typename T>
struct RnnForwardCell {
    T* h;  // this step's (B, H): x W on entry
    const T *bias, *h_prev;
    const uint8_t* mask;
    int64_t H;
    bool relu;
    EMBER_HD void operator()(int64_t b, int64_t j, const T (&rec)[1]) const {
        const int64_t e = b * H + j;
        if (masked(mask, b)) {
            h[e] = h_prev[e];
            return;
        }
        T a = h[e];
        if (bias) a += bias[j];
        a += rec[0];
        h[e] = relu ? (a <= T(0) ? T(0) : a) : tanh_(a);  // '<=' so that NaN falls through as NaN
    }
};

// rec: the gradient at h_t through U from step t + 1 (dz[t + 1] U^T).
template <typename T>
struct RnnBackwardCell {
    const T *grad_h, *h;  // this step's
    T *dz, *carry;
    const uint8_t* mask;
    int64_t H;
    bool relu;
    EMBER_HD void operator()(int64_t b, int64_t j, const T (&rec)[1]) const {
        const int64_t e = b * H + j;
        const T g = grad_h[e] + (carry[e] + rec[0]);
        if (masked(mask, b)) {  // everything passes to h_{t-1}; nothing reaches the step
            carry[e] = g;
            dz[e] = T(0);
            return;
        }
        const T y = h[e];
        dz[e] = relu ? (y > T(0) ? g : T(0)) : g * (T(1) - y * y);
        carry[e] = T(0);
    }
};

template <typename T>
struct LstmForwardCell {
    T* gates;  // this step's (B, 4H): x W in, [i, f, g, o] out
    const T *bias, *h_prev, *c_prev;
    T *h, *c;
    const uint8_t* mask;
    int64_t H;
    EMBER_HD void operator()(int64_t b, int64_t j, const T (&rec)[4]) const {
        T* z = gates + b * 4 * H;
        T pre[4];
        for (int g = 0; g < 4; ++g) {
            pre[g] = z[g * H + j];
            if (bias) pre[g] += bias[g * H + j];
            pre[g] += rec[g];
        }
        const T i = sigmoid_(pre[0]), f = sigmoid_(pre[1]), g = tanh_(pre[2]), o = sigmoid_(pre[3]);
        z[j] = i;
        z[H + j] = f;
        z[2 * H + j] = g;
        z[3 * H + j] = o;
        const int64_t e = b * H + j;
        if (masked(mask, b)) {  // the gates are still saved, as the reference does
            h[e] = h_prev[e];
            c[e] = c_prev[e];
            return;
        }
        const T cn = f * c_prev[e] + i * g;
        c[e] = cn;
        h[e] = o * tanh_(cn);
    }
};

template <typename T>
struct LstmBackwardCell {
    const T *grad_h, *grad_c, *gates, *c, *c_prev;  // this step's
    T *dz, *carry_h, *carry_c;
    const uint8_t* mask;
    int64_t H;
    EMBER_HD void operator()(int64_t b, int64_t j, const T (&rec)[1]) const {
        const int64_t e = b * H + j;
        T* d = dz + b * 4 * H;
        const T dht = grad_h[e] + (carry_h[e] + rec[0]);
        if (masked(mask, b)) {
            carry_h[e] = dht;
            carry_c[e] = grad_c[e] + carry_c[e];
            d[j] = d[H + j] = d[2 * H + j] = d[3 * H + j] = T(0);
            return;
        }
        const T* z = gates + b * 4 * H;
        const T i = z[j], f = z[H + j], g = z[2 * H + j], o = z[3 * H + j];
        const T tc = tanh_(c[e]);
        const T dct = (grad_c[e] + carry_c[e]) + dht * o * (T(1) - tc * tc);
        d[j] = dct * g * i * (T(1) - i);
        d[H + j] = dct * c_prev[e] * f * (T(1) - f);
        d[2 * H + j] = dct * i * (T(1) - g * g);
        d[3 * H + j] = dht * tc * o * (T(1) - o);
        carry_c[e] = dct * f;
        carry_h[e] = T(0);
    }
};

}  // namespace

template <class X, typename T>
void simple_rnn_forward(const Ctx& ctx, const RnnDims& d, const T* x, const T* h0, const T* kernel,
                        const T* recurrent, const T* bias, bool relu, const uint8_t* mask, T* h) {
    const X ex{ctx};
    const int64_t B = d.B, H = d.H, BH = B * H;
    project<X, T>(ctx, d, H, x, kernel, h, H);
    for (int64_t t = 0; t < d.T; ++t) {
        const T* hp = t ? h + (t - 1) * BH : h0;
        const RnnForwardCell<T> cell{h + t * BH, bias, hp, mask ? mask + t * B : nullptr, H, relu};
        ex.template gated<T, kStepTM, 1>(rows_of(hp, B, H), strided_operand(recurrent, 0, 1, H, H), cell, B, H, H);
    }
}

template <class X, typename T>
void simple_rnn_backward(const Ctx& ctx, const RnnDims& d, const T* grad_h, const T* x, const T* h0,
                         const T* kernel, const T* recurrent, bool relu, const uint8_t* mask, const T* h, T* grad_x,
                         T* grad_h0, T* grad_kernel, T* grad_recurrent, T* grad_bias) {
    const X ex{ctx};
    const int64_t B = d.B, H = d.H, BH = B * H;
    auto dz_buf = ex.template scratch<T>(size_t(d.T * BH));
    T* dz = dz_buf.get();
    ex.zero(grad_h0, BH);  // the carried gradient at h, ending as grad_h0 (less its recurrent part)
    for (int64_t t = d.T - 1; t >= 0; --t) {
        const bool last = t == d.T - 1;
        const RnnBackwardCell<T> cell{grad_h + t * BH, h + t * BH, dz + t * BH, grad_h0,
                                      mask ? mask + t * B : nullptr, H, relu};
        ex.template gated<T, kStepTM, 1>(rows_of(last ? dz : dz + (t + 1) * BH, B, H),
                                         transposed(recurrent, H, 0, H), cell, B, H, last ? 0 : H);
    }
    if (d.T > 0) add_recurrent_grad<X, T>(ctx, d, dz, H, recurrent, H, 0, H, grad_h0);
    rnn_weight_grads<X, T>(ctx, {d.T, B, x, d.I, h0, h, H, true, mask, dz, H, H, grad_kernel, grad_recurrent,
                                 grad_bias, H, 0});
    input_grads<X, T>(ctx, d, H, dz, kernel, grad_x);
}

template <class X, typename T>
void lstm_forward(const Ctx& ctx, const RnnDims& d, const T* x, const T* h0, const T* c0, const T* kernel,
                  const T* recurrent, const T* bias, const uint8_t* mask, T* h, T* c, T* gates) {
    const X ex{ctx};
    const int64_t B = d.B, H = d.H, BH = B * H, G = 4 * H;
    project<X, T>(ctx, d, G, x, kernel, gates, G);
    for (int64_t t = 0; t < d.T; ++t) {
        const T* hp = t ? h + (t - 1) * BH : h0;
        const T* cp = t ? c + (t - 1) * BH : c0;
        const LstmForwardCell<T> cell{gates + t * B * G, bias, hp, cp, h + t * BH, c + t * BH,
                                      mask ? mask + t * B : nullptr, H};
        ex.template gated<T, kStepTM, 4>(rows_of(hp, B, H), gate_columns(recurrent, G, H, 4, 0), cell, B, H, H);
    }
}

template <class X, typename T>
void lstm_backward(const Ctx& ctx, const RnnDims& d, const T* grad_h, const T* grad_c, const T* x, const T* h0,
                   const T* c0, const T* kernel, const T* recurrent, const uint8_t* mask, const T* h, const T* c,
                   const T* gates, T* grad_x, T* grad_h0, T* grad_c0, T* grad_kernel, T* grad_recurrent,
                   T* grad_bias) {
    const X ex{ctx};
    const int64_t B = d.B, H = d.H, BH = B * H, G = 4 * H;
    auto dz_buf = ex.template scratch<T>(size_t(d.T * B * G));
    T* dz = dz_buf.get();
    ex.zero(grad_h0, BH);  // carried gradients at h and c, ending as grad_h0 (less its recurrent part) and grad_c0
    ex.zero(grad_c0, BH);
    for (int64_t t = d.T - 1; t >= 0; --t) {
        const bool last = t == d.T - 1;
        const LstmBackwardCell<T> cell{grad_h + t * BH, grad_c + t * BH, gates + t * B * G, c + t * BH,
                                       t ? c + (t - 1) * BH : c0, dz + t * B * G, grad_h0, grad_c0,
                                       mask ? mask + t * B : nullptr, H};
        ex.template gated<T, kStepTM, 1>(rows_of(last ? dz : dz + (t + 1) * B * G, B, G),
                                         transposed(recurrent, G, 0, H), cell, B, H, last ? 0 : G);
    }
    if (d.T > 0) add_recurrent_grad<X, T>(ctx, d, dz, G, recurrent, G, 0, G, grad_h0);
    rnn_weight_grads<X, T>(ctx, {d.T, B, x, d.I, h0, h, H, true, mask, dz, G, G, grad_kernel, grad_recurrent,
                                 grad_bias, G, 0});
    input_grads<X, T>(ctx, d, G, dz, kernel, grad_x);
}

#define EMBER_CUDA_RNN_INSTANTIATE(X, T)                                                                         \
    template void simple_rnn_forward<X, T>(const Ctx&, const RnnDims&, const T*, const T*, const T*, const T*,    \
                                           const T*, bool, const uint8_t*, T*);                                   \
    template void simple_rnn_backward<X, T>(const Ctx&, const RnnDims&, const T*, const T*, const T*, const T*,   \
                                            const T*, bool, const uint8_t*, const T*, T*, T*, T*, T*, T*);        \
    template void lstm_forward<X, T>(const Ctx&, const RnnDims&, const T*, const T*, const T*, const T*,          \
                                     const T*, const T*, const uint8_t*, T*, T*, T*);                             \
    template void lstm_backward<X, T>(const Ctx&, const RnnDims&, const T*, const T*, const T*, const T*,         \
                                      const T*, const T*, const T*, const uint8_t*, const T*, const T*, const T*, \
                                      T*, T*, T*, T*, T*, T*);
EMBER_CUDA_FOR_EXECS(EMBER_CUDA_RNN_INSTANTIATE)

}  // namespace cuda
}  // namespace ember
