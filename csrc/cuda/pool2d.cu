// Pooling: one thread per output cell (forward) or per input cell (backward), consecutive threads on consecutive
// channels (contiguous in NHWC). Max backward runs in two passes: each window's winning cell (as a pixel index,
// -1 for none), then each input cell adds grad_y of the windows it won, in window order.
#include "pool2d.h"

#include "exec.cuh"

namespace ember {
namespace cuda {
namespace {

struct PoolDims {
    int64_t n, h, w, c, ph, pw, ho, wo, sh, sw, pt, pl;
};

PoolDims dims(const Pool2dGeom& g) { return {g.n, g.h, g.w, g.c, g.ph, g.pw, g.ho, g.wo, g.sh, g.sw, g.pt, g.pl}; }

// Output cell idx of (N, Ho, Wo, C) and its window's real cells [h0, h1) x [w0, w1).
struct Window {
    int64_t n, ch, h0, h1, w0, w1;
};

EMBER_HD Window window(const PoolDims& d, int64_t idx) {
    const int64_t ch = idx % d.c, t = idx / d.c, ow = t % d.wo, t2 = t / d.wo, oh = t2 % d.ho, n = t2 / d.ho;
    const int64_t hs = oh * d.sh - d.pt, ws = ow * d.sw - d.pl;
    const int64_t h0 = max64(hs, 0), w0 = max64(ws, 0);
    return {n, ch, h0, max64(h0, min64(hs + d.ph, d.h)), w0, max64(w0, min64(ws + d.pw, d.w))};
}

// v takes over from the running best b when larger or NaN; a NaN best is never replaced (the first NaN wins).
template <typename T>
EMBER_HD bool takes_over(T v, T b) {
    return (v > b || v != v) && b == b;
}

// The winning cell of window idx as pixel index ih * W + iw, or -1 for a window of padding only; its value in *best.
template <typename T>
EMBER_HD int64_t winner(const PoolDims& d, const T* x, int64_t idx, T* best) {
    const Window win = window(d, idx);
    int64_t at = -1;
    T b = T(0);
    for (int64_t hi = win.h0; hi < win.h1; ++hi)
        for (int64_t wi = win.w0; wi < win.w1; ++wi) {
            const T v = x[((win.n * d.h + hi) * d.w + wi) * d.c + win.ch];
            if (at < 0 || takes_over(v, b)) {
                b = v;
                at = hi * d.w + wi;
            }
        }
    *best = b;
    return at;
}

template <typename T>
struct MaxForward {
    const T* x;
    T* y;
    PoolDims d;
    EMBER_HD void operator()(int64_t idx) const {
        T best;
        winner(d, x, idx, &best);
        y[idx] = best;  // 0 for a window of padding only
    }
};

template <typename T>
struct MaxWinners {
    const T* x;
    int64_t* win;
    PoolDims d;
    EMBER_HD void operator()(int64_t idx) const {
        T best;
        win[idx] = winner(d, x, idx, &best);
    }
};

// The windows covering input row ih: oh in [lo, hi] with oh * sh - pt <= ih < oh * sh - pt + ph, 0 <= oh < Ho.
EMBER_HD void covering(int64_t i, int64_t pad, int64_t k, int64_t s, int64_t out, int64_t& lo, int64_t& hi) {
    const int64_t first = i + pad - k + 1;  // the window must start at or after this (in padded coordinates)
    lo = first <= 0 ? 0 : ceil_div(first, s);
    hi = min64(out - 1, (i + pad) / s);
}

template <typename T>
struct MaxBackward {
    const T* gy;
    const int64_t* win;
    T* gx;
    PoolDims d;
    EMBER_HD void operator()(int64_t idx) const {
        const int64_t ch = idx % d.c, t = idx / d.c, iw = t % d.w, t2 = t / d.w, ih = t2 % d.h, n = t2 / d.h;
        int64_t oh0, oh1, ow0, ow1;
        covering(ih, d.pt, d.ph, d.sh, d.ho, oh0, oh1);
        covering(iw, d.pl, d.pw, d.sw, d.wo, ow0, ow1);
        const int64_t pixel = ih * d.w + iw;
        T acc = T(0);
        for (int64_t oh = oh0; oh <= oh1; ++oh)
            for (int64_t ow = ow0; ow <= ow1; ++ow) {
                const int64_t out = ((n * d.ho + oh) * d.wo + ow) * d.c + ch;
                if (win[out] == pixel) acc += gy[out];
            }
        gx[idx] = acc;
    }
};

EMBER_HD int64_t real_cells(const Window& win) { return max64((win.h1 - win.h0) * (win.w1 - win.w0), 1); }

template <typename T>
struct AvgForward {
    const T* x;
    T* y;
    PoolDims d;
    EMBER_HD void operator()(int64_t idx) const {
        const Window win = window(d, idx);
        T sum = T(0);
        for (int64_t hi = win.h0; hi < win.h1; ++hi)
            for (int64_t wi = win.w0; wi < win.w1; ++wi) sum += x[((win.n * d.h + hi) * d.w + wi) * d.c + win.ch];
        y[idx] = sum / T(real_cells(win));
    }
};

template <typename T>
struct AvgBackward {
    const T* gy;
    T* gx;
    PoolDims d;
    EMBER_HD void operator()(int64_t idx) const {
        const int64_t ch = idx % d.c, t = idx / d.c, iw = t % d.w, t2 = t / d.w, ih = t2 % d.h, n = t2 / d.h;
        int64_t oh0, oh1, ow0, ow1;
        covering(ih, d.pt, d.ph, d.sh, d.ho, oh0, oh1);
        covering(iw, d.pl, d.pw, d.sw, d.wo, ow0, ow1);
        T acc = T(0);
        for (int64_t oh = oh0; oh <= oh1; ++oh)
            for (int64_t ow = ow0; ow <= ow1; ++ow) {
                const int64_t out = ((n * d.ho + oh) * d.wo + ow) * d.c + ch;
                acc += gy[out] / T(real_cells(window(d, out)));
            }
        gx[idx] = acc;
    }
};

}  // namespace

template <class X, typename T>
void max_pool2d_forward(const Ctx& ctx, const Pool2dGeom& g, const T* x, T* y) {
    X{ctx}.for_each(g.n * g.ho * g.wo * g.c, MaxForward<T>{x, y, dims(g)});
}

template <class X, typename T>
void max_pool2d_backward(const Ctx& ctx, const Pool2dGeom& g, const T* gy, const T* x, T* gx) {
    const X ex{ctx};
    const int64_t outputs = g.n * g.ho * g.wo * g.c;
    auto win = ex.template scratch<int64_t>(size_t(outputs));
    ex.for_each(outputs, MaxWinners<T>{x, win.get(), dims(g)});
    ex.for_each(g.n * g.h * g.w * g.c, MaxBackward<T>{gy, win.get(), gx, dims(g)});
}

template <class X, typename T>
void avg_pool2d_forward(const Ctx& ctx, const Pool2dGeom& g, const T* x, T* y) {
    X{ctx}.for_each(g.n * g.ho * g.wo * g.c, AvgForward<T>{x, y, dims(g)});
}

template <class X, typename T>
void avg_pool2d_backward(const Ctx& ctx, const Pool2dGeom& g, const T* gy, T* gx) {
    X{ctx}.for_each(g.n * g.h * g.w * g.c, AvgBackward<T>{gy, gx, dims(g)});
}

#define EMBER_CUDA_POOL_INSTANTIATE(X, T)                                                              \
    template void max_pool2d_forward<X, T>(const Ctx&, const Pool2dGeom&, const T*, T*);                 \
    template void max_pool2d_backward<X, T>(const Ctx&, const Pool2dGeom&, const T*, const T*, T*);      \
    template void avg_pool2d_forward<X, T>(const Ctx&, const Pool2dGeom&, const T*, T*);                 \
    template void avg_pool2d_backward<X, T>(const Ctx&, const Pool2dGeom&, const T*, T*);
EMBER_CUDA_FOR_EXECS(EMBER_CUDA_POOL_INSTANTIATE)

}  // namespace cuda
}  // namespace ember
