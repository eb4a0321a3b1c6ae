// Max pooling's forward and backward: the per-window kernels, the tiled fast paths (2x2 stride-2 windows, few
// channels) and max_forward / max_backward, which choose among them. Compiled once per ISA through pool2d_impl.h
// (which says why). Everything here has internal linkage, so the per-ISA copies never meet at link time.
#pragma once

#include <algorithm>
#include <vector>

#include "pool2d_window.h"

namespace ember {
namespace {

// v replaces the running best b when it is larger, or NaN: a NaN best stays NaN (only another NaN replaces it, and
// which NaN does not matter: the backward sends the gradient to the window's first NaN cell whatever the payload).
// Bitwise, not short-circuit, operators and both values loaded up front: GCC turned the && / || into branches,
// mispredicted on every other element (max-pool backward ran at 40 ns a window cell), and left the loops scalar.
template <typename T>
inline bool takes_over(T v, T b) {
    return (v > b) | (v != v);
}

// best[k] = the maximum of channel c0 + k over window `win` of image n (the first NaN if there is one).
template <typename T, int CB>
inline void window_max(const Pool2dGeom& g, const T* x, int64_t n, const Window& win, int64_t c0, int64_t width,
                       T* best) {
    const int64_t cb = CB > 0 ? CB : width;
    const T* first = x + ((n * g.h + win.h0) * g.w + win.w0) * g.c + c0;
    for (int64_t k = 0; k < cb; ++k) best[k] = first[k];
    for (int64_t hi = win.h0; hi < win.h1; ++hi)
        for (int64_t wi = hi == win.h0 ? win.w0 + 1 : win.w0; wi < win.w1; ++wi) {  // the first cell is in already
            const T* src = x + ((n * g.h + hi) * g.w + wi) * g.c + c0;
#pragma omp simd
            for (int64_t k = 0; k < cb; ++k) {
                const T v = src[k], b = best[k];
                best[k] = takes_over(v, b) ? v : b;
            }
        }
}

// Output row (n, oh), channels [c0, c0 + width): CB is the width when it is a compile-time case, else 0.
template <typename T, int CB>
void max_forward_row(const Pool2dGeom& g, const T* x, T* y, int64_t n, int64_t oh, int64_t c0, int64_t width) {
    const int64_t cb = CB > 0 ? CB : width;
    for (int64_t ow = 0; ow < g.wo; ++ow) {
        const Window win = window(g, oh, ow);
        T* dst = y + ((n * g.ho + oh) * g.wo + ow) * g.c + c0;
        if (win.h0 == win.h1 || win.w0 == win.w1) {
            std::fill_n(dst, cb, T(0));
            continue;
        }
        T best[kMaxBlock];
        window_max<T, CB>(g, x, n, win, c0, cb, best);
        for (int64_t k = 0; k < cb; ++k) dst[k] = best[k];
    }
}

// Per window, two branch-free passes over its cells: the maximum of each channel, then the gradient added to the
// first cell holding it (the first NaN when there is one). An earlier version tracked the winning cell's offset
// with selects that GCC compiled into mispredicted branches: 4.5 ns a cell-channel.
// With disjoint windows (strides >= pool) each cell is written once, so the gradient is stored, not added to zeros.
template <typename T, int CB>
void max_backward_image(const Pool2dGeom& g, const T* gy, const T* x, T* gx, int64_t n, int64_t c0, int64_t width) {
    const int64_t cb = CB > 0 ? CB : width;
    const bool disjoint = g.sh >= g.ph && g.sw >= g.pw;
    for (int64_t oh = 0; oh < g.ho; ++oh)
        for (int64_t ow = 0; ow < g.wo; ++ow) {
            const Window win = window(g, oh, ow);
            if (win.h0 == win.h1 || win.w0 == win.w1) continue;  // only padding: no gradient
            T best[kMaxBlock], taken[kMaxBlock], gs[kMaxBlock];
            const T* gsrc = gy + ((n * g.ho + oh) * g.wo + ow) * g.c + c0;
            for (int64_t k = 0; k < cb; ++k) taken[k] = T(0), gs[k] = gsrc[k];
            window_max<T, CB>(g, x, n, win, c0, cb, best);
            for (int64_t hi = win.h0; hi < win.h1; ++hi)
                for (int64_t wi = win.w0; wi < win.w1; ++wi) {
                    const int64_t pix = ((n * g.h + hi) * g.w + wi) * g.c + c0;
                    const T* src = x + pix;
                    T* dst = gx + pix;
#pragma omp simd
                    for (int64_t k = 0; k < cb; ++k) {
                        const T v = src[k], b = best[k], d = disjoint ? T(0) : dst[k], was = taken[k];
                        const bool hit = ((v == b) | ((v != v) & (b != b))) & (was == T(0));
                        dst[k] = hit ? d + gs[k] : d;
                        taken[k] = hit ? T(1) : was;
                    }
                }
        }
}

// 2x2 windows tiling the rows (stride 2, no padding before). Few channels (wide_row for more): a window's channel
// loop is too short to vectorize (LeNet's 6 channels: ~20 cycles a window), so each output row is done on flattened
// rows of W * C values, where channel c of window ow starts at k = 2 ow C + c: s[k] takes the window's four cells in window_max's order
// ((0, 0), (0, 1), (1, 0), (1, 1): the same value, the same NaN) at every k in full-width passes, and the C values at
// each window's start are then copied out, C a constant. The same bits as the per-window path (NaN payloads, signed
// zeros, ties); 2 threads, Zen 5, A/B: 64x28x28x6 36 -> 21 us, 32x62x62x16 128 -> 87 us.
template <typename T>
struct TiledPairsForward {
    static bool applies(const Pool2dGeom& g) {
        return (g.c <= 8 || g.c >= 16) && tiles_2x2(g);
    }

