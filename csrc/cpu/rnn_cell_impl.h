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

// A masked row's state stays: h_t = h_{t-1} (its gates are still computed and saved, as the reference does).
template <typename T>
inline void copy_units(const T* __restrict src, T* __restrict dst, int64_t j0, int64_t j1) {
    #pragma GCC ivdep
    for (int64_t j = j0; j < j1; ++j) dst[j] = src[j];
}

template <typename T>
inline void zero_units(T* __restrict dst, int64_t j0, int64_t j1) {
    #pragma GCC ivdep
    for (int64_t j = j0; j < j1; ++j) dst[j] = T(0);
}

// Every loop over units carries `#pragma GCC ivdep`: the gate slices of a row are H apart and [j0, j1) lies in
// [0, H), so no iteration touches another's memory, but GCC 12 cannot prove it from block-scope restrict
// pointers and would otherwise leave these loops scalar.
// Each row is one of two straight loops (kept or masked), never a select on the mask inside the loop: GCC 12
// does not vectorize a loop that mixes such selects with other conditionals.
template <typename T>
void rnn_forward_pass(const RnnStep<T>& s, int64_t b0, int64_t b1, int64_t j0, int64_t j1) {
    const int64_t H = s.H;
    const bool relu = s.relu;  // a local: through `s`, the stores below might alias it
    for (int64_t b = b0; b < b1; ++b) {
        T* __restrict h = s.h + b * H;
        const T* __restrict bias = s.bias;
        const T* __restrict rec = s.rec + b * s.ld_rec;
        if (!keeps(s, b)) {
            copy_units(s.h_prev + b * H, h, j0, j1);
        } else if (relu) {
            #pragma GCC ivdep
            for (int64_t j = j0; j < j1; ++j) {
                const T a = (h[j] + bias[j]) + rec[j];
                h[j] = a <= T(0) ? T(0) : a;  // '<=' so that NaN falls through as NaN
            }
        } else {
            #pragma GCC ivdep
            for (int64_t j = j0; j < j1; ++j) h[j] = vmath::tanh((h[j] + bias[j]) + rec[j]);
        }
    }
}

template <typename T>
void rnn_backward_pass(const RnnStep<T>& s, int64_t b0, int64_t b1, int64_t j0, int64_t j1) {
    const int64_t H = s.H;
    const bool relu = s.relu;
    for (int64_t b = b0; b < b1; ++b) {
        const T* __restrict gh = s.grad_h + b * H;
        const T* __restrict dh = s.dh + b * H;
        const T* __restrict dr = s.dh_rec + b * s.ld_dh_rec;
        const T* __restrict y = s.h + b * H;
        T* __restrict dz = s.dz + b * H;
        T* __restrict dp = s.dh_prev + b * H;
        if (!keeps(s, b)) {
            #pragma GCC ivdep
            for (int64_t j = j0; j < j1; ++j) dp[j] = gh[j] + (dh[j] + dr[j]);
            zero_units(dz, j0, j1);
            continue;
        }
        if (relu) {
            #pragma GCC ivdep
            for (int64_t j = j0; j < j1; ++j) {
                const T g = gh[j] + (dh[j] + dr[j]);
                dz[j] = y[j] > T(0) ? g : T(0);
            }
        } else {
            #pragma GCC ivdep
            for (int64_t j = j0; j < j1; ++j) {
                const T g = gh[j] + (dh[j] + dr[j]);
                dz[j] = g * (T(1) - y[j] * y[j]);
            }
        }
        zero_units(dp, j0, j1);
    }
}

