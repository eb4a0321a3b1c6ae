// Pooling kernels: each window's real cells are the clipped ranges [h0, h1) x [w0, w1); inner loops run
// over channels, which are contiguous in NHWC, so they vectorize. Backward passes scatter into grad_x
// image by image and channel block by channel block, one thread per (image, block), in a fixed order.
#include "pool2d.h"

#include <algorithm>
#include <cmath>

#include "../common/parallel.h"

namespace ember {
namespace {

constexpr int64_t kBlock = 64;  // channels per backward task

int threads_for(int64_t work) { return work < 32768 ? 1 : get_num_threads(); }

struct Window {
    int64_t h0, h1, w0, w1;
};

inline Window window(const Pool2dGeom& g, int64_t oh, int64_t ow) {
    const int64_t hs = oh * g.sh - g.pt, ws = ow * g.sw - g.pl;
    const int64_t h0 = std::max<int64_t>(hs, 0), w0 = std::max<int64_t>(ws, 0);
    return {h0, std::max(h0, std::min(hs + g.ph, g.h)), w0, std::max(w0, std::min(ws + g.pw, g.w))};
}

// v replaces the running best b when it is larger, or NaN; a NaN best is never replaced (first NaN wins).
// Bitwise, not short-circuit, operators and both values loaded up front: GCC turned the && / || into branches,
// mispredicted on every other element (max-pool backward ran at 40 ns a window cell), and left the loops scalar.
template <typename T>
inline bool takes_over(T v, T b) {
    return ((v > b) | (v != v)) & (b == b);
}

}  // namespace

template <typename T>
void max_pool2d_forward(const Pool2dGeom& g, const T* x, T* y) {
#pragma omp parallel for num_threads(threads_for(work_estimate({g.n, g.ho, g.wo, g.c, g.ph, g.pw}))) schedule(static)
    for (int64_t t = 0; t < g.n * g.ho; ++t) {
        const int64_t n = t / g.ho, oh = t % g.ho;
        for (int64_t ow = 0; ow < g.wo; ++ow) {
            const Window win = window(g, oh, ow);
            T* dst = y + ((n * g.ho + oh) * g.wo + ow) * g.c;
            bool first = true;
            for (int64_t hi = win.h0; hi < win.h1; ++hi)
                for (int64_t wi = win.w0; wi < win.w1; ++wi) {
                    const T* src = x + ((n * g.h + hi) * g.w + wi) * g.c;
                    if (first) {
                        std::copy(src, src + g.c, dst);
                        first = false;
                        continue;
                    }
#pragma omp simd
                    for (int64_t ch = 0; ch < g.c; ++ch) {
                        const T v = src[ch], b = dst[ch];
                        dst[ch] = takes_over(v, b) ? v : b;
                    }
                }
            if (first) std::fill(dst, dst + g.c, T(0));
        }
    }
}

// Per window, two branch-free passes over its cells: the maximum of each channel, then the gradient added to the
// first cell holding it (the first NaN when there is one), contiguous in grad_x. An earlier version tracked the
// winning cell's offset with selects that GCC compiled into mispredicted branches: 4.5 ns a cell-channel.
template <typename T>
void max_pool2d_backward(const Pool2dGeom& g, const T* gy, const T* x, T* gx) {
    const int64_t n_blocks = (g.c + kBlock - 1) / kBlock;
#pragma omp parallel for num_threads(threads_for(work_estimate({g.n, g.ho, g.wo, g.c, g.ph, g.pw}))) schedule(static)
    for (int64_t t = 0; t < g.n * n_blocks; ++t) {
        const int64_t n = t / n_blocks, c0 = (t % n_blocks) * kBlock, cb = std::min(kBlock, g.c - c0);
        for (int64_t hi = 0; hi < g.h; ++hi)
            for (int64_t wi = 0; wi < g.w; ++wi) std::fill_n(gx + ((n * g.h + hi) * g.w + wi) * g.c + c0, cb, T(0));
        T best[kBlock], taken[kBlock];
        for (int64_t oh = 0; oh < g.ho; ++oh)
            for (int64_t ow = 0; ow < g.wo; ++ow) {
                const Window win = window(g, oh, ow);
                if (win.h0 == win.h1 || win.w0 == win.w1) continue;  // only padding: no gradient
                const T* first = x + ((n * g.h + win.h0) * g.w + win.w0) * g.c + c0;
                std::copy(first, first + cb, best);
                for (int64_t hi = win.h0; hi < win.h1; ++hi)
                    for (int64_t wi = win.w0; wi < win.w1; ++wi) {
                        const T* src = x + ((n * g.h + hi) * g.w + wi) * g.c + c0;
#pragma omp simd
                        for (int64_t k = 0; k < cb; ++k) {
                            const T v = src[k], b = best[k];
                            best[k] = takes_over(v, b) ? v : b;
                        }
                    }
                const T* gs = gy + ((n * g.ho + oh) * g.wo + ow) * g.c + c0;
                std::fill_n(taken, cb, T(0));
                for (int64_t hi = win.h0; hi < win.h1; ++hi)
                    for (int64_t wi = win.w0; wi < win.w1; ++wi) {
                        const int64_t pix = ((n * g.h + hi) * g.w + wi) * g.c + c0;
                        const T* src = x + pix;
                        T* dst = gx + pix;
#pragma omp simd
                        for (int64_t k = 0; k < cb; ++k) {
                            const T v = src[k], b = best[k], d = dst[k], gk = gs[k], was = taken[k];
                            const bool hit = ((v == b) | ((v != v) & (b != b))) & (was == T(0));
                            dst[k] = hit ? d + gk : d;
                            taken[k] = hit ? T(1) : was;
                        }
                    }
            }
    }
}

template <typename T>
void avg_pool2d_forward(const Pool2dGeom& g, const T* x, T* y) {
#pragma omp parallel for num_threads(threads_for(work_estimate({g.n, g.ho, g.wo, g.c, g.ph, g.pw}))) schedule(static)
    for (int64_t t = 0; t < g.n * g.ho; ++t) {
        const int64_t n = t / g.ho, oh = t % g.ho;
        for (int64_t ow = 0; ow < g.wo; ++ow) {
            const Window win = window(g, oh, ow);
            T* dst = y + ((n * g.ho + oh) * g.wo + ow) * g.c;
            std::fill(dst, dst + g.c, T(0));
            for (int64_t hi = win.h0; hi < win.h1; ++hi)
                for (int64_t wi = win.w0; wi < win.w1; ++wi) {
                    const T* src = x + ((n * g.h + hi) * g.w + wi) * g.c;
                    for (int64_t ch = 0; ch < g.c; ++ch) dst[ch] += src[ch];
                }
            const T count = T(std::max<int64_t>((win.h1 - win.h0) * (win.w1 - win.w0), 1));
            for (int64_t ch = 0; ch < g.c; ++ch) dst[ch] /= count;
        }
    }
}

template <typename T>
void avg_pool2d_backward(const Pool2dGeom& g, const T* gy, T* gx) {
    const int64_t n_blocks = (g.c + kBlock - 1) / kBlock;
#pragma omp parallel for num_threads(threads_for(work_estimate({g.n, g.ho, g.wo, g.c, g.ph, g.pw}))) schedule(static)
    for (int64_t t = 0; t < g.n * n_blocks; ++t) {
        const int64_t n = t / n_blocks, c0 = (t % n_blocks) * kBlock, cb = std::min(kBlock, g.c - c0);
        for (int64_t hi = 0; hi < g.h; ++hi)
            for (int64_t wi = 0; wi < g.w; ++wi) std::fill_n(gx + ((n * g.h + hi) * g.w + wi) * g.c + c0, cb, T(0));
        T share[kBlock];
        for (int64_t oh = 0; oh < g.ho; ++oh)
            for (int64_t ow = 0; ow < g.wo; ++ow) {
                const Window win = window(g, oh, ow);
                const T count = T(std::max<int64_t>((win.h1 - win.h0) * (win.w1 - win.w0), 1));
                const T* gs = gy + ((n * g.ho + oh) * g.wo + ow) * g.c + c0;
                for (int64_t k = 0; k < cb; ++k) share[k] = gs[k] / count;
                for (int64_t hi = win.h0; hi < win.h1; ++hi)
                    for (int64_t wi = win.w0; wi < win.w1; ++wi) {
                        T* dst = gx + ((n * g.h + hi) * g.w + wi) * g.c + c0;
                        for (int64_t k = 0; k < cb; ++k) dst[k] += share[k];
                    }
            }
    }
}

#define EMBER_POOL_INSTANTIATE(T)                                                       \
    template void max_pool2d_forward<T>(const Pool2dGeom&, const T*, T*);               \
    template void max_pool2d_backward<T>(const Pool2dGeom&, const T*, const T*, T*);    \
    template void avg_pool2d_forward<T>(const Pool2dGeom&, const T*, T*);               \
    template void avg_pool2d_backward<T>(const Pool2dGeom&, const T*, T*);
EMBER_POOL_INSTANTIATE(float)
EMBER_POOL_INSTANTIATE(double)

}  // namespace ember
