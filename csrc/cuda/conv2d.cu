// conv2d as implicit GEMMs on gemm_tile.cuh's product, one product per group (the group is the batch index):
//   forward          y[M, Og]    = A[M, K] w[K, Og]      M = N*Ho*Wo pixels, K = (i, j, cc) = KH*KW*Cg, A = x gathered
//   backward-input   gx[M, Cg]   = A[M, K] w^T[K, Cg]    M = N*H*W pixels,   K = (i, j, oo) = KH*KW*Og, A = gy gathered
//   backward-weight  gw[M, Og]   = A[M, K] gy[K, Og]     M = (i, j, cc),     K = N*Ho*Wo pixels, A = x gathered
// The gathers are the loaders below: padding reads 0 (as the reference's zero-padded input); in backward-input a
// tap that reaches no output of an input pixel is a hole (skipped), as the reference's col2im adds nothing there.
// The reductions K are decoded in 32 bits (checked: K < 2^31); pixel and element offsets are 64-bit.
// Depthwise (groups == C): direct per-element kernels, and backward-weight as per-(split, tap, channel) sums over
// chunks of pixels added in split order.
#include "conv2d.h"

#include <stdexcept>
#include <string>

#include "activation.cuh"
#include "exec.cuh"

namespace ember {
namespace cuda {
namespace {

struct ConvDims {
    int64_t n, h, w, c, o, ho, wo, sh, sw, pt, pl, dh, dw;
    uint32_t kw, cg, og, ho32, wo32;
};

// The 32-bit fields are the divisors of the decoded reductions; check_32bit bounds what they divide.
ConvDims dims(const Conv2dGeom& g) {
    ConvDims d;
    d.n = g.n, d.h = g.h, d.w = g.w, d.c = g.c, d.o = g.o, d.ho = g.ho, d.wo = g.wo;
    d.sh = g.sh, d.sw = g.sw, d.pt = g.pt, d.pl = g.pl, d.dh = g.dh, d.dw = g.dw;
    d.kw = uint32_t(g.kw), d.cg = uint32_t(g.cg()), d.og = uint32_t(g.og());
    d.ho32 = uint32_t(g.ho), d.wo32 = uint32_t(g.wo);
    return d;
}

void check_32bit(const char* op, const char* what, int64_t k) {
    if (k >= (int64_t(1) << 31))
        throw std::invalid_argument(std::string(op) + ": " + what + " = " + std::to_string(k) +
                                    " exceeds the CUDA kernels' 32-bit reduction index (at most 2**31 - 1)");
}

// forward A (m, k): m = output pixel (n, oh, ow), k = (i, j, cc).
template <typename T>
struct ForwardRows {
    static constexpr bool kHoles = false;
    const T* x;
    ConvDims d;
    int64_t chan0;
    bool k_fast;
    struct Ctx {
        const T* img;  // image n at the group's first channel; null past the last pixel
        int64_t ih0, iw0;
    };
    EMBER_HD ForwardRows for_batch(int64_t g) const {
        ForwardRows r = *this;
        r.chan0 = g * d.cg;
        return r;
    }
    EMBER_HD Ctx ctx(int64_t m) const {
        if (m >= d.n * d.ho * d.wo) return {nullptr, 0, 0};
        const int64_t ow = m % d.wo, t = m / d.wo, oh = t % d.ho, img = t / d.ho;
        return {x + img * d.h * d.w * d.c + chan0, oh * d.sh - d.pt, ow * d.sw - d.pl};
    }
    EMBER_HD T load(const Ctx& c, int64_t k) const {
        if (!c.img) return T(0);
        const uint32_t kk = uint32_t(k), cc = kk % d.cg, tap = kk / d.cg;
        const int64_t ih = c.ih0 + int64_t(tap / d.kw) * d.dh, iw = c.iw0 + int64_t(tap % d.kw) * d.dw;
        if (ih < 0 || ih >= d.h || iw < 0 || iw >= d.w) return T(0);
        return c.img[(ih * d.w + iw) * d.c + cc];
    }
};

// backward-input A (m, k): m = input pixel (n, ih, iw), k = (i, j, oo): the grad_y pixel tap (i, j) reads ih from.
template <typename T>
struct BackwardInputRows {
    static constexpr bool kHoles = true;
    const T* gy;
    ConvDims d;
    int64_t chan0;
    bool k_fast;
    struct Ctx {
        const T* img;  // grad_y image n at the group's first channel; null past the last pixel
        int64_t th, tw;  // ih + pt, iw + pl
    };
    EMBER_HD BackwardInputRows for_batch(int64_t g) const {
        BackwardInputRows r = *this;
        r.chan0 = g * d.og;
        return r;
    }
    EMBER_HD Ctx ctx(int64_t m) const {
        if (m >= d.n * d.h * d.w) return {nullptr, 0, 0};
        const int64_t iw = m % d.w, t = m / d.w, ih = t % d.h, img = t / d.h;
        return {gy + img * d.ho * d.wo * d.o + chan0, ih + d.pt, iw + d.pl};
    }
    // The output pixel (oh, ow) that reads this input pixel through tap k's (i, j), or -1 when there is none.
    EMBER_HD int64_t source(const Ctx& c, int64_t k) const {
        if (!c.img) return -1;
        const uint32_t tap = uint32_t(k) / d.og;
        const int64_t th = c.th - int64_t(tap / d.kw) * d.dh, tw = c.tw - int64_t(tap % d.kw) * d.dw;
        if (th < 0 || tw < 0 || th % d.sh != 0 || tw % d.sw != 0) return -1;
        const int64_t oh = th / d.sh, ow = tw / d.sw;
        if (oh >= d.ho || ow >= d.wo) return -1;
        return oh * d.wo + ow;
    }
    EMBER_HD bool present(const Ctx& c, int64_t k) const { return source(c, k) >= 0; }
    EMBER_HD T load(const Ctx& c, int64_t k) const {
        const int64_t pix = source(c, k);
        return pix < 0 ? T(0) : c.img[pix * d.o + uint32_t(k) % d.og];
    }
};

// backward-input B (index, k): index = input channel cc of the group, k = (i, j, oo): w[i, j, cc, g * Og + oo].
template <typename T>
struct BackwardInputWeights {
    const T* w;
    ConvDims d;
    int64_t chan0;
    bool k_fast;
    struct Ctx {
        const T* col;  // w[0, 0, cc, g * Og]; null past the last channel
    };
    EMBER_HD BackwardInputWeights for_batch(int64_t g) const {
        BackwardInputWeights r = *this;
        r.chan0 = g * d.og;
        return r;
    }
    EMBER_HD Ctx ctx(int64_t cc) const { return {cc < d.cg ? w + cc * d.o + chan0 : nullptr}; }
    EMBER_HD T load(const Ctx& c, int64_t k) const {
        if (!c.col) return T(0);
        const uint32_t kk = uint32_t(k), oo = kk % d.og, tap = kk / d.og;
        return c.col[int64_t(tap) * d.cg * d.o + oo];
    }
};

// backward-weight A (m, k): m = kernel row (i, j, cc), k = output pixel (n, oh, ow): x at the pixel tap reads.
template <typename T>
struct BackwardWeightRows {
    static constexpr bool kHoles = false;
    const T* x;
    ConvDims d;
    int64_t rows, chan0;
    bool k_fast;
    struct Ctx {
        const T* chan;  // x + the channel g * Cg + cc; null past the last row
        int64_t ioff, joff;
    };
    EMBER_HD BackwardWeightRows for_batch(int64_t g) const {
        BackwardWeightRows r = *this;
        r.chan0 = g * d.cg;
        return r;
    }
    EMBER_HD Ctx ctx(int64_t m) const {
        if (m >= rows) return {nullptr, 0, 0};
        const uint32_t mm = uint32_t(m), cc = mm % d.cg, tap = mm / d.cg;
        return {x + chan0 + cc, int64_t(tap / d.kw) * d.dh - d.pt, int64_t(tap % d.kw) * d.dw - d.pl};
    }
    EMBER_HD T load(const Ctx& c, int64_t k) const {
        if (!c.chan) return T(0);
        const uint32_t kk = uint32_t(k), ow = kk % d.wo32, t = kk / d.wo32, oh = t % d.ho32, img = t / d.ho32;
        const int64_t ih = oh * d.sh + c.ioff, iw = ow * d.sw + c.joff;
        if (ih < 0 || ih >= d.h || iw < 0 || iw >= d.w) return T(0);
        return c.chan[((img * d.h + ih) * d.w + iw) * d.c];
    }
};

// -- depthwise (groups == C, one input channel per group, Og = O / C outputs each) ---------------------------------
// Padding taps are included with x = 0 in the forward (as the reference's zero padding, so 0 * inf is NaN there too).
template <typename T>
struct DepthwiseForward {
    const T *x, *w;
    T* y;
    ConvDims d;
    int64_t kh;
    EMBER_HD void operator()(int64_t idx) const {
        const int64_t oc = idx % d.o, t = idx / d.o, ow = t % d.wo, t2 = t / d.wo, oh = t2 % d.ho, img = t2 / d.ho;
        const int64_t ch = oc / d.og;
        T acc = T(0);
        for (int64_t i = 0; i < kh; ++i) {
            const int64_t ih = oh * d.sh - d.pt + i * d.dh;
            for (int64_t j = 0; j < d.kw; ++j) {
                const int64_t iw = ow * d.sw - d.pl + j * d.dw;
                const bool inside = ih >= 0 && ih < d.h && iw >= 0 && iw < d.w;
                const T v = inside ? x[((img * d.h + ih) * d.w + iw) * d.c + ch] : T(0);
                acc = fma_(v, w[(i * d.kw + j) * d.o + oc], acc);
            }
        }
        y[idx] = acc;
    }
};

// grad_x (n, ih, iw, ch): taps in order, then the channel's Og outputs; only taps that reach an output pixel.
template <typename T>
struct DepthwiseBackwardInput {
    const T *gy, *w;
    T* gx;
    ConvDims d;
    int64_t kh;
    EMBER_HD void operator()(int64_t idx) const {
        const int64_t ch = idx % d.c, t = idx / d.c, iw = t % d.w, t2 = t / d.w, ih = t2 % d.h, img = t2 / d.h;
        T acc = T(0);
        for (int64_t i = 0; i < kh; ++i) {
            const int64_t th = ih + d.pt - i * d.dh;
            if (th < 0 || th % d.sh != 0 || th / d.sh >= d.ho) continue;
            for (int64_t j = 0; j < d.kw; ++j) {
                const int64_t tw = iw + d.pl - j * d.dw;
                if (tw < 0 || tw % d.sw != 0 || tw / d.sw >= d.wo) continue;
                const T* g = gy + ((img * d.ho + th / d.sh) * d.wo + tw / d.sw) * d.o + ch * d.og;
                const T* wt = w + (i * d.kw + j) * d.o + ch * d.og;
                for (int64_t q = 0; q < d.og; ++q) acc = fma_(g[q], wt[q], acc);
            }
        }
        gx[idx] = acc;
    }
};

// Partial grad_w of (split, tap, oc): the sum over pixels [split * chunk, ...) of x(tap) * grad_y, pixels in order.
template <typename T>
struct DepthwiseWeightPartial {
    const T *gy, *x;
    T* out;  // (splits, KH * KW, O), or grad_w itself when there is one split
    ConvDims d;
    int64_t taps, pixels, chunk;
    EMBER_HD void operator()(int64_t idx) const {
        const int64_t oc = idx % d.o, t = idx / d.o, tap = t % taps, split = t / taps;
        const int64_t ioff = (tap / d.kw) * d.dh - d.pt, joff = (tap % d.kw) * d.dw - d.pl, ch = oc / d.og;
        const int64_t p1 = min64(pixels, (split + 1) * chunk);
        T acc = T(0);
        for (int64_t p = split * chunk; p < p1; ++p) {
            const int64_t ow = p % d.wo, t2 = p / d.wo, oh = t2 % d.ho, img = t2 / d.ho;
            const int64_t ih = oh * d.sh + ioff, iw = ow * d.sw + joff;
            const bool inside = ih >= 0 && ih < d.h && iw >= 0 && iw < d.w;
            const T v = inside ? x[((img * d.h + ih) * d.w + iw) * d.c + ch] : T(0);
            acc = fma_(v, gy[p * d.o + oc], acc);
        }
        out[idx] = acc;
    }
};

bool depthwise(const Conv2dGeom& g) { return g.groups > 1 && g.groups == g.c; }

// Float32 products with enough 128 x 64 tiles to fill a GPU take them; the rest 64 x 64.
// The forward's store with its epilogue: group p's column n is output channel p * bs + n.
template <typename T>
struct EpilogueStore {
    T* c;
    int64_t bs, ld;
    ConvEpilogue<T> e;
    EMBER_HD T apply(int64_t channel, T v) const {
        if (e.bias) v += e.bias[channel];
        return e.activate ? activate(e.act, v, e.alpha) : v;
    }
    EMBER_HD void operator()(int64_t p, int64_t m, int64_t n, T v) const {
        c[p * bs + m * ld + n] = apply(p * bs + n, v);
    }
};

// The epilogue as a pass over y (NHWC, o channels), for the depthwise kernel.
template <typename T>
struct EpiloguePass {
    EpilogueStore<T> store;
    int64_t o;
    EMBER_HD void operator()(int64_t i) const { store.c[i] = store.apply(i % o, store.c[i]); }
};

template <typename T, class X, class LA, class LB, class S>
void conv_product(const X& x, const LA& a, const LB& b, const S& store, int64_t M, int64_t N, int64_t K,
                  int64_t groups, bool allow_split) {
    if constexpr (sizeof(T) == 4) {
        if (!allow_split && ceil_div(M, 128) * ceil_div(N, 64) * groups >= 132) {
            x.template tiled<T, 8, 4>(a, b, store, M, N, K, groups, false);
            return;
        }
    }
    x.template tiled<T, 4, 4>(a, b, store, M, N, K, groups, allow_split);
}

}  // namespace

template <class X, typename T>
void conv2d_forward(const Ctx& ctx, const Conv2dGeom& g, const T* x, const T* w, T* y, const ConvEpilogue<T>& e) {
    const X ex{ctx};
    const ConvDims d = dims(g);
    const bool plain = !e.bias && !e.activate;
    if (depthwise(g)) {
        ex.for_each(g.n * g.ho * g.wo * g.o, DepthwiseForward<T>{x, w, y, d, g.kh});
        if (!plain) ex.for_each(g.n * g.ho * g.wo * g.o, EpiloguePass<T>{{y, g.og(), g.o, e}, g.o});
        return;
    }
    const int64_t K = g.kh * g.kw * g.cg();
    check_32bit(ctx.op, "KH * KW * C / groups", K);
    const ForwardRows<T> a{x, d, 0, true};
    const StridedOperand<T> b = strided_operand(w, g.og(), 1, g.o, g.og());
    const int64_t M = g.n * g.ho * g.wo;
    if (plain)
        conv_product<T>(ex, a, b, StridedStore<T>{y, g.og(), g.o, T(1), T(0)}, M, g.og(), K, g.groups, false);
    else
        conv_product<T>(ex, a, b, EpilogueStore<T>{y, g.og(), g.o, e}, M, g.og(), K, g.groups, false);
}

template <class X, typename T>
void conv2d_backward_input(const Ctx& ctx, const Conv2dGeom& g, const T* gy, const T* w, T* gx) {
    const X ex{ctx};
    const ConvDims d = dims(g);
    if (depthwise(g)) {
        ex.for_each(g.n * g.h * g.w * g.c, DepthwiseBackwardInput<T>{gy, w, gx, d, g.kh});
        return;
    }
    const int64_t K = g.kh * g.kw * g.og();
    check_32bit(ctx.op, "KH * KW * O / groups", K);
    const BackwardInputRows<T> a{gy, d, 0, true};
    const BackwardInputWeights<T> b{w, d, 0, true};
    conv_product<T>(ex, a, b, StridedStore<T>{gx, g.cg(), g.c, T(1), T(0)}, g.n * g.h * g.w, g.cg(), K, g.groups,
                 false);
}

template <class X, typename T>
void conv2d_backward_weight(const Ctx& ctx, const Conv2dGeom& g, const T* gy, const T* x, T* gw) {
    const X ex{ctx};
    const ConvDims d = dims(g);
    const int64_t pixels = g.n * g.ho * g.wo;
    if (depthwise(g)) {
        const int64_t taps = g.kh * g.kw, outputs = taps * g.o;
        // Chunks of at least 512 pixels per thread, and no more than 64 of them (from the shapes alone).
        const int64_t splits = max64(1, min64(64, pixels / 512));
        const int64_t chunk = max64(1, ceil_div(pixels, splits));
        if (splits == 1) {
            ex.for_each(outputs, DepthwiseWeightPartial<T>{gy, x, gw, d, taps, pixels, chunk});
            return;
        }
        auto partial = ex.template scratch<T>(size_t(splits * outputs));
        ex.for_each(splits * outputs, DepthwiseWeightPartial<T>{gy, x, partial.get(), d, taps, pixels, chunk});
        const StridedStore<T> store{gw, 0, outputs, T(1), T(0)};
        ex.for_each(outputs, SplitSum<T, StridedStore<T>>{partial.get(), store, 1, outputs, int(splits)});
        return;
    }
    check_32bit(ctx.op, "N * Ho * Wo", pixels);
    const int64_t rows = g.kh * g.kw * g.cg();
    check_32bit(ctx.op, "KH * KW * C / groups", rows);
    const BackwardWeightRows<T> a{x, d, rows, 0, false};
    const StridedOperand<T> b = strided_operand(gy, g.og(), 1, g.o, g.og());
    conv_product<T>(ex, a, b, StridedStore<T>{gw, g.og(), g.o, T(1), T(0)}, rows, g.og(), pixels, g.groups, true);
}

#define EMBER_CUDA_CONV_INSTANTIATE(X, T)                                                           \
    template void conv2d_forward<X, T>(const Ctx&, const Conv2dGeom&, const T*, const T*, T*,         \
                                       const ConvEpilogue<T>&);                                       \
    template void conv2d_backward_input<X, T>(const Ctx&, const Conv2dGeom&, const T*, const T*, T*); \
    template void conv2d_backward_weight<X, T>(const Ctx&, const Conv2dGeom&, const T*, const T*, T*);
EMBER_CUDA_FOR_EXECS(EMBER_CUDA_CONV_INSTANTIATE)

}  // namespace cuda
}  // namespace ember