template <typename T>
void lstm_forward_pass(const RnnStep<T>& s, int64_t b0, int64_t b1, int64_t j0, int64_t j1) {
    const int64_t H = s.H;
    for (int64_t b = b0; b < b1; ++b) {
        T* __restrict gi = s.gates + b * 4 * H;  // one pointer per gate: the compiler then knows they are apart
        T* __restrict gf = gi + H;
        T* __restrict gg = gi + 2 * H;
        T* __restrict go = gi + 3 * H;
        const T* __restrict bias = s.bias;
        const T* __restrict ri = s.rec + b * s.ld_rec;
        const T* __restrict rf = ri + H;
        const T* __restrict rg = ri + 2 * H;
        const T* __restrict ro = ri + 3 * H;
        const T* __restrict cp = s.c_prev + b * H;
        T* __restrict h = s.h + b * H;
        T* __restrict c = s.c + b * H;
        #pragma GCC ivdep
        for (int64_t j = j0; j < j1; ++j) {
            const T i = vmath::sigmoid((gi[j] + bias[j]) + ri[j]);
            const T f = vmath::sigmoid((gf[j] + bias[H + j]) + rf[j]);
            const T g = vmath::tanh((gg[j] + bias[2 * H + j]) + rg[j]);
            const T o = vmath::sigmoid((go[j] + bias[3 * H + j]) + ro[j]);
            gi[j] = i;
            gf[j] = f;
            gg[j] = g;
            go[j] = o;
            const T cn = f * cp[j] + i * g;
            c[j] = cn;
            h[j] = o * vmath::tanh(cn);
        }
        if (!keeps(s, b)) {
            copy_units(s.h_prev + b * H, h, j0, j1);
            copy_units(cp, c, j0, j1);
        }
    }
}

template <typename T>
void lstm_backward_pass(const RnnStep<T>& s, int64_t b0, int64_t b1, int64_t j0, int64_t j1) {
    const int64_t H = s.H;
    for (int64_t b = b0; b < b1; ++b) {
        const T* __restrict gi = s.gates + b * 4 * H;
        const T* __restrict gf = gi + H;
        const T* __restrict gg = gi + 2 * H;
        const T* __restrict go = gi + 3 * H;
        const T* __restrict gh = s.grad_h + b * H;
        const T* __restrict gc = s.grad_c + b * H;
        const T* __restrict dh = s.dh + b * H;
        const T* __restrict dr = s.dh_rec + b * s.ld_dh_rec;
        const T* __restrict ct = s.c + b * H;
        const T* __restrict cp = s.c_prev + b * H;
        T* __restrict dc = s.dc + b * H;
        T* __restrict dzi = s.dz + b * s.ld_dz;
        T* __restrict dzf = dzi + H;
        T* __restrict dzg = dzi + 2 * H;
        T* __restrict dzo = dzi + 3 * H;
        T* __restrict dp = s.dh_prev + b * H;
        if (!keeps(s, b)) {  // everything passes to step t - 1; nothing reaches the gates
            #pragma GCC ivdep
            for (int64_t j = j0; j < j1; ++j) {
                dp[j] = gh[j] + (dh[j] + dr[j]);
                dc[j] = gc[j] + dc[j];
            }
            zero_units(dzi, j0, j1);
            zero_units(dzf, j0, j1);
            zero_units(dzg, j0, j1);
            zero_units(dzo, j0, j1);
            continue;
        }
        #pragma GCC ivdep
        for (int64_t j = j0; j < j1; ++j) {
            const T i = gi[j], f = gf[j], g = gg[j], o = go[j];
            const T dht = gh[j] + (dh[j] + dr[j]);
            const T tc = vmath::tanh(ct[j]);
            const T dct = (gc[j] + dc[j]) + dht * o * (T(1) - tc * tc);
            dzi[j] = dct * g * i * (T(1) - i);
            dzf[j] = dct * cp[j] * f * (T(1) - f);
            dzg[j] = dct * i * (T(1) - g * g);
            dzo[j] = dht * tc * o * (T(1) - o);
            dc[j] = dct * f;
        }
        zero_units(dp, j0, j1);
    }
}

