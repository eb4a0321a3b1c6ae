// The recurrent passes compiled with -mavx512f/bw/dq/vl -mfma (only called when the CPU reports them).
//
// The float LSTM forward pass is written with intrinsics here (the others are rnn_cell_impl.h's plain loops):
// GCC's vectorization of that loop, five inlined nonlinearities in one body, hoisted every polynomial constant
// into registers and spilled ~150 of them to the stack, and spent a fifth of the pass in 5 divisions. Here the
// constants are broadcast from memory into the FMAs, 2^n is one vscalefps, and 1 / d is vrcp14ps plus one
// Newton step. Max relative error against double over 2^20 points in [-20, 20] (the gates of a T = 1 call
// with W = [I I I I]): sigmoid 1.9e-7 (was 1.9e-7), tanh 1.3e-7 (same), o * tanh(c) 1.6e-7; NaN propagates.
// Forward at T = 100, B = 32, I = 32, H = 128 (2 threads): 1.82 -> 1.76 ms; at 50, 64, 128, 256: 6.9 -> 6.8 ms.
// GCC 12 warns that _mm512_undefined_ps() "may be used uninitialized" inside the masked intrinsics' headers.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>
#pragma GCC diagnostic pop

#include "rnn_cell_impl.h"

namespace ember {
namespace {

// vmath::exp_f's Cephes polynomial; 2^n applied with scalef, which also gives the subnormal results and 0
// below -87.3 (no clamp-and-select needed there). The callers bound x: sigmoid takes it of max(-|x|, -104)
// (exp(-104) is below the smallest subnormal), tanh of min(2|x|, 18). NaN propagates.
inline __m512 exp16(__m512 x) {
    const __m512 nf = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                           _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fnmadd_ps(nf, _mm512_set1_ps(0.693359375f), x);
    r = _mm512_fnmadd_ps(nf, _mm512_set1_ps(-2.12194440e-4f), r);
    __m512 p = _mm512_set1_ps(1.9875691500e-4f);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.3981999507e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894e-2f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459e-1f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201e-1f));
    p = _mm512_add_ps(_mm512_fmadd_ps(p, _mm512_mul_ps(r, r), r), _mm512_set1_ps(1.0f));
    return _mm512_scalef_ps(p, nf);
}

// 1 / d for d >= 1 (finite or inf; NaN stays NaN): 14-bit estimate, one Newton step.
inline __m512 recip16(__m512 d) {
    const __m512 r = _mm512_rcp14_ps(d);
    return _mm512_fmadd_ps(_mm512_fnmadd_ps(d, r, _mm512_set1_ps(1.0f)), r, r);
}

inline __m512 abs16(__m512 x) { return _mm512_abs_ps(x); }

inline __m512 sigmoid16(__m512 x) {
    // max(lo, v) returns v when either is NaN: NaN stays
    const __m512 e = exp16(_mm512_max_ps(_mm512_set1_ps(-104.0f), _mm512_sub_ps(_mm512_setzero_ps(), abs16(x))));
    const __m512 s = recip16(_mm512_add_ps(_mm512_set1_ps(1.0f), e));
    return _mm512_mask_mul_ps(s, _mm512_cmp_ps_mask(x, _mm512_setzero_ps(), _CMP_LT_OQ), e, s);
}