    // A window's maximum over its cells in window_max's order, (0, 0) (0, 1) (1, 0) (1, 1).
    static T max4(T v00, T v01, T v10, T v11) {
        T m = takes_over(v01, v00) ? v01 : v00;
        m = takes_over(v10, m) ? v10 : m;
        return takes_over(v11, m) ? v11 : m;
    }

    template <int C>
    static void row(const Pool2dGeom& g, const T* x, T* y, int64_t n, int64_t oh, T* __restrict s) {
        const int64_t ld = g.w * C, last = (2 * g.wo - 1) * C;  // s is needed below `last` only
        const T* __restrict r0 = x + (n * g.h + 2 * oh) * ld;
        const T* __restrict r1 = r0 + ld;
#pragma omp simd
        for (int64_t k = 0; k < last; ++k) s[k] = max4(r0[k], r0[k + C], r1[k], r1[k + C]);
        T* __restrict dst = y + (n * g.ho + oh) * g.wo * C;
        for (int64_t ow = 0; ow < g.wo; ++ow)
            for (int c = 0; c < C; ++c) dst[ow * C + c] = s[2 * ow * C + c];
    }

    // More than 16 channels: a window's channels are a full-width run already, and its four cells are compared in
    // place, in window_max's order (CB the channel count when a compile-time case, else 0). The per-window path took
    // 45 ns a 32-channel window on 1 thread (64x112x112x32: 9.0 ms, against relu's 5.0 over twice the bytes), and
    // 2 threads stayed short of the memory's pace: 4.5-4.8 -> 2.2-3.3 ms there (A/B by process).
    template <int CB>
    static void wide_row(const Pool2dGeom& g, const T* x, T* y, int64_t n, int64_t oh) {
        pairs_wide_row<T, CB>(g, x, y, n, oh, [](const T* __restrict a, const T* __restrict b, T* __restrict d,
                                                 int64_t C) {
#pragma omp simd
            for (int64_t c = 0; c < C; ++c) d[c] = max4(a[c], a[C + c], b[c], b[C + c]);
        });
    }