template <typename T>
void gru_forward_pass(const RnnStep<T>& s, int64_t b0, int64_t b1, int64_t j0, int64_t j1) {
    const int64_t H = s.H;
    for (int64_t b = b0; b < b1; ++b) {
        T* __restrict gz = s.gates + b * 4 * H;
        T* __restrict gr = gz + H;
        T* __restrict gh = gz + 2 * H;
        T* __restrict gq = gz + 3 * H;
        const T* __restrict rz = s.rec + b * s.ld_rec;
        const T* __restrict rr = rz + H;
        const T* __restrict rq = rz + 2 * H;
        const T* __restrict bi = s.bias;
        const T* __restrict br = s.bias2;
        const T* __restrict hp = s.h_prev + b * H;
        T* __restrict h = s.h + b * H;
        #pragma GCC ivdep
        for (int64_t j = j0; j < j1; ++j) {
            const T z = vmath::sigmoid((gz[j] + bi[j]) + (rz[j] + br[j]));
            const T r = vmath::sigmoid((gr[j] + bi[H + j]) + (rr[j] + br[H + j]));
            const T q = rq[j] + br[2 * H + j];
            const T hh = vmath::tanh((gh[j] + bi[2 * H + j]) + r * q);
            gz[j] = z;
            gr[j] = r;
            gh[j] = hh;
            gq[j] = q;
            h[j] = z * hp[j] + (T(1) - z) * hh;
        }
        if (!keeps(s, b)) copy_units(hp, h, j0, j1);
    }
}

template <typename T>
void gru_forward_zr_pass(const RnnStep<T>& s, int64_t b0, int64_t b1, int64_t j0, int64_t j1) {
    const int64_t H = s.H;
    for (int64_t b = b0; b < b1; ++b) {
        T* __restrict gz = s.gates + b * 4 * H;
        T* __restrict gr = gz + H;
        const T* __restrict rz = s.rec + b * s.ld_rec;
        const T* __restrict rr = rz + H;
        const T* __restrict bi = s.bias;
        const T* __restrict hp = s.h_prev + b * H;
        T* __restrict rh = s.rh + b * H;
        #pragma GCC ivdep
        for (int64_t j = j0; j < j1; ++j) {
            const T z = vmath::sigmoid((gz[j] + bi[j]) + rz[j]);
            const T r = vmath::sigmoid((gr[j] + bi[H + j]) + rr[j]);
            gz[j] = z;
            gr[j] = r;
            rh[j] = r * hp[j];
        }
    }
}

template <typename T>
void gru_forward_h_pass(const RnnStep<T>& s, int64_t b0, int64_t b1, int64_t j0, int64_t j1) {
    const int64_t H = s.H;
    for (int64_t b = b0; b < b1; ++b) {
        const T* __restrict gz = s.gates + b * 4 * H;
        T* __restrict gh = s.gates + b * 4 * H + 2 * H;
        const T* __restrict gq = s.gates + b * 4 * H + 3 * H;
        const T* __restrict bi = s.bias;
        const T* __restrict hp = s.h_prev + b * H;
        T* __restrict h = s.h + b * H;
        #pragma GCC ivdep
        for (int64_t j = j0; j < j1; ++j) {
            const T z = gz[j];
            const T hh = vmath::tanh((gh[j] + bi[2 * H + j]) + gq[j]);
            gh[j] = hh;
            h[j] = z * hp[j] + (T(1) - z) * hh;
        }
        if (!keeps(s, b)) copy_units(hp, h, j0, j1);
    }
}

