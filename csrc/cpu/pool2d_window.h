// Pooling's window helpers, shared by the max kernels (pool2d_max_impl.h), the average's forward (pool2d_avg_impl.h)
// and pool2d.cpp (its average backward): each window's clipped cell ranges, the thread count, the channel blocks and
// their compile-time widths, the walks over output rows. Internal linkage: each translation unit that includes this,
// the per-ISA ones among them, keeps its own copy.
#pragma once

#include <algorithm>
#include <type_traits>

#include "../common/parallel.h"
#include "../common/shapes.h"

namespace ember {
namespace {

int pool_threads_for(int64_t work) { return work < 32768 ? 1 : get_num_threads(); }

struct Window {
    int64_t h0, h1, w0, w1;
};

inline Window window(const Pool2dGeom& g, int64_t oh, int64_t ow) {
    const int64_t hs = oh * g.sh - g.pt, ws = ow * g.sw - g.pl;
    const int64_t h0 = std::max<int64_t>(hs, 0), w0 = std::max<int64_t>(ws, 0);
    return {h0, std::max(h0, std::min(hs + g.ph, g.h)), w0, std::max(w0, std::min(ws + g.pw, g.w))};
}

// Max pooling runs channel block by channel block with the block's width a compile-time constant where it is
// small or a power of two (1-8, 16, 32, 64 channels): with a run-time width, LeNet's 6-channel windows cost ~50 ns each in loop set-up and
// remainder handling (max-pool backward took 0.70 ms at 64x28x28x6), while a constant width keeps best/taken in
// registers and the loops straight.
template <class F>
void with_block_width(int64_t cb, F&& f) {
    switch (cb) {
        case 1: return f(std::integral_constant<int, 1>{});
        case 2: return f(std::integral_constant<int, 2>{});
        case 3: return f(std::integral_constant<int, 3>{});
        case 4: return f(std::integral_constant<int, 4>{});
        case 5: return f(std::integral_constant<int, 5>{});
        case 6: return f(std::integral_constant<int, 6>{});
        case 7: return f(std::integral_constant<int, 7>{});
        case 8: return f(std::integral_constant<int, 8>{});
        case 16: return f(std::integral_constant<int, 16>{});
        case 32: return f(std::integral_constant<int, 32>{});
        case 64: return f(std::integral_constant<int, 64>{});
        default: return f(std::integral_constant<int, 0>{});  // the width known only at run time
    }
}

// Blocks of 64 channels, the last one narrower.
constexpr int64_t kMaxBlock = 64;

// 2x2 windows at stride 2 tiling the rows from the top-left corner (no padding before), every window inside the
// input: the geometry of the 2x2 paths (pairs_wide_row, the max kernels' flattened rows).
inline bool tiles_2x2(const Pool2dGeom& g) {
    return g.ph == 2 && g.pw == 2 && g.sh == 2 && g.sw == 2 && g.pt == 0 && g.pl == 0 && g.ho > 0 && g.wo > 0 &&
           2 * g.ho <= g.h && 2 * g.wo <= g.w;
}

// Output row (n, oh) of tiles_2x2 windows, channels full-width: each window's cells in its two input rows a and b
// (cell (i, j), channel c at (i ? b : a)[j C + c]) and its outputs d go to per_window(a, b, d, C), C = CB when that
// is a compile-time case (else CB = 0).
template <typename T, int CB, class PerWindow>
void pairs_wide_row(const Pool2dGeom& g, const T* x, T* y, int64_t n, int64_t oh, PerWindow&& per_window) {
    const int64_t C = CB > 0 ? CB : g.c, ld = g.w * C;
    const T* r0 = x + (n * g.h + 2 * oh) * ld;
    const T* r1 = r0 + ld;
    T* dst = y + (n * g.ho + oh) * g.wo * C;
    for (int64_t ow = 0; ow < g.wo; ++ow) per_window(r0 + 2 * ow * C, r1 + 2 * ow * C, dst + ow * C, C);
}

// Output rows (n, oh) spread over the threads, each in channel blocks of kMaxBlock: row(cb, n, oh, c0, width), cb the
// block's width as a compile-time case (with_block_width) up to `widest_constant`, else 0 (read at run time).
template <class Row>
void by_row_blocks(const Pool2dGeom& g, int64_t widest_constant, Row&& row) {
#pragma omp parallel for num_threads(pool_threads_for(work_estimate({g.n, g.ho, g.wo, g.c, g.ph, g.pw}))) schedule(static)
    for (int64_t t = 0; t < g.n * g.ho; ++t)
        for (int64_t c0 = 0; c0 < g.c; c0 += kMaxBlock) {
            const int64_t width = std::min(kMaxBlock, g.c - c0);
            if (width > widest_constant)
                row(std::integral_constant<int, 0>{}, t / g.ho, t % g.ho, c0, width);
            else
                with_block_width(width, [&](auto cb) { row(cb, t / g.ho, t % g.ho, c0, width); });
        }
}

}  // namespace
}  // namespace ember
