// Depthwise convolution (groups == C, each input channel feeding `mult` outputs), direct loops vectorized over
// channels. Included only by conv2d_direct_{generic,avx2,avx512}.cpp, like conv2d_direct_impl.h: compiled in the
// baseline build these loops ran 4 lanes wide and were 1.3-1.5x slower than PyTorch at 32x28x28x128.
#pragma once

#include <algorithm>

#include "../common/parallel.h"
#include "../common/shapes.h"

namespace ember {
namespace {

inline int depthwise_threads(int64_t work) { return work < 32768 ? 1 : get_num_threads(); }

template <typename T>
void depthwise_forward(const Conv2dGeom& g, const T* x, const T* w, T* y) {
    const int64_t mult = g.og();
#pragma omp parallel for num_threads(depthwise_threads(work_estimate({g.n, g.ho, g.wo, g.o, g.kh, g.kw}))) schedule(static)
    for (int64_t t = 0; t < g.n * g.ho; ++t) {
        const int64_t n = t / g.ho, oh = t % g.ho;
        for (int64_t ow = 0; ow < g.wo; ++ow) {
            T* dst = y + ((n * g.ho + oh) * g.wo + ow) * g.o;
            std::fill(dst, dst + g.o, T(0));
            for (int64_t i = 0; i < g.kh; ++i) {
                const int64_t hi = oh * g.sh - g.pt + i * g.dh;
                if (hi < 0 || hi >= g.h) continue;
                for (int64_t j = 0; j < g.kw; ++j) {
                    const int64_t wi = ow * g.sw - g.pl + j * g.dw;
                    if (wi < 0 || wi >= g.w) continue;
                    const T* xs = x + ((n * g.h + hi) * g.w + wi) * g.c;
                    const T* ws = w + (i * g.kw + j) * g.o;
                    if (mult == 1) {
#pragma omp simd
                        for (int64_t ch = 0; ch < g.c; ++ch) dst[ch] += xs[ch] * ws[ch];
                    } else {
                        for (int64_t ch = 0; ch < g.c; ++ch)
                            for (int64_t q = 0; q < mult; ++q) dst[ch * mult + q] += xs[ch] * ws[ch * mult + q];
                    }
                }
            }
        }
    }
}

template <typename T>
void depthwise_backward_input(const Conv2dGeom& g, const T* gy, const T* w, T* gx) {
    const int64_t mult = g.og();
#pragma omp parallel for num_threads(depthwise_threads(work_estimate({g.n, g.h, g.w, g.o, g.kh, g.kw}))) schedule(static)
    for (int64_t t = 0; t < g.n * g.h; ++t) {
        const int64_t n = t / g.h, hi = t % g.h;
        for (int64_t wi = 0; wi < g.w; ++wi) {
            T* dst = gx + ((n * g.h + hi) * g.w + wi) * g.c;
            std::fill(dst, dst + g.c, T(0));
            for (int64_t i = 0; i < g.kh; ++i) {
                const int64_t th = hi + g.pt - i * g.dh;
                if (th < 0 || th % g.sh != 0 || th / g.sh >= g.ho) continue;
                const int64_t oh = th / g.sh;
                for (int64_t j = 0; j < g.kw; ++j) {
                    const int64_t tw = wi + g.pl - j * g.dw;
                    if (tw < 0 || tw % g.sw != 0 || tw / g.sw >= g.wo) continue;
                    const int64_t ow = tw / g.sw;
                    const T* gs = gy + ((n * g.ho + oh) * g.wo + ow) * g.o;
                    const T* ws = w + (i * g.kw + j) * g.o;
                    if (mult == 1) {
#pragma omp simd
                        for (int64_t ch = 0; ch < g.c; ++ch) dst[ch] += gs[ch] * ws[ch];
                    } else {
                        for (int64_t ch = 0; ch < g.c; ++ch) {
                            T s = 0;
                            for (int64_t q = 0; q < mult; ++q) s += gs[ch * mult + q] * ws[ch * mult + q];
                            dst[ch] += s;
                        }
                    }
                }
            }
        }
    }
}

// Each task owns kernel row i and a block of output channels, and sums over (n, oh, ow) in order.
template <typename T>
void depthwise_backward_weight(const Conv2dGeom& g, const T* gy, const T* x, T* gw) {
    const int64_t mult = g.og(), block = 64, n_blocks = (g.o + block - 1) / block;
    std::fill(gw, gw + g.kh * g.kw * g.o, T(0));
#pragma omp parallel for num_threads(depthwise_threads(work_estimate({g.n, g.ho, g.wo, g.o, g.kh, g.kw}))) schedule(static)
    for (int64_t t = 0; t < g.kh * n_blocks; ++t) {
        const int64_t i = t / n_blocks, o0 = (t % n_blocks) * block, o1 = std::min(g.o, o0 + block);
        for (int64_t n = 0; n < g.n; ++n)
            for (int64_t oh = 0; oh < g.ho; ++oh) {
                const int64_t hi = oh * g.sh - g.pt + i * g.dh;
                if (hi < 0 || hi >= g.h) continue;
                for (int64_t ow = 0; ow < g.wo; ++ow) {
                    const T* gs = gy + ((n * g.ho + oh) * g.wo + ow) * g.o;
                    for (int64_t j = 0; j < g.kw; ++j) {
                        const int64_t wi = ow * g.sw - g.pl + j * g.dw;
                        if (wi < 0 || wi >= g.w) continue;
                        const T* xs = x + ((n * g.h + hi) * g.w + wi) * g.c;
                        T* dst = gw + (i * g.kw + j) * g.o;
                        if (mult == 1) {
#pragma omp simd
                            for (int64_t oc = o0; oc < o1; ++oc) dst[oc] += gs[oc] * xs[oc];
                        } else {
                            for (int64_t oc = o0; oc < o1; ++oc) dst[oc] += gs[oc] * xs[oc / mult];
                        }
                    }
                }
            }
    }
}

}  // namespace
}  // namespace ember
