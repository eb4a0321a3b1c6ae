// Average pooling's forward (its backward, a plain scatter, is in pool2d.cpp), compiled once per ISA through
// pool2d_impl.h. Everything here has internal linkage, so the per-ISA copies never meet at link time.
#pragma once

#include <algorithm>

#include "pool2d_window.h"

namespace ember {
namespace {

// Average pooling, output row (n, oh), channels [c0, c0 + width) (CB the width when a compile-time case, else 0):
// each window summed in registers from 0, cell by cell in row-major order, then divided by its count of real cells.
// Compiled per ISA with the width a constant: the baseline build's loop, adding into the output in memory, ran at
// 0.93x PyTorch on 64x112x112x32.
template <typename T, int CB>
void avg_forward_row(const Pool2dGeom& g, const T* x, T* y, int64_t n, int64_t oh, int64_t c0, int64_t width) {
    const int64_t cb = CB > 0 ? CB : width;
    for (int64_t ow = 0; ow < g.wo; ++ow) {
        const Window win = window(g, oh, ow);
        T acc[kMaxBlock];
        for (int64_t k = 0; k < cb; ++k) acc[k] = T(0);
        for (int64_t hi = win.h0; hi < win.h1; ++hi)
            for (int64_t wi = win.w0; wi < win.w1; ++wi) {
                const T* src = x + ((n * g.h + hi) * g.w + wi) * g.c + c0;
#pragma omp simd
                for (int64_t k = 0; k < cb; ++k) acc[k] += src[k];
            }
        const T count = T(std::max<int64_t>((win.h1 - win.h0) * (win.w1 - win.w0), 1));
        T* dst = y + ((n * g.ho + oh) * g.wo + ow) * g.c + c0;
        for (int64_t k = 0; k < cb; ++k) dst[k] = acc[k] / count;
    }
}

// tiles_2x2 windows with more than 16 channels, as the max forward's wide_row: each window's four cells summed
// in place, channels full-width, in avg_forward_row's order (from 0, so -0.0 cells give +0.0 as there).
// 64x112x112x32 on 2 threads: 3.7-4.0 -> 1.3 ms (A/B by process); 32x56x56x128 1.6-1.9 -> 0.71-0.76.
template <typename T, int CB>
void avg_forward_pairs_row(const Pool2dGeom& g, const T* x, T* y, int64_t n, int64_t oh) {
    pairs_wide_row<T, CB>(g, x, y, n, oh, [](const T* __restrict a, const T* __restrict b, T* __restrict d, int64_t C) {
#pragma omp simd
        for (int64_t c = 0; c < C; ++c) d[c] = (((T(0) + a[c]) + a[C + c]) + b[c] + b[C + c]) / T(4);
    });
}

template <typename T>
void avg_forward(const Pool2dGeom& g, const T* x, T* y) {
    if (tiles_2x2(g) && g.c > 16) {
#pragma omp parallel for num_threads(pool_threads_for(work_estimate({g.n, g.ho, g.wo, g.c, g.ph, g.pw}))) schedule(static)
        for (int64_t t = 0; t < g.n * g.ho; ++t)
            with_block_width(g.c, [&](auto cb) {
                avg_forward_pairs_row<T, decltype(cb)::value>(g, x, y, t / g.ho, t % g.ho);
            });
        return;
    }
    by_row_blocks(g, kMaxBlock, [&](auto cb, int64_t n, int64_t oh, int64_t c0, int64_t width) {
        avg_forward_row<T, decltype(cb)::value>(g, x, y, n, oh, c0, width);
    });
}

}  // namespace
}  // namespace ember
