// GRU drivers (Keras' gates [z, r, hh]; see rnn.h) and their fused step cells, in rnn.cu's conventions.
//
// reset_after (Keras' default, cuDNN's form): the whole recurrent product h' U + b_rec is one product per step and r
// multiplies only its hh part, so one fused kernel does a step. Not reset_after: r must be known before
// (r * h') U_h can be formed, so a step is two kernels (z and r with r * h', then q and the update); backward
// mirrors it (z and hh gradients, then r's from (dz_hh U_h^T)).
#include "rnn.h"

#include "rnn_common.cuh"

namespace ember {
namespace cuda {
namespace {

template <typename T>
EMBER_HD T at(const T* p, int64_t i) {
    return p ? p[i] : T(0);  // a bias the layer does not have reads as zeros
}

// reset_after: rec = h' U (z, r, q parts); bias (input) and bias_rec (recurrent) may be null.
template <typename T>
struct GruForwardCell {
    T* gates;  // this step's (B, 4H): x W in the first 3H columns, [z, r, hh, q] out
    const T *bias, *bias_rec, *h_prev;
    T* h;
    const uint8_t* mask;
    int64_t H;
    EMBER_HD void operator()(int64_t b, int64_t j, const T (&rec)[3]) const {
        T* g = gates + b * 4 * H;
        const T z = sigmoid_((g[j] + at(bias, j)) + (rec[0] + at(bias_rec, j)));
        const T r = sigmoid_((g[H + j] + at(bias, H + j)) + (rec[1] + at(bias_rec, H + j)));
        const T q = rec[2] + at(bias_rec, 2 * H + j);
        const T hh = tanh_((g[2 * H + j] + at(bias, 2 * H + j)) + r * q);
        g[j] = z;
        g[H + j] = r;
        g[2 * H + j] = hh;
        g[3 * H + j] = q;
        const int64_t e = b * H + j;
        h[e] = masked(mask, b) ? h_prev[e] : z * h_prev[e] + (T(1) - z) * hh;
    }
};

// Not reset_after, first kernel of a step: rec = h' U_zr; z and r, and rh = r * h' for the second product.
template <typename T>
struct GruGatesCell {
    T* gates;
    const T *bias, *h_prev;
    T* rh;  // (B, H)
    int64_t H;
    EMBER_HD void operator()(int64_t b, int64_t j, const T (&rec)[2]) const {
        T* g = gates + b * 4 * H;
        const T z = sigmoid_((g[j] + at(bias, j)) + rec[0]);
        const T r = sigmoid_((g[H + j] + at(bias, H + j)) + rec[1]);
        g[j] = z;
        g[H + j] = r;
        const int64_t e = b * H + j;
        rh[e] = r * h_prev[e];
    }
};

// Not reset_after, second kernel: rec = q = (r * h') U_h; the candidate and the update.
template <typename T>
struct GruUpdateCell {
    T* gates;
    const T *bias, *h_prev;
    T* h;
    const uint8_t* mask;
    int64_t H;
    EMBER_HD void operator()(int64_t b, int64_t j, const T (&rec)[1]) const {
        T* g = gates + b * 4 * H;
        const T q = rec[0], z = g[j];
        const T hh = tanh_((g[2 * H + j] + at(bias, 2 * H + j)) + q);
        g[2 * H + j] = hh;
        g[3 * H + j] = q;
        const int64_t e = b * H + j;
        h[e] = masked(mask, b) ? h_prev[e] : z * h_prev[e] + (T(1) - z) * hh;
    }
};

// reset_after backward: rec = dz_rec[t + 1] U^T. dz: gradient of x W + b_in; dz_rec: of h' U + b_rec.
template <typename T>
struct GruBackwardCell {
    const T *grad_h, *gates, *h_prev;
    T *dz, *dz_rec, *carry;
    const uint8_t* mask;
    int64_t H;
    EMBER_HD void operator()(int64_t b, int64_t j, const T (&rec)[1]) const {
        const int64_t e = b * H + j;
        T* dx = dz + b * 3 * H;
        T* dr = dz_rec + b * 3 * H;
        const T d = grad_h[e] + (carry[e] + rec[0]);
        if (masked(mask, b)) {
            carry[e] = d;
            dx[j] = dx[H + j] = dx[2 * H + j] = T(0);
            dr[j] = dr[H + j] = dr[2 * H + j] = T(0);
            return;
        }
        const T* g = gates + b * 4 * H;
        const T z = g[j], r = g[H + j], hh = g[2 * H + j], q = g[3 * H + j];
        const T da_h = d * (T(1) - z) * (T(1) - hh * hh);
        const T da_z = d * (h_prev[e] - hh) * z * (T(1) - z);
        const T da_r = da_h * q * r * (T(1) - r);
        dx[j] = da_z;
        dr[j] = da_z;
        dx[H + j] = da_r;
        dr[H + j] = da_r;
        dx[2 * H + j] = da_h;
        dr[2 * H + j] = da_h * r;
        carry[e] = d * z;
    }
};

// Not reset_after, first backward kernel: rec = dz[t + 1][:, :2H] U_zr^T; the z and hh gradients.
template <typename T>
struct GruZhBackwardCell {
    const T *grad_h, *gates, *h_prev;
    T *dz, *carry;
    const uint8_t* mask;
    int64_t H;
    EMBER_HD void operator()(int64_t b, int64_t j, const T (&rec)[1]) const {
        const int64_t e = b * H + j;
        T* dx = dz + b * 3 * H;
        const T d = grad_h[e] + (carry[e] + rec[0]);
        if (masked(mask, b)) {
            carry[e] = d;
            dx[j] = dx[2 * H + j] = T(0);
            return;
        }
        const T* g = gates + b * 4 * H;
        const T z = g[j], hh = g[2 * H + j];
        dx[2 * H + j] = d * (T(1) - z) * (T(1) - hh * hh);
        dx[j] = d * (h_prev[e] - hh) * z * (T(1) - z);
        carry[e] = d * z;
    }
};

// Not reset_after, second backward kernel: rec = drh = dz[t][:, 2H:] U_h^T, the gradient at r * h'.
template <typename T>
struct GruRBackwardCell {
    const T *gates, *h_prev;
    T *dz, *rh, *carry;  // rh: this step's r * h' for grad U_h (zero on masked rows: r may be NaN there)
    const uint8_t* mask;
    int64_t H;
    EMBER_HD void operator()(int64_t b, int64_t j, const T (&rec)[1]) const {
        const int64_t e = b * H + j;
        T* dx = dz + b * 3 * H;
        if (masked(mask, b)) {
            dx[H + j] = T(0);
            rh[e] = T(0);
            return;
        }
        const T r = gates[b * 4 * H + H + j], hp = h_prev[e], drh = rec[0];
        dx[H + j] = drh * hp * r * (T(1) - r);
        carry[e] = carry[e] + drh * r;
        rh[e] = r * hp;
    }
};

}  // namespace

template <class X, typename T>
void gru_forward(const Ctx& ctx, const RnnDims& d, const T* x, const T* h0, const T* kernel, const T* recurrent,
                 const T* bias, bool reset_after, const uint8_t* mask, T* h, T* gates) {
    const X ex{ctx};
    const int64_t B = d.B, H = d.H, BH = B * H, G = 3 * H, S = 4 * H;
    project<X, T>(ctx, d, G, x, kernel, gates, S);  // x W into the [z, r, hh] columns
    auto rh_buf = ex.template scratch<T>(reset_after ? 0 : size_t(BH));
    for (int64_t t = 0; t < d.T; ++t) {
        const T* hp = t ? h + (t - 1) * BH : h0;
        T* gt = gates + t * B * S;
        const uint8_t* mt = mask ? mask + t * B : nullptr;
        if (reset_after) {
            const GruForwardCell<T> cell{gt, bias, bias ? bias + G : nullptr, hp, h + t * BH, mt, H};
            ex.template gated<T, kStepTM, 3>(rows_of(hp, B, H), gate_columns(recurrent, G, H, 3, 0), cell, B, H, H);
        } else {
            const GruGatesCell<T> gates_cell{gt, bias, hp, rh_buf.get(), H};
            ex.template gated<T, kStepTM, 2>(rows_of(hp, B, H), gate_columns(recurrent, G, H, 2, 0), gates_cell, B,
                                             H, H);
            const GruUpdateCell<T> update{gt, bias, hp, h + t * BH, mt, H};
            ex.template gated<T, kStepTM, 1>(rows_of<T>(rh_buf.get(), B, H),
                                             strided_operand(recurrent + 2 * H, 0, 1, G, H), update, B, H, H);
        }
    }
}

template <class X, typename T>
void gru_backward(const Ctx& ctx, const RnnDims& d, const T* grad_h, const T* x, const T* h0, const T* kernel,
                  const T* recurrent, bool reset_after, const uint8_t* mask, const T* h, const T* gates, T* grad_x,
                  T* grad_h0, T* grad_kernel, T* grad_recurrent, T* grad_bias) {
    const X ex{ctx};
    const int64_t B = d.B, H = d.H, BH = B * H, G = 3 * H, S = 4 * H;
    auto dz_buf = ex.template scratch<T>(size_t(d.T * B * G));
    // reset_after: dz_rec, the gradient of h' U + b_rec per step; not: r * h' per step (for grad U_h).
    auto aux_buf = ex.template scratch<T>(size_t(reset_after ? d.T * B * G : d.T * BH));
    T* dz = dz_buf.get();
    T* aux = aux_buf.get();
    ex.zero(grad_h0, BH);  // the carried gradient at h, ending as grad_h0 (less its recurrent part)
    for (int64_t t = d.T - 1; t >= 0; --t) {
        const bool last = t == d.T - 1;
        const T* hp = t ? h + (t - 1) * BH : h0;
        const T* gt = gates + t * B * S;
        T* dzt = dz + t * B * G;
        const uint8_t* mt = mask ? mask + t * B : nullptr;
        if (reset_after) {
            const GruBackwardCell<T> cell{grad_h + t * BH, gt, hp, dzt, aux + t * B * G, grad_h0, mt, H};
            ex.template gated<T, kStepTM, 1>(rows_of(last ? aux : aux + (t + 1) * B * G, B, G),
                                             transposed(recurrent, G, 0, H), cell, B, H, last ? 0 : G);
        } else {
            const GruZhBackwardCell<T> zh{grad_h + t * BH, gt, hp, dzt, grad_h0, mt, H};
            ex.template gated<T, kStepTM, 1>(rows_of(last ? dz : dzt + B * G, B, G), transposed(recurrent, G, 0, H),
                                             zh, B, H, last ? 0 : 2 * H);
            const GruRBackwardCell<T> r{gt, hp, dzt, aux + t * BH, grad_h0, mt, H};
            ex.template gated<T, kStepTM, 1>(rows_of(dzt + 2 * H, B, G), transposed(recurrent, G, 2 * H, H), r, B, H,
                                             H);
        }
    }
    if (reset_after) {
        if (d.T > 0) add_recurrent_grad<X, T>(ctx, d, aux, G, recurrent, G, 0, G, grad_h0);
        rnn_weight_grads<X, T>(ctx, {d.T, B, x, d.I, nullptr, nullptr, 0, true, mask, dz, G, G, grad_kernel, nullptr,
                                     grad_bias, G, 0});
        rnn_weight_grads<X, T>(ctx, {d.T, B, nullptr, 0, h0, h, H, true, mask, aux, G, G, nullptr, grad_recurrent,
                                     grad_bias + G, G, 0});
    } else {
        if (d.T > 0) add_recurrent_grad<X, T>(ctx, d, dz, G, recurrent, G, 0, 2 * H, grad_h0);
        rnn_weight_grads<X, T>(ctx, {d.T, B, x, d.I, nullptr, nullptr, 0, true, mask, dz, G, G, grad_kernel, nullptr,
                                     grad_bias, G, 0});
        rnn_weight_grads<X, T>(ctx, {d.T, B, nullptr, 0, h0, h, H, false, mask, dz, G, 2 * H, nullptr,
                                     grad_recurrent, nullptr, G, 0});
        rnn_weight_grads<X, T>(ctx, {d.T, B, aux, H, nullptr, nullptr, 0, false, mask, dz + 2 * H, G, H,
                                     grad_recurrent, nullptr, nullptr, G, 2 * H});
    }
    input_grads<X, T>(ctx, d, G, dz, kernel, grad_x);
}

#define EMBER_CUDA_GRU_INSTANTIATE(X, T)                                                                         \
    template void gru_forward<X, T>(const Ctx&, const RnnDims&, const T*, const T*, const T*, const T*, const T*, \
                                    bool, const uint8_t*, T*, T*);                                                \
    template void gru_backward<X, T>(const Ctx&, const RnnDims&, const T*, const T*, const T*, const T*,          \
                                     const T*, bool, const uint8_t*, const T*, const T*, T*, T*, T*, T*, T*);
EMBER_CUDA_FOR_EXECS(EMBER_CUDA_GRU_INSTANTIATE)

}  // namespace cuda
}  // namespace ember