    static void forward(const Pool2dGeom& g, const T* x, T* y) {
#pragma omp parallel num_threads(pool_threads_for(work_estimate({g.n, g.ho, g.wo, g.c, g.ph, g.pw})))
        {
            std::vector<T> s(g.c <= 16 ? size_t(2 * g.wo * g.c) : 0);
#pragma omp for schedule(static)
            for (int64_t t = 0; t < g.n * g.ho; ++t)
                with_block_width(g.c, [&](auto cb) {
                    constexpr int CB = decltype(cb)::value;
                    if constexpr (CB > 0 && CB <= 16)
                        row<CB>(g, x, y, t / g.ho, t % g.ho, s.data());
                    else
                        wide_row<CB>(g, x, y, t / g.ho, t % g.ho);
                });
        }
    }
};

template <typename T>
void max_forward(const Pool2dGeom& g, const T* x, T* y) {
    if (TiledPairsForward<T>::applies(g)) return TiledPairsForward<T>::forward(g, x, y);
    // Wide blocks at run time: that loop was ahead (32x56x56x64: 2.45 vs 2.8 ms, AVX-512).
    by_row_blocks(g, 16, [&](auto cb, int64_t n, int64_t oh, int64_t c0, int64_t width) {
        max_forward_row<T, decltype(cb)::value>(g, x, y, n, oh, c0, width);
    });
}

// Few channels, windows tiling the rows (strides == pool, no padding before): a window's channel loop is too short to
// vectorize (6 channels: 46 ns a window), so whole output rows are done at once on flattened rows of W * C values,
// where cell (i, j) of window ow, channel c sits at row i, k = (ow * pw + j) * C + c. With jpos[k] = j and the window's
// cells in one row d * C apart, every step is a full-width pass: the row maximum of each window spread over its
// cells (me), the gradient spread likewise (ge), then row by row the first cell equal to it (a NaN for a NaN
// maximum) that no earlier row of the window took.
template <typename T>
struct TiledRows {
    std::vector<T> v, me, ge, taken, earlier;
    std::vector<int32_t> jpos, gidx;

    explicit TiledRows(const Pool2dGeom& g) {
        const int64_t len = g.wo * g.pw * g.c;
        for (std::vector<T>* a : {&v, &me, &ge, &taken, &earlier}) a->resize(size_t(len));
        jpos.resize(size_t(len)), gidx.resize(size_t(len));
        for (int64_t k = 0; k < len; ++k) {
            jpos[size_t(k)] = int32_t((k / g.c) % g.pw);
            gidx[size_t(k)] = int32_t((k / (g.pw * g.c)) * g.c + k % g.c);
        }
    }

    static bool applies(const Pool2dGeom& g) {
        return g.c < 16 && g.sh == g.ph && g.sw == g.pw && g.pt == 0 && g.pl == 0 && g.ho > 0 && g.wo > 0 &&
               g.ho * g.ph <= g.h && g.wo * g.pw <= g.w && g.wo * g.pw * g.c < (int64_t(1) << 30);  // windows inside
    }

