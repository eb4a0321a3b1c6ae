// SimpleRNN and LSTM drivers: GEMMs around the fused passes of rnn_cell.h (see rnn.h for the plan).
#include "rnn.h"

#include <algorithm>
#include <vector>

#include "rnn_cell.h"
#include "rnn_common.h"

namespace ember {

using namespace rnn_detail;

namespace {

template <typename T>
const T* bias_or_zeros(const T* bias, int64_t n) {
    if (bias) return bias;
    T* zeros = scratch<T>(kZeros, size_t(n));
    std::fill(zeros, zeros + n, T(0));
    return zeros;
}

template <typename T>
T* zeroed(ScratchSlot slot, int64_t n) {
    T* p = scratch<T>(slot, size_t(n));
    std::fill(p, p + n, T(0));
    return p;
}

// x W computed step by step, for the thread's rows and units just before the recurrent product, instead of one
// GEMM over all steps up front: the (T, B, 4H) gates are then written once, by the pointwise pass, instead of
// written by the GEMM and read back from memory. With few rows the per-step products are short tiles and the
// weights' panels stream from L3 every step, so small batches keep the one GEMM. A rule on the shape only:
// the two differ in rounding (the up-front GEMM blocks k past 384), never with the thread count.
// Measured A/B in one process (2 threads, Zen 4): LSTM inference at T = 100, B = 32, I = 32, H = 128 3.3 ms
// fused vs 4.3 ms with the up-front GEMM (both split by rows); at B = 4 the two are equal.
constexpr int64_t kFuseMinRows = 16;

inline bool fuse_input_projection(int64_t B) { return B >= kFuseMinRows; }

inline const uint8_t* mask_row(const uint8_t* mask, int64_t t, int64_t B) {
    return mask ? mask + t * B : nullptr;
}

}  // namespace

template <typename T>
void simple_rnn_forward(const RnnDims& d, const T* x, const T* h0, const T* kernel, const T* recurrent,
                        const T* bias, bool relu, const uint8_t* mask, T* h) {
    const int64_t B = d.B, H = d.H;
    const RnnCellKernels<T>& cells = rnn_cell_kernels<T>();
    const PackedGates<T> u(H, 1, H, recurrent, H, 1, false);
    T* rec = scratch<T>(kWork, size_t(B * padded_ld(H)));
    gemm<T>(d.T * B, H, d.I, T(1), x, d.I, 1, kernel, H, 1, T(0), h, H, 1);  // x W for every step
    RnnStep<T> base;
    base.H = H;
    base.relu = relu;
    base.bias = bias_or_zeros(bias, H);
    base.rec = rec;
    base.ld_rec = padded_ld(H);
    for_unit_blocks(H, u.nr, B * H * H, [&](int64_t j0, int64_t j1) {
        u.pack(j0, j1);  // this thread's panels
        RnnStep<T> s = base;
        for (int64_t t = 0; t < d.T; ++t) {
            s.h_prev = t ? h + (t - 1) * B * H : h0;
            s.h = h + t * B * H;
            s.mask = mask_row(mask, t, B);
            u.multiply(B, s.h_prev, H, 0, j0, j1, rec + j0, s.ld_rec, 0, H);
            cells.rnn_forward(s, 0, B, j0, j1);
            step_barrier();
        }
    });
}

template <typename T>
void simple_rnn_backward(const RnnDims& d, const T* grad_h, const T* x, const T* h0, const T* kernel,
                         const T* recurrent, bool relu, const uint8_t* mask, const T* h, T* grad_x, T* grad_h0,
                         T* grad_kernel, T* grad_recurrent, T* grad_bias) {
    const int64_t B = d.B, H = d.H, TB = d.T * d.B;
    const RnnCellKernels<T>& cells = rnn_cell_kernels<T>();
    const PackedGates<T> ut(H, 1, H, recurrent, 1, H, false);  // U^T
    T* dz = scratch<T>(kWork, size_t(TB * H));
    T* carry = zeroed<T>(kCarry, 2 * B * H + B * padded_ld(H));
    T* dh_rec = carry + 2 * B * H;  // row stride padded_ld(H)
    RnnStep<T> base;
    base.H = H;
    base.relu = relu;
    base.dh_rec = dh_rec;
    base.ld_dh_rec = padded_ld(H);
    for_unit_blocks(H, ut.nr, B * H * H, [&](int64_t j0, int64_t j1) {
        ut.pack(j0, j1);  // this thread's panels
        RnnStep<T> s = base;
        T* dh = carry;
        T* dh_prev = dh + B * H;
        for (int64_t t = d.T - 1; t >= 0; --t) {
            s.grad_h = grad_h + t * B * H;
            s.dh = dh;
            s.h = const_cast<T*>(h + t * B * H);  // read only in the backward pass
            s.dz = dz + t * B * H;
            s.dh_prev = dh_prev;
            s.mask = mask_row(mask, t, B);
            cells.rnn_backward(s, 0, B, j0, j1);
            step_barrier();
            ut.multiply(B, s.dz, H, 0, j0, j1, dh_rec + j0, s.ld_dh_rec, 0, H);
            std::swap(dh, dh_prev);
        }
    });
    const T* dh = carry + (d.T % 2 ? B * H : 0);
    for (int64_t b = 0; b < B; ++b)
        for (int64_t j = 0; j < H; ++j) grad_h0[b * H + j] = dh[b * H + j] + dh_rec[b * base.ld_dh_rec + j];
    grad_weights_gemm<T>(d.T, B, d.I, H, H, x, h0, h, dz, H, grad_kernel, grad_recurrent, grad_bias);
    gemm<T>(TB, d.I, H, T(1), dz, H, 1, kernel, 1, H, T(0), grad_x, d.I, 1);
}

template <typename T>
void lstm_forward(const RnnDims& d, const T* x, const T* h0, const T* c0, const T* kernel, const T* recurrent,
                  const T* bias, const uint8_t* mask, T* h, T* c, T* gates) {
    const int64_t B = d.B, H = d.H, G = 4 * H, I = d.I;
    const bool training = gates != nullptr;
    const bool fused = fuse_input_projection(B);
    const RnnCellKernels<T>& cells = rnn_cell_kernels<T>();
    const PackedGates<T> u(H, 4, H, recurrent, G, 1, false);
    const PackedGates<T> w(fused ? I : 0, 4, H, kernel, G, 1, false, kPacked2);
    T* rec = scratch<T>(kWork, size_t(B * padded_ld(G)));
    // Inference keeps no history: the gates of a step (fused) or of every step (x W in one GEMM), and c in two
    // alternating rows of states, the last one copied to c at the end.
    T* step_gates = training ? gates : scratch<T>(kWork2, size_t((fused ? 1 : d.T) * B * G));
    T* c_ring = training ? c : scratch<T>(kCarry, size_t(2 * B * H));
    const int64_t gates_stride = training || !fused ? B * G : 0;
    auto c_at = [&](int64_t t) { return c_ring + (training ? t : t % 2) * B * H; };  // inference: row t % 2
    if (!fused) gemm<T>(d.T * B, G, I, T(1), x, I, 1, kernel, G, 1, T(0), step_gates, G, 1);
    RnnStep<T> base;
    base.H = H;
    base.bias = bias_or_zeros(bias, G);
    base.rec = rec;
    base.ld_rec = padded_ld(G);
    const StepSplit split = step_split(B, H, u.nr, B * G * (H + (fused ? I : 0)));
    auto pack = [&](int64_t j0, int64_t j1) {
        u.pack(j0, j1);
        if (fused) w.pack(j0, j1);
    };
    for_step_blocks(split, B, H, u.nr, pack, [&](int64_t b0, int64_t b1, int64_t j0, int64_t j1) {
        RnnStep<T> s = base;
        const int64_t rows = b1 - b0;
        for (int64_t t = 0; t < d.T; ++t) {
            s.h_prev = t ? h + (t - 1) * B * H : h0;
            s.c_prev = t ? c_at(t - 1) : c0;
            s.h = h + t * B * H;
            s.c = c_at(t);
            s.gates = step_gates + t * gates_stride;
            s.mask = mask_row(mask, t, B);
            if (fused) {  // this step's x W for the thread's rows and units, straight into the gates
                for (int64_t g = 0; g < 4; ++g)
                    w.multiply(rows, x + (t * B + b0) * I, I, g, j0, j1, s.gates + b0 * G + g * H + j0, G, 0, I);
            } else {
                for (int64_t g = 0; g < 4; ++g) prefetch_cols(s.gates + b0 * G + g * H, rows, G, j0, j1);
            }
            for (int64_t g = 0; g < 4; ++g)
                u.multiply(rows, s.h_prev + b0 * H, H, g, j0, j1, rec + b0 * s.ld_rec + g * H + j0, s.ld_rec, 0, H);
            cells.lstm_forward(s, b0, b1, j0, j1);
            if (!split.by_rows) step_barrier();
        }
    });
    if (!training) {
        const T* last = d.T ? c_at(d.T - 1) : c0;
        std::copy(last, last + B * H, c);
    }
}

template <typename T>
void lstm_backward(const RnnDims& d, const T* grad_h, const T* grad_c, const T* x, const T* h0, const T* c0,
                   const T* kernel, const T* recurrent, const uint8_t* mask, const T* h, const T* c,
                   const T* gates, T* grad_x, T* grad_h0, T* grad_c0, T* grad_kernel, T* grad_recurrent,
                   T* grad_bias) {
    const int64_t B = d.B, H = d.H, G = 4 * H, TB = d.T * d.B;
    const RnnCellKernels<T>& cells = rnn_cell_kernels<T>();
    const PackedGates<T> ut(G, 1, H, recurrent, 1, G, false);  // U^T
    // dz rows padded: at G = 1024 floats (4 KiB) the rows the per-step product streams share L1 sets (-10%).
    const int64_t ldz = padded_ld(G);
    T* dz = scratch<T>(kWork, size_t(TB * ldz));
    T* carry = zeroed<T>(kCarry, 3 * B * H + B * padded_ld(H));
    T* dc = carry + 2 * B * H;
    T* dh_rec = dc + B * H;  // row stride padded_ld(H)
    RnnStep<T> base;
    base.H = H;
    base.dc = dc;
    base.dh_rec = dh_rec;
    base.ld_dh_rec = padded_ld(H);
    base.ld_dz = ldz;
    const StepSplit split = step_split(B, H, ut.nr, B * G * H);
    auto pack = [&](int64_t j0, int64_t j1) { ut.pack(j0, j1); };
    for_step_blocks(split, B, H, ut.nr, pack, [&](int64_t b0, int64_t b1, int64_t j0, int64_t j1) {
        RnnStep<T> s = base;
        const int64_t rows = b1 - b0;
        T* dh = carry;
        T* dh_prev = dh + B * H;
        for (int64_t t = d.T - 1; t >= 0; --t) {
            s.grad_h = grad_h + t * B * H;
            s.grad_c = grad_c + t * B * H;
            s.dh = dh;
            s.dh_prev = dh_prev;
            s.c = const_cast<T*>(c + t * B * H);  // read only in the backward pass
            s.c_prev = t ? c + (t - 1) * B * H : c0;
            s.gates = const_cast<T*>(gates + t * B * G);
            s.dz = dz + t * B * ldz;
            s.mask = mask_row(mask, t, B);
            cells.lstm_backward(s, b0, b1, j0, j1);
            if (!split.by_rows) step_barrier();  // by units, the product needs every thread's dz[t]
            if (t > 0) {  // step t - 1's inputs, while the GEMM runs
                for (int64_t g = 0; g < 4; ++g) prefetch_cols(s.gates - B * G + b0 * G + g * H, rows, G, j0, j1);
                prefetch_cols(s.c - B * H + b0 * H, rows, H, j0, j1);
                prefetch_cols(s.grad_h - B * H + b0 * H, rows, H, j0, j1);
                prefetch_cols(s.grad_c - B * H + b0 * H, rows, H, j0, j1);
            }
            ut.multiply(rows, s.dz + b0 * ldz, ldz, 0, j0, j1, dh_rec + b0 * s.ld_dh_rec + j0, s.ld_dh_rec, 0, G);
            std::swap(dh, dh_prev);
        }
    });
    const T* dh = carry + (d.T % 2 ? B * H : 0);
    for (int64_t b = 0; b < B; ++b)
        for (int64_t j = 0; j < H; ++j) grad_h0[b * H + j] = dh[b * H + j] + dh_rec[b * base.ld_dh_rec + j];
    std::copy(dc, dc + B * H, grad_c0);
    grad_weights_gemm<T>(d.T, B, d.I, H, G, x, h0, h, dz, ldz, grad_kernel, grad_recurrent, grad_bias);
    gemm<T>(TB, d.I, G, T(1), dz, ldz, 1, kernel, 1, G, T(0), grad_x, d.I, 1);
}

#define EMBER_RNN_INSTANTIATE(T)                                                                                  \
    template void simple_rnn_forward<T>(const RnnDims&, const T*, const T*, const T*, const T*, const T*, bool,  \
                                        const uint8_t*, T*);                                                      \
    template void simple_rnn_backward<T>(const RnnDims&, const T*, const T*, const T*, const T*, const T*, bool, \
                                         const uint8_t*, const T*, T*, T*, T*, T*, T*);                           \
    template void lstm_forward<T>(const RnnDims&, const T*, const T*, const T*, const T*, const T*, const T*,    \
                                  const uint8_t*, T*, T*, T*);                                                    \
    template void lstm_backward<T>(const RnnDims&, const T*, const T*, const T*, const T*, const T*, const T*,   \
                                   const T*, const uint8_t*, const T*, const T*, const T*, T*, T*, T*, T*, T*,   \
                                   T*);
EMBER_RNN_INSTANTIATE(float)
EMBER_RNN_INSTANTIATE(double)

}  // namespace ember
