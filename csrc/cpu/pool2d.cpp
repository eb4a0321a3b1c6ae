// Pooling kernels: each window's real cells are the clipped ranges [h0, h1) x [w0, w1); inner loops run
// over channels, which are contiguous in NHWC, so they vectorize. Backward passes scatter into grad_x
// image by image (max) or by (image, channel block) (avg), one thread each, in a fixed order.
#include "pool2d.h"

#include <algorithm>
#include <cmath>

#include "gemm.h"
#include "pool2d_max.h"
#include "pool2d_window.h"  // Window, window(), pool_threads_for()

namespace ember {
namespace {

constexpr int64_t kBlock = 64;  // channels per avg-pool backward task

}  // namespace

template <typename T>
void max_pool2d_forward(const Pool2dGeom& g, const T* x, T* y) {
    pool_kernels<T>().forward(g, x, y);
}

template <typename T>
void max_pool2d_backward(const Pool2dGeom& g, const T* gy, const T* x, T* gx) {
    pool_kernels<T>().backward(g, gy, x, gx);
}

template <>
const PoolKernels<float>& pool_kernels<float>() {
    return for_gemm_isa<PoolKernels<float>, EMBER_ISA_BUILDERS(pool, f32)>();
}

template <>
const PoolKernels<double>& pool_kernels<double>() {
    return for_gemm_isa<PoolKernels<double>, EMBER_ISA_BUILDERS(pool, f64)>();
}

template <typename T>
void avg_pool2d_forward(const Pool2dGeom& g, const T* x, T* y) {
    pool_kernels<T>().avg_forward(g, x, y);
}

template <typename T>
void avg_pool2d_backward(const Pool2dGeom& g, const T* gy, T* gx) {
    const int64_t n_blocks = (g.c + kBlock - 1) / kBlock;
#pragma omp parallel for num_threads(pool_threads_for(work_estimate({g.n, g.ho, g.wo, g.c, g.ph, g.pw}))) schedule(static)
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