template <typename T>
void gru_backward_pass(const RnnStep<T>& s, int64_t b0, int64_t b1, int64_t j0, int64_t j1) {
    const int64_t H = s.H;
    for (int64_t b = b0; b < b1; ++b) {
        const T* __restrict gz = s.gates + b * 4 * H;
        const T* __restrict gr = gz + H;
        const T* __restrict gh = gz + 2 * H;
        const T* __restrict gq = gz + 3 * H;
        const T* __restrict grad = s.grad_h + b * H;
        const T* __restrict dh = s.dh + b * H;
        const T* __restrict dr = s.dh_rec + b * s.ld_dh_rec;
        const T* __restrict hp = s.h_prev + b * H;
        T* __restrict dzz = s.dz + b * s.ld_dz;
        T* __restrict dzr = dzz + H;
        T* __restrict dzh = dzz + 2 * H;
        T* __restrict drz = s.dz_rec + b * s.ld_dz;
        T* __restrict drr = drz + H;
        T* __restrict drq = drz + 2 * H;
        T* __restrict dp = s.dh_prev + b * H;
        if (!keeps(s, b)) {
            #pragma GCC ivdep
            for (int64_t j = j0; j < j1; ++j) dp[j] = grad[j] + (dh[j] + dr[j]);
            zero_units(dzz, j0, j1);
            zero_units(dzr, j0, j1);
            zero_units(dzh, j0, j1);
            zero_units(drz, j0, j1);
            zero_units(drr, j0, j1);
            zero_units(drq, j0, j1);
            continue;
        }
        #pragma GCC ivdep
        for (int64_t j = j0; j < j1; ++j) {
            const T z = gz[j], r = gr[j], hh = gh[j], q = gq[j];
            const T d = grad[j] + (dh[j] + dr[j]);
            const T da_h = d * (T(1) - z) * (T(1) - hh * hh);
            const T da_z = d * (hp[j] - hh) * z * (T(1) - z);
            const T da_r = da_h * q * r * (T(1) - r);
            dzz[j] = da_z;
            drz[j] = da_z;
            dzr[j] = da_r;
            drr[j] = da_r;
            dzh[j] = da_h;
            drq[j] = da_h * r;
            dp[j] = d * z;
        }
    }
}

template <typename T>
void gru_backward_zh_pass(const RnnStep<T>& s, int64_t b0, int64_t b1, int64_t j0, int64_t j1) {
    const int64_t H = s.H;
    for (int64_t b = b0; b < b1; ++b) {
        const T* __restrict gz = s.gates + b * 4 * H;
        const T* __restrict gh = gz + 2 * H;
        const T* __restrict grad = s.grad_h + b * H;
        const T* __restrict dh = s.dh + b * H;
        const T* __restrict dr = s.dh_rec + b * s.ld_dh_rec;
        const T* __restrict hp = s.h_prev + b * H;
        T* __restrict dzz = s.dz + b * s.ld_dz;
        T* __restrict dzh = dzz + 2 * H;
        T* __restrict dp = s.dh_prev + b * H;
        if (!keeps(s, b)) {
            #pragma GCC ivdep
            for (int64_t j = j0; j < j1; ++j) dp[j] = grad[j] + (dh[j] + dr[j]);
            zero_units(dzz, j0, j1);
            zero_units(dzh, j0, j1);
            continue;
        }
        #pragma GCC ivdep
        for (int64_t j = j0; j < j1; ++j) {
            const T z = gz[j], hh = gh[j];
            const T d = grad[j] + (dh[j] + dr[j]);
            dzh[j] = d * (T(1) - z) * (T(1) - hh * hh);
            dzz[j] = d * (hp[j] - hh) * z * (T(1) - z);
            dp[j] = d * z;
        }
    }
}

template <typename T>
void gru_backward_r_pass(const RnnStep<T>& s, int64_t b0, int64_t b1, int64_t j0, int64_t j1) {
    const int64_t H = s.H;
    for (int64_t b = b0; b < b1; ++b) {
        const T* __restrict gr = s.gates + b * 4 * H + H;
        const T* __restrict drh = s.drh + b * H;
        const T* __restrict hp = s.h_prev + b * H;
        T* __restrict dzr = s.dz + b * s.ld_dz + H;
        T* __restrict dp = s.dh_prev + b * H;
        T* __restrict rh = s.rh + b * H;
        if (!keeps(s, b)) {  // rh = 0 too: a NaN r of a masked step must not reach grad_recurrent as NaN * 0
            zero_units(dzr, j0, j1);
            zero_units(rh, j0, j1);
            continue;
        }
        #pragma GCC ivdep
        for (int64_t j = j0; j < j1; ++j) {
            const T r = gr[j];
            dzr[j] = drh[j] * hp[j] * r * (T(1) - r);
            dp[j] = dp[j] + drh[j] * r;
            rh[j] = r * hp[j];
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
