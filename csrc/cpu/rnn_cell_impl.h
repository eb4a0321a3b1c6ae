// Bodies of the fused recurrent passes (see rnn_cell.h). Included only by rnn_cell_{generic,avx2,avx512}.cpp,
// each of which ends with EMBER_RNN_CELLS(its name); everything here has internal linkage, so each file keeps
// its own copy compiled with its own flags.
//
// Masked rows use selects, never a multiply by the mask: a NaN computed on a masked row (from an input the
// mask hides) must not leak into the state or the gradients as 0 * NaN. Operation order follows the NumPy
// reference (ember.backend.reference.recurrent) where it is cheap to do so.
#pragma once

#include "rnn_cell.h"
#include "vmath.h"

namespace ember {
namespace {

template <typename T>
inline bool keeps(const RnnStep<T>& s, int64_t b) {
    return !s.mask || s.mask[b];
}

template <typename T>
void rnn_forward_pass(const RnnStep<T>& s, int64_t b0, int64_t b1, int64_t j0, int64_t j1) {
    const int64_t H = s.H;
    for (int64_t b = b0; b < b1; ++b) {
        const bool keep = keeps(s, b);
        T* __restrict h = s.h + b * H;
        const T* __restrict hp = s.h_prev + b * H;
        const T* __restrict bias = s.bias;
        if (s.relu) {
            for (int64_t j = j0; j < j1; ++j) {
                const T a = h[j] + bias[j];
                const T y = a <= T(0) ? T(0) : a;  // '<=' so that NaN falls through as NaN
                h[j] = keep ? y : hp[j];
            }
        } else {
            for (int64_t j = j0; j < j1; ++j) {
                const T y = vmath::tanh(h[j] + bias[j]);
                h[j] = keep ? y : hp[j];
            }
        }
    }
}

template <typename T>
void rnn_backward_pass(const RnnStep<T>& s, int64_t b0, int64_t b1, int64_t j0, int64_t j1) {
    const int64_t H = s.H;
    for (int64_t b = b0; b < b1; ++b) {
        const bool keep = keeps(s, b);
        const T* __restrict gh = s.grad_h + b * H;
        const T* __restrict dh = s.dh + b * H;
        const T* __restrict y = s.h + b * H;
        T* __restrict dz = s.dz + b * H;
        T* __restrict dp = s.dh_prev + b * H;
        for (int64_t j = j0; j < j1; ++j) {
            const T g = gh[j] + dh[j];
            const T da = s.relu ? (y[j] > T(0) ? g : T(0)) : g * (T(1) - y[j] * y[j]);
            dz[j] = keep ? da : T(0);
            dp[j] = keep ? T(0) : g;
        }
    }
}

template <typename T>
void lstm_forward_pass(const RnnStep<T>& s, int64_t b0, int64_t b1, int64_t j0, int64_t j1) {
    const int64_t H = s.H;
    for (int64_t b = b0; b < b1; ++b) {
        const bool keep = keeps(s, b);
        T* __restrict g = s.gates + b * 4 * H;
        const T* __restrict bias = s.bias;
        const T* __restrict hp = s.h_prev + b * H;
        const T* __restrict cp = s.c_prev + b * H;
        T* __restrict h = s.h + b * H;
        T* __restrict c = s.c + b * H;
        for (int64_t j = j0; j < j1; ++j) {
            const T i = vmath::sigmoid(g[j] + bias[j]);
            const T f = vmath::sigmoid(g[H + j] + bias[H + j]);
            const T gg = vmath::tanh(g[2 * H + j] + bias[2 * H + j]);
            const T o = vmath::sigmoid(g[3 * H + j] + bias[3 * H + j]);
            g[j] = i;
            g[H + j] = f;
            g[2 * H + j] = gg;
            g[3 * H + j] = o;
            const T cn = f * cp[j] + i * gg;
            const T hn = o * vmath::tanh(cn);
            h[j] = keep ? hn : hp[j];
            c[j] = keep ? cn : cp[j];
        }
    }
}

template <typename T>
void lstm_backward_pass(const RnnStep<T>& s, int64_t b0, int64_t b1, int64_t j0, int64_t j1) {
    const int64_t H = s.H;
    for (int64_t b = b0; b < b1; ++b) {
        const bool keep = keeps(s, b);
        const T* __restrict g = s.gates + b * 4 * H;
        const T* __restrict gh = s.grad_h + b * H;
        const T* __restrict gc = s.grad_c + b * H;
        const T* __restrict dh = s.dh + b * H;
        const T* __restrict ct = s.c + b * H;
        const T* __restrict cp = s.c_prev + b * H;
        T* __restrict dc = s.dc + b * H;
        T* __restrict dz = s.dz + b * 4 * H;
        T* __restrict dp = s.dh_prev + b * H;
        for (int64_t j = j0; j < j1; ++j) {
            const T i = g[j], f = g[H + j], gg = g[2 * H + j], o = g[3 * H + j];
            const T dht = gh[j] + dh[j];
            const T dct = gc[j] + dc[j];
            const T tc = vmath::tanh(ct[j]);
            const T dcc = dct + dht * o * (T(1) - tc * tc);
            const T di = dcc * gg * i * (T(1) - i);
            const T df = dcc * cp[j] * f * (T(1) - f);
            const T dg = dcc * i * (T(1) - gg * gg);
            const T dout = dht * tc * o * (T(1) - o);
            dz[j] = keep ? di : T(0);
            dz[H + j] = keep ? df : T(0);
            dz[2 * H + j] = keep ? dg : T(0);
            dz[3 * H + j] = keep ? dout : T(0);
            dp[j] = keep ? T(0) : dht;
            dc[j] = keep ? dcc * f : dct;
        }
    }
}

template <typename T>
void gru_forward_pass(const RnnStep<T>& s, int64_t b0, int64_t b1, int64_t j0, int64_t j1) {
    const int64_t H = s.H;
    for (int64_t b = b0; b < b1; ++b) {
        const bool keep = keeps(s, b);
        T* __restrict g = s.gates + b * 4 * H;
        const T* __restrict rec = s.rec + b * 3 * H;
        const T* __restrict bi = s.bias;
        const T* __restrict br = s.bias2;
        const T* __restrict hp = s.h_prev + b * H;
        T* __restrict h = s.h + b * H;
        for (int64_t j = j0; j < j1; ++j) {
            const T z = vmath::sigmoid((g[j] + bi[j]) + (rec[j] + br[j]));
            const T r = vmath::sigmoid((g[H + j] + bi[H + j]) + (rec[H + j] + br[H + j]));
            const T q = rec[2 * H + j] + br[2 * H + j];
            const T hh = vmath::tanh((g[2 * H + j] + bi[2 * H + j]) + r * q);
            g[j] = z;
            g[H + j] = r;
            g[2 * H + j] = hh;
            g[3 * H + j] = q;
            const T hn = z * hp[j] + (T(1) - z) * hh;
            h[j] = keep ? hn : hp[j];
        }
    }
}

template <typename T>
void gru_forward_zr_pass(const RnnStep<T>& s, int64_t b0, int64_t b1, int64_t j0, int64_t j1) {
    const int64_t H = s.H;
    for (int64_t b = b0; b < b1; ++b) {
        T* __restrict g = s.gates + b * 4 * H;
        const T* __restrict rec = s.rec + b * 3 * H;
        const T* __restrict bi = s.bias;
        const T* __restrict hp = s.h_prev + b * H;
        T* __restrict rh = s.rh + b * H;
        for (int64_t j = j0; j < j1; ++j) {
            const T z = vmath::sigmoid((g[j] + bi[j]) + rec[j]);
            const T r = vmath::sigmoid((g[H + j] + bi[H + j]) + rec[H + j]);
            g[j] = z;
            g[H + j] = r;
            rh[j] = r * hp[j];
        }
    }
}

template <typename T>
void gru_forward_h_pass(const RnnStep<T>& s, int64_t b0, int64_t b1, int64_t j0, int64_t j1) {
    const int64_t H = s.H;
    for (int64_t b = b0; b < b1; ++b) {
        const bool keep = keeps(s, b);
        T* __restrict g = s.gates + b * 4 * H;
        const T* __restrict bi = s.bias;
        const T* __restrict hp = s.h_prev + b * H;
        T* __restrict h = s.h + b * H;
        for (int64_t j = j0; j < j1; ++j) {
            const T z = g[j];
            const T hh = vmath::tanh((g[2 * H + j] + bi[2 * H + j]) + g[3 * H + j]);
            g[2 * H + j] = hh;
            const T hn = z * hp[j] + (T(1) - z) * hh;
            h[j] = keep ? hn : hp[j];
        }
    }
}

template <typename T>
void gru_backward_pass(const RnnStep<T>& s, int64_t b0, int64_t b1, int64_t j0, int64_t j1) {
    const int64_t H = s.H;
    for (int64_t b = b0; b < b1; ++b) {
        const bool keep = keeps(s, b);
        const T* __restrict g = s.gates + b * 4 * H;
        const T* __restrict gh = s.grad_h + b * H;
        const T* __restrict dh = s.dh + b * H;
        const T* __restrict hp = s.h_prev + b * H;
        T* __restrict dz = s.dz + b * 3 * H;
        T* __restrict dr = s.dz_rec + b * 3 * H;
        T* __restrict dp = s.dh_prev + b * H;
        for (int64_t j = j0; j < j1; ++j) {
            const T z = g[j], r = g[H + j], hh = g[2 * H + j], q = g[3 * H + j];
            const T d = gh[j] + dh[j];
            const T da_h = d * (T(1) - z) * (T(1) - hh * hh);
            const T da_z = d * (hp[j] - hh) * z * (T(1) - z);
            const T da_r = da_h * q * r * (T(1) - r);
            const T dq = da_h * r;
            dz[j] = dr[j] = keep ? da_z : T(0);
            dz[H + j] = dr[H + j] = keep ? da_r : T(0);
            dz[2 * H + j] = keep ? da_h : T(0);
            dr[2 * H + j] = keep ? dq : T(0);
            dp[j] = keep ? d * z : d;
        }
    }
}

template <typename T>
void gru_backward_zh_pass(const RnnStep<T>& s, int64_t b0, int64_t b1, int64_t j0, int64_t j1) {
    const int64_t H = s.H;
    for (int64_t b = b0; b < b1; ++b) {
        const bool keep = keeps(s, b);
        const T* __restrict g = s.gates + b * 4 * H;
        const T* __restrict gh = s.grad_h + b * H;
        const T* __restrict dh = s.dh + b * H;
        const T* __restrict hp = s.h_prev + b * H;
        T* __restrict dz = s.dz + b * 3 * H;
        T* __restrict dp = s.dh_prev + b * H;
        for (int64_t j = j0; j < j1; ++j) {
            const T z = g[j], hh = g[2 * H + j];
            const T d = gh[j] + dh[j];
            const T da_h = d * (T(1) - z) * (T(1) - hh * hh);
            const T da_z = d * (hp[j] - hh) * z * (T(1) - z);
            dz[j] = keep ? da_z : T(0);
            dz[2 * H + j] = keep ? da_h : T(0);
            dp[j] = keep ? d * z : d;
        }
    }
}

template <typename T>
void gru_backward_r_pass(const RnnStep<T>& s, int64_t b0, int64_t b1, int64_t j0, int64_t j1) {
    const int64_t H = s.H;
    for (int64_t b = b0; b < b1; ++b) {
        const bool keep = keeps(s, b);
        const T* __restrict g = s.gates + b * 4 * H;
        const T* __restrict drh = s.drh + b * H;
        const T* __restrict hp = s.h_prev + b * H;
        T* __restrict dz = s.dz + b * 3 * H;
        T* __restrict dp = s.dh_prev + b * H;
        T* __restrict rh = s.rh + b * H;
        for (int64_t j = j0; j < j1; ++j) {
            const T r = g[H + j];
            const T da_r = drh[j] * hp[j] * r * (T(1) - r);
            dz[H + j] = keep ? da_r : T(0);
            dp[j] = keep ? dp[j] + drh[j] * r : dp[j];
            rh[j] = keep ? r * hp[j] : T(0);
        }
    }
}

template <typename T>
RnnCellKernels<T> make_rnn_cells() {
    RnnCellKernels<T> k;
    k.rnn_forward = &rnn_forward_pass<T>;
    k.rnn_backward = &rnn_backward_pass<T>;
    k.lstm_forward = &lstm_forward_pass<T>;
    k.lstm_backward = &lstm_backward_pass<T>;
    k.gru_forward = &gru_forward_pass<T>;
    k.gru_forward_zr = &gru_forward_zr_pass<T>;
    k.gru_forward_h = &gru_forward_h_pass<T>;
    k.gru_backward = &gru_backward_pass<T>;
    k.gru_backward_zh = &gru_backward_zh_pass<T>;
    k.gru_backward_r = &gru_backward_r_pass<T>;
    return k;
}

}  // namespace
}  // namespace ember

#define EMBER_RNN_CELLS(isa)                                                                   \
    namespace ember {                                                                          \
    RnnCellKernels<float> rnn_cells_##isa##_f32() { return make_rnn_cells<float>(); }         \
    RnnCellKernels<double> rnn_cells_##isa##_f64() { return make_rnn_cells<double>(); }       \
    }