    // grad_x rows of output row (n, oh); the cells no window covers are zeroed by the caller.
    void backward_row(const Pool2dGeom& g, const T* gy, const T* x, T* gx, int64_t n, int64_t oh) {
        const int64_t len = g.wo * g.pw * g.c, C = g.c, pw = g.pw, row = g.w * g.c;
        const T* xr = x + (n * g.h + oh * g.ph) * row;
        T* __restrict vv = v.data();
        T* __restrict mm = me.data();
        T* __restrict gg = ge.data();
        T* __restrict tk = taken.data();
        T* __restrict ea = earlier.data();
        const int32_t* __restrict jp = jpos.data();
        const int32_t* __restrict gi = gidx.data();
        for (int64_t k = 0; k < len; ++k) vv[k] = xr[k];
        for (int64_t i = 1; i < g.ph; ++i) {
            const T* xi = xr + i * row;
#pragma omp simd
            for (int64_t k = 0; k < len; ++k) {
                const T a = xi[k], b = vv[k];
                vv[k] = takes_over(a, b) ? a : b;
            }
        }
        for (int64_t k = 0; k < len; ++k) mm[k] = vv[k];
        for (int64_t d = 1; d < pw; ++d) {  // the cells d columns to the right, then d to the left, of the same window
#pragma omp simd
            for (int64_t k = 0; k < len - d * C; ++k) {
                const T a = vv[k + d * C], b = mm[k];
                mm[k] = (jp[k] + d < pw) & takes_over(a, b) ? a : b;
            }
#pragma omp simd
            for (int64_t k = d * C; k < len; ++k) {
                const T a = vv[k - d * C], b = mm[k];
                mm[k] = (jp[k] >= d) & takes_over(a, b) ? a : b;
            }
        }
        const T* gr = gy + (n * g.ho + oh) * g.wo * C;
        for (int64_t k = 0; k < len; ++k) gg[k] = gr[gi[k]], tk[k] = T(0);
        for (int64_t i = 0; i < g.ph; ++i) {
            const T* xi = xr + i * row;
            T* gxi = gx + (n * g.h + oh * g.ph + i) * row;
            // vv now: 1 where the cell equals its window's maximum
#pragma omp simd
            for (int64_t k = 0; k < len; ++k) {
                const T a = xi[k], m = mm[k];
                vv[k] = (a == m) | ((a != a) & (m != m)) ? T(1) : T(0);
            }
            // a hit: equal, and the window not taken by an earlier row nor by an earlier cell of this one
            for (int64_t k = 0; k < len; ++k) ea[k] = tk[k];
            for (int64_t d = 1; d < pw; ++d) {
#pragma omp simd
                for (int64_t k = d * C; k < len; ++k) ea[k] = (jp[k] >= d) & (vv[k - d * C] > T(0)) ? T(1) : ea[k];
            }
#pragma omp simd
            for (int64_t k = 0; k < len; ++k) {
                const T e = vv[k], taken_before = ea[k], grad = gg[k];
                gxi[k] = (e > T(0)) & (taken_before == T(0)) ? grad : T(0);
            }
            for (int64_t d = 1; d < pw; ++d) {  // taken by this row: any cell of the window in it
#pragma omp simd
                for (int64_t k = 0; k < len - d * C; ++k) tk[k] = (jp[k] + d < pw) & (vv[k + d * C] > T(0)) ? T(1) : tk[k];
#pragma omp simd
                for (int64_t k = d * C; k < len; ++k) tk[k] = (jp[k] >= d) & (vv[k - d * C] > T(0)) ? T(1) : tk[k];
            }
#pragma omp simd
            for (int64_t k = 0; k < len; ++k) tk[k] = vv[k] > T(0) ? T(1) : tk[k];
        }
    }
};

// TiledRows for the common 2x2 stride-2 window in four full-width passes (TiledRows' general loops took 177 us at
// LeNet's 64x28x28x6, 2.4 ns a cell). Over a pair of input rows flattened to k = (2 ow + j) C + c, the cell's partner
// in the other column of its window is k + C (j = 0) or k - C (j = 1); the buffers carry C elements of padding on
// each side so that both reads stay in bounds.
template <typename T>
struct Pairs2x2 {
    int64_t len, C;
    std::vector<T> vb, e0b, e1b, gs, left;  // left: 1 where j = 0

    explicit Pairs2x2(const Pool2dGeom& g)
        : len(2 * g.wo * g.c), C(g.c), vb(size_t(len + 2 * C)), e0b(size_t(len + 2 * C)), e1b(size_t(len + 2 * C)),
          gs(size_t(len)), left(size_t(len)) {
        for (int64_t k = 0; k < len; ++k) left[size_t(k)] = (k / C) % 2 == 0 ? T(1) : T(0);
    }

    static bool applies(const Pool2dGeom& g) {
        return g.c < 16 && tiles_2x2(g);
    }

    // gg[(2 ow + j) C + c] = gr[ow C + c] for j = 0, 1; CC is C when it is a compile-time case, else 0. With C read at
    // run time the copy went value by value, a seventh of LeNet's 64x28x28x6 backward.
    template <int CC>
    static void spread(const T* __restrict gr, int64_t wo, int64_t c_run, T* __restrict gg) {
        const int64_t C = CC > 0 ? CC : c_run;
        for (int64_t ow = 0; ow < wo; ++ow)
            for (int64_t c = 0; c < C; ++c) gg[2 * ow * C + c] = gg[(2 * ow + 1) * C + c] = gr[ow * C + c];
    }

    static T pick(T a, T b) { return takes_over(b, a) ? b : a; }  // a first: a tie or a NaN keeps a
    static T same(T a, T m) { return (a == m) | ((a != a) & (m != m)) ? T(1) : T(0); }