inline __m512 tanh16(__m512 x) {
    const __m512 ax = abs16(x);
    const __m512 z = _mm512_mul_ps(x, x);
    __m512 p = _mm512_set1_ps(-5.70498872745e-3f);
    p = _mm512_fmadd_ps(p, z, _mm512_set1_ps(2.06390887954e-2f));
    p = _mm512_fmadd_ps(p, z, _mm512_set1_ps(-5.37397155531e-2f));
    p = _mm512_fmadd_ps(p, z, _mm512_set1_ps(1.33314422036e-1f));
    p = _mm512_fmadd_ps(p, z, _mm512_set1_ps(-3.33332819422e-1f));
    const __m512 small = _mm512_fmadd_ps(_mm512_mul_ps(p, z), x, x);
    // clamped at 10, past 9.02 where 1 - 2 / (e^{2x} + 1) rounds to 1 (at 9: 1 - 2^-24 for every larger x)
    const __m512 a9 = _mm512_min_ps(_mm512_set1_ps(10.0f), ax);  // NaN returned as the second operand
    const __m512 a2 = _mm512_add_ps(a9, a9);
    const __m512 e = exp16(a2);
    const __m512 r = recip16(_mm512_add_ps(e, _mm512_set1_ps(1.0f)));
    const __m512 two_r = _mm512_add_ps(r, r);
    const __m512 big = _mm512_sub_ps(_mm512_set1_ps(1.0f), two_r);
    // sign of x onto big (|big| = big >= 0), then the small branch where |x| < 0.625 (NaN: big, NaN)
    const __m512 sbig = _mm512_or_ps(big, _mm512_and_ps(x, _mm512_set1_ps(-0.0f)));
    return _mm512_mask_mov_ps(sbig, _mm512_cmp_ps_mask(ax, _mm512_set1_ps(0.625f), _CMP_LT_OQ), small);
}

// 16 units [j, j + 16) of one row, or the first n of them when Tail (masked loads and stores; the full
// vectors use plain ones: masking every load and store made the pass ~1.8x slower at B = 64, H = 256).
template <bool Tail>
inline void lstm_forward16(float* gi, const float* bias, const float* ri, const float* cp, float* c, float* h,
                           int64_t H, int64_t j, __mmask16 m) {
    auto load = [&](const float* p) { return Tail ? _mm512_maskz_loadu_ps(m, p) : _mm512_loadu_ps(p); };
    auto store = [&](float* p, __m512 v) {
        if (Tail)
            _mm512_mask_storeu_ps(p, m, v);
        else
            _mm512_storeu_ps(p, v);
    };
    auto pre = [&](int64_t g) {
        return _mm512_add_ps(_mm512_add_ps(load(gi + g * H + j), load(bias + g * H + j)), load(ri + g * H + j));
    };
    const __m512 i = sigmoid16(pre(0));
    const __m512 f = sigmoid16(pre(1));
    const __m512 g = tanh16(pre(2));
    const __m512 o = sigmoid16(pre(3));
    store(gi + j, i);
    store(gi + H + j, f);
    store(gi + 2 * H + j, g);
    store(gi + 3 * H + j, o);
    const __m512 cn = _mm512_fmadd_ps(f, load(cp + j), _mm512_mul_ps(i, g));
    store(c + j, cn);
    store(h + j, _mm512_mul_ps(o, tanh16(cn)));
}

void lstm_forward_pass_f32(const RnnStep<float>& s, int64_t b0, int64_t b1, int64_t j0, int64_t j1) {
    const int64_t H = s.H;
    for (int64_t b = b0; b < b1; ++b) {
        float* gi = s.gates + b * 4 * H;
        const float* ri = s.rec + b * s.ld_rec;
        const float* cp = s.c_prev + b * H;
        float* h = s.h + b * H;
        float* c = s.c + b * H;
        int64_t j = j0;
        for (; j + 16 <= j1; j += 16) lstm_forward16<false>(gi, s.bias, ri, cp, c, h, H, j, 0);
        if (j < j1) lstm_forward16<true>(gi, s.bias, ri, cp, c, h, H, j, __mmask16((1u << (j1 - j)) - 1));
        if (!keeps(s, b)) {
            copy_units(s.h_prev + b * H, h, j0, j1);
            copy_units(cp, c, j0, j1);
        }
    }
}

}  // namespace

RnnCellKernels<float> rnn_cells_avx512_f32() {
    RnnCellKernels<float> k = make_rnn_cells<float>();
    k.lstm_forward = &lstm_forward_pass_f32;
    return k;
}
RnnCellKernels<double> rnn_cells_avx512_f64() { return make_rnn_cells<double>(); }

}  // namespace ember