    void backward_row(const Pool2dGeom& g, const T* gy, const T* x, T* gx, int64_t n, int64_t oh) {
        const int64_t row = g.w * g.c;
        const T* __restrict r0 = x + (n * g.h + 2 * oh) * row;
        const T* __restrict r1 = r0 + row;
        T* __restrict v = vb.data() + C;
        T* __restrict e0 = e0b.data() + C;
        T* __restrict e1 = e1b.data() + C;
        T* __restrict gg = gs.data();
        const T* __restrict lm = left.data();
#pragma omp simd
        for (int64_t k = 0; k < len; ++k) v[k] = pick(r0[k], r1[k]);
#pragma omp simd
        for (int64_t k = 0; k < len; ++k) {  // the window's maximum, spread over its cells: e0 holds it for now
            const T mine = v[k], right = v[k + C], before = v[k - C];
            e0[k] = lm[k] > T(0) ? pick(mine, right) : pick(before, mine);
        }
#pragma omp simd
        for (int64_t k = 0; k < len; ++k) {
            const T m = e0[k];
            e1[k] = same(r1[k], m);
            e0[k] = same(r0[k], m);
        }
        const T* gr = gy + (n * g.ho + oh) * g.wo * C;
        with_block_width(C, [&](auto cb) { spread<decltype(cb)::value>(gr, g.wo, C, gg); });
        T* __restrict g0 = gx + (n * g.h + 2 * oh) * row;
        T* __restrict g1 = g0 + row;
#pragma omp simd
        for (int64_t k = 0; k < len; ++k) {  // the first cell in (0,0) (0,1) (1,0) (1,1) order that holds the maximum
            const bool j0 = lm[k] > T(0);
            const T a = e0[k], b = e1[k], ar = e0[k + C], al = e0[k - C], bl = e1[k - C];
            const bool hit0 = (a > T(0)) & (j0 | (al == T(0)));
            const bool hit1 = (b > T(0)) & (a == T(0)) & (j0 ? ar == T(0) : (al == T(0)) & (bl == T(0)));
            g0[k] = hit0 ? gg[k] : T(0);
            g1[k] = hit1 ? gg[k] : T(0);
        }
    }
};

// One thread per image: grad_x is zeroed (unless disjoint windows cover every cell), then each window adds its
// gradient to its winning cell.
template <typename T>
void max_backward(const Pool2dGeom& g, const T* gy, const T* x, T* gx) {
    const bool tiled = g.sh == g.ph && g.sw == g.pw && g.pt == 0 && g.pl == 0 && g.ho * g.ph == g.h && g.wo * g.pw == g.w;
    const int threads = pool_threads_for(work_estimate({g.n, g.ho, g.wo, g.c, g.ph, g.pw}));
    if (Pairs2x2<T>::applies(g)) {
#pragma omp parallel num_threads(threads)
        {
            Pairs2x2<T> rows(g);
#pragma omp for schedule(static)
            for (int64_t n = 0; n < g.n; ++n) {
                if (!tiled) std::fill_n(gx + n * g.h * g.w * g.c, g.h * g.w * g.c, T(0));
                for (int64_t oh = 0; oh < g.ho; ++oh) rows.backward_row(g, gy, x, gx, n, oh);
            }
        }
        return;
    }
    if (TiledRows<T>::applies(g)) {
#pragma omp parallel num_threads(threads)
        {
            TiledRows<T> rows(g);
#pragma omp for schedule(static)
            for (int64_t n = 0; n < g.n; ++n) {
                if (!tiled) std::fill_n(gx + n * g.h * g.w * g.c, g.h * g.w * g.c, T(0));
                for (int64_t oh = 0; oh < g.ho; ++oh) rows.backward_row(g, gy, x, gx, n, oh);
            }
        }
        return;
    }
#pragma omp parallel for num_threads(threads) schedule(static)
    for (int64_t n = 0; n < g.n; ++n) {
        if (!tiled) std::fill_n(gx + n * g.h * g.w * g.c, g.h * g.w * g.c, T(0));
        for (int64_t c0 = 0; c0 < g.c; c0 += kMaxBlock) {
            const int64_t width = std::min(kMaxBlock, g.c - c0);
            with_block_width(width, [&](auto cb) {
                max_backward_image<T, decltype(cb)::value>(g, gy, x, gx, n, c0, width);
            });
        }
    }
}

}  // namespace
}  // namespace ember
