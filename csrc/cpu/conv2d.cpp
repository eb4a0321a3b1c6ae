// Convolution on the GEMM. With NHWC input and HWIO weights, one output pixel's reduction axis
// (kh, kw, c) is contiguous both in an im2col row and in the weight matrix, so per group:
//   forward          Y[M, Og]   = col(X)[M, K] @ W[K, Og]          M = N*Ho*Wo, K = KH*KW*Cg
//   backward-input   dcol[M, K] = dY[M, Og] @ W^T, then gathered back onto X's pixels (col2im)
//   backward-weight  dW[K, Og]  = col(X)^T @ dY
// 1x1 stride-1 unpadded convolutions skip im2col (X already is the column matrix), and depthwise ones
// (groups == C) run direct loops vectorized over channels, since their per-group GEMMs are too thin, and so do
// narrow layers (few channels, stride 1: conv2d_direct.h), whose GEMMs would be mostly padding. 3x3 stride-1 layers
// from 16 channels run Winograd's F(2x2, 3x3) (conv2d_winograd.h), the rest mostly the implicit GEMM (conv2d_rows.h).
// The im2col buffer is built in chunks of a fixed size (not a function of the thread count), and
// backward passes assign each output element to one thread, so results do not depend on the thread count.
#include "conv2d.h"

#include <algorithm>
#include <atomic>
#include <memory>
#include <stdexcept>
#include <string>

#include "../common/parallel.h"
#include "conv2d_direct.h"
#include "conv2d_im2col.h"
#include "conv2d_rows.h"
#include "conv2d_winograd.h"
#include "gemm.h"

namespace ember {
namespace {

constexpr int64_t kColBudget = int64_t(1) << 21;  // elements per im2col chunk: 8 MiB of float, fits L3

int threads_for(int64_t work) { return work < 32768 ? 1 : get_num_threads(); }

// set_conv2d_path's choice: 0 auto, else the forced family (where it does not apply, the GEMM path runs).
enum Path { kAuto, kGemm, kDirect, kRows, kWinograd, kDot };
const char* const kPathNames[] = {"auto", "gemm", "direct", "rows", "winograd", "dot"};
std::atomic<int> forced_path{kAuto};

bool allowed(Path p) { return forced_path.load(std::memory_order_relaxed) == kAuto || forced_path == p; }
bool forced(Path p) { return forced_path.load(std::memory_order_relaxed) == p; }

bool is_pointwise(const Conv2dGeom& g) {
    return g.kh == 1 && g.kw == 1 && g.sh == 1 && g.sw == 1 && g.pt == 0 && g.pb == 0 && g.pl == 0 && g.pr == 0;
}

bool is_depthwise(const Conv2dGeom& g) { return g.groups > 1 && g.groups == g.c; }

template <typename T>
std::unique_ptr<T[]> uninitialized(int64_t count) {
    return std::unique_ptr<T[]>(new T[size_t(std::max<int64_t>(count, 1))]);
}

// Rows [r0, r1) of group gi's column matrix (conv2d_im2col.h), in parallel.
template <typename T>
void im2col(const Conv2dGeom& g, const T* x, int64_t gi, int64_t r0, int64_t r1, T* col) {
    const int64_t K = g.kh * g.kw * g.cg();
#pragma omp parallel for num_threads(threads_for((r1 - r0) * K)) schedule(static)
    for (int64_t r = r0; r < r1; ++r) im2col_row(g, x, gi, r, col + (r - r0) * K);
}

// Adds the dcol rows of output rows [oh0, oh1) of one image onto its grad_x image (one group, no column dilation):
// the (kh = i) slice of an output pixel's dcol row is kw * C contiguous values that land on kw * C contiguous values
// of one grad_x row, so each is one vector add (LeNet's 6-channel 5x5: 30 floats). dcol starts at row oh0.
template <typename T>
void add_dcol_rows(const Conv2dGeom& g, const T* dcol, int64_t oh0, int64_t oh1, T* img) {
    const int64_t K = g.kh * g.kw * g.c;
    for (int64_t oh = oh0; oh < oh1; ++oh)
        for (int64_t i = 0; i < g.kh; ++i) {
            const int64_t hi = oh * g.sh - g.pt + i * g.dh;
            if (hi < 0 || hi >= g.h) continue;
            T* row = img + hi * g.w * g.c;
            // Pixels `apart` apart have disjoint runs: taken in that order, no add reads a run the add before it is
            // still storing (in pixel order each run overlapped the last, and waited for its stores to retire).
            const int64_t apart = (g.kw + g.sw - 1) / g.sw;
            for (int64_t phase = 0; phase < apart; ++phase)
                for (int64_t ow = phase; ow < g.wo; ow += apart) {
                    const int64_t w0 = ow * g.sw - g.pl;
                    const int64_t j0 = std::max<int64_t>(0, -w0), j1 = std::min(g.kw, g.w - w0);
                    if (j0 >= j1) continue;
                    const T* src = dcol + ((oh - oh0) * g.wo + ow) * K + (i * g.kw + j0) * g.c;
                    T* dst = row + (w0 + j0) * g.c;
                    const int64_t len = (j1 - j0) * g.c;
#pragma omp simd
                    for (int64_t e = 0; e < len; ++e) dst[e] += src[e];
                }
        }
}

// grad_x of images [n0, n1), group gi, from their dcol rows. One thread per image, in a fixed order, so the sums do
// not depend on the thread count. Otherwise than add_dcol_rows' case each grad_x pixel gathers the entries that
// read it, channel by channel: 3.5x slower at LeNet's 6->16.
template <typename T>
void col2im(const Conv2dGeom& g, const T* dcol, int64_t gi, int64_t n0, int64_t n1, T* gx) {
    const int64_t cg = g.cg(), K = g.kh * g.kw * cg;
    if (g.groups == 1 && g.dw == 1) {
#pragma omp parallel for num_threads(threads_for(work_estimate({n1 - n0, g.ho, g.wo, K}))) schedule(static)
        for (int64_t n = n0; n < n1; ++n) {
            T* img = gx + n * g.h * g.w * g.c;
            std::fill(img, img + g.h * g.w * g.c, T(0));
            add_dcol_rows(g, dcol + (n - n0) * g.ho * g.wo * K, 0, g.ho, img);
        }
        return;
    }
#pragma omp parallel for num_threads(threads_for(work_estimate({n1 - n0, g.h, g.w, K}))) schedule(static)
    for (int64_t t = 0; t < (n1 - n0) * g.h; ++t) {
        const int64_t n = n0 + t / g.h, hi = t % g.h;
        for (int64_t wi = 0; wi < g.w; ++wi) {
            T* dst = gx + ((n * g.h + hi) * g.w + wi) * g.c + gi * cg;
            std::fill(dst, dst + cg, T(0));
            for (int64_t i = 0; i < g.kh; ++i) {
                const int64_t th = hi + g.pt - i * g.dh;
                if (th < 0 || th % g.sh != 0 || th / g.sh >= g.ho) continue;
                const int64_t oh = th / g.sh;
                for (int64_t j = 0; j < g.kw; ++j) {
                    const int64_t tw = wi + g.pl - j * g.dw;
                    if (tw < 0 || tw % g.sw != 0 || tw / g.sw >= g.wo) continue;
                    const int64_t ow = tw / g.sw;
                    const T* src = dcol + (((n - n0) * g.ho + oh) * g.wo + ow) * K + (i * g.kw + j) * cg;
                    for (int64_t ci = 0; ci < cg; ++ci) dst[ci] += src[ci];
                }
            }
        }
    }
}

// The input gradient image by image (one group, no column dilation, two images or more): each thread
// takes whole images, and per band of output rows computes their dcol rows (gemm_panels against W^T, packed once)
// and adds them onto grad_x while they are in L2, where the batch-wide product writes and rereads every dcol row
// from memory (LeNet's 6->16 5x5, 64 images: 3.8 MB of them; 0.39 -> 0.30 ms). The path for every strided layer
// (ResNet's 3x3 stride-2 64->128 at 56x56, N=32: 18.9 ms, PyTorch 28.3). Each element's sums run in a fixed order.
constexpr int64_t kBandBudget = int64_t(1) << 14;  // dcol elements per band: 64 KiB of float

// Not a function of the thread count (the batch-wide product may sum in another order): one image is left to the
// batch-wide product, which has more than one thread's work in it.
bool by_image_backward_input_applies(const Conv2dGeom& g) { return g.groups == 1 && g.dw == 1 && g.n >= 2; }

template <typename T>
void backward_input_by_image(const Conv2dGeom& g, const T* gy, const T* w, T* gx) {
    const int64_t K = g.kh * g.kw * g.c, nr = gemm_panel_width<T>(), ldp = g.o * nr;
    auto packed = uninitialized<T>((K + nr - 1) / nr * ldp);
    gemm_pack_panels<T>(g.o, K, w, 1, g.o, nr, packed.get());  // W^T (O, K): element (oo, k) at w[k * O + oo]
    const int64_t band = std::clamp<int64_t>(kBandBudget / std::max<int64_t>(g.wo * K, 1), 1, std::max<int64_t>(g.ho, 1));
#pragma omp parallel num_threads(threads_for(work_estimate({g.n, g.ho, g.wo, K, g.o})))
    {
        auto dcol = uninitialized<T>(band * g.wo * K);
#pragma omp for schedule(static)
        for (int64_t n = 0; n < g.n; ++n) {
            T* img = gx + n * g.h * g.w * g.c;
            std::fill(img, img + g.h * g.w * g.c, T(0));
            for (int64_t oh0 = 0; oh0 < g.ho; oh0 += band) {
                const int64_t oh1 = std::min(g.ho, oh0 + band);
                gemm_panels<T>((oh1 - oh0) * g.wo, K, g.o, gy + (n * g.ho + oh0) * g.wo * g.o, g.o, packed.get(),
                               ldp, nr, dcol.get(), K);
                add_dcol_rows(g, dcol.get(), oh0, oh1, img);
            }
        }
    }
}

// The input gradient of a stride-1, undilated, one-group convolution is a stride-1 convolution of grad_y with the
// kernel flipped in space and transposed in channels, padded by (KH - 1 - pt, KH - 1 - pb, KW - 1 - pl, KW - 1 - pr):
// t, when that padding is not negative.
bool transposed_geometry(const Conv2dGeom& g, Conv2dGeom& t) {
    t = g;
    t.h = g.ho, t.w = g.wo, t.c = g.o, t.o = g.c, t.ho = g.h, t.wo = g.w;
    t.pt = g.kh - 1 - g.pt, t.pb = g.kh - 1 - g.pb, t.pl = g.kw - 1 - g.pl, t.pr = g.kw - 1 - g.pr;
    return g.groups == 1 && g.sh == 1 && g.sw == 1 && g.dh == 1 && g.dw == 1 && t.pt >= 0 && t.pb >= 0 &&
           t.pl >= 0 && t.pr >= 0 && g.n * g.ho * g.wo > 0;
}

// The transposed forward computes the padded border as zeros: past 1.5x the output's pixels (LeNet's 12x12 -> 8x8:
// 2.25x) the GEMM path, which touches only real pixels, was ahead (0.87 vs 0.97 ms at 14x14 -> 10x10, 6 -> 16). Past
// 128 channel pairs the GEMM path (with col2im's row adds) is ahead too: 16->16 3x3 1.24 vs 1.97 ms, 16->32 2.06 vs
// 4.22; at 8->16, 16->8, 4->8 and 6->6 5x5 the direct one leads by 10-40% (N=32, 31x31, 1 thread).
bool direct_backward_input_applies(const Conv2dGeom& g, const Conv2dGeom& t) {
    const bool little_border = 2 * g.h * g.w <= 3 * g.ho * g.wo;
    return g.c * g.o <= 128 && little_border && conv2d_direct_forward_applies(t);
}

// grad_x as the forward of the transposed geometry t (transposed_geometry) with the kernel flipped and transposed,
// by the direct or the rows forward.
template <typename T, class Forward>
void transposed_backward_input(const Conv2dGeom& g, const Conv2dGeom& t, const T* gy, const T* w, T* gx,
                               Forward forward) {
    auto flipped = uninitialized<T>(g.kh * g.kw * g.c * g.o);  // (KH, KW, O, C)
    for (int64_t i = 0; i < g.kh; ++i)
        for (int64_t j = 0; j < g.kw; ++j)
            for (int64_t c = 0; c < g.c; ++c)
                for (int64_t o = 0; o < g.o; ++o)
                    flipped[((i * g.kw + j) * g.o + o) * g.c + c] =
                        w[(((g.kh - 1 - i) * g.kw + (g.kw - 1 - j)) * g.c + c) * g.o + o];
    forward(t, gy, flipped.get(), gx);
}

// The rows path (conv2d_rows.h) reads each kernel row's taps as one contiguous run: one group, no column dilation.
bool rows_supported(const Conv2dGeom& g) { return g.groups == 1 && g.dw == 1 && g.modest_padding(); }
// Where it is ahead (dev/conv_bench.py, 2 threads, AVX-512, ms): at every layer measured, 1x1 included, against
// im2col + GEMM (VGG 3x3 128->128 N32 28x28 forward 33.3 vs 39.0, weight gradient 33.4 vs 42.3; the binary
// classifier's 3->16 forward 0.62 vs 2.55, weight gradient 0.47 vs 3.89), and against the direct path except in the
// forward of layers with at most 8 output channels, which leave half the vector lanes idle here (5x5 3->8: direct
// 0.31, rows 0.40). The input gradient runs it on the transposed geometry, whose output channels are the layer's
// inputs: from 16 of them, ahead of the direct one too (ms, N=32 31x31, 2 threads: 16->32 3x3 1.69, by image 2.64;
// 16->8 5x5 0.81, direct 1.23). Below 16, the by-image GEMM (backward_input_by_image) where the layer has 16 outputs
// or more (6->16 5x5 N=64 14x14: 0.31, direct 0.39), else the direct one where it applies (4->8 5x5: 0.33, by image
// 0.54; 8->8 3x3 'same' 0.27 against 0.40). At most 8 input channels the direct one is the pixel-vector kernel and
// leads by image from 16 outputs too (8->16 5x5 N=32 31x31: 1.01 against 1.30; 3->16 3x3 62x62 1.48 against 2.04);
// LeNet's 14x14 stays by image, its border too wide for the direct path (direct_backward_input_applies).
bool rows_forward_applies(const Conv2dGeom& g) { return !(g.o <= 8 && conv2d_direct_forward_applies(g)); }
bool rows_backward_input_applies(const Conv2dGeom& g) { return g.c >= 16; }

// A 1x1 layer is a GEMM as it stands (no im2col). Since the GEMM reads a transposed A in place (its weight gradient)
// it is ahead of the rows path in every pass, except a forward whose bias and activation the rows path fuses on few
// input channels. Zen 3, 2 threads, ms (in-process A/B, N = 32): 256->64 28x28 input gradient 5.07 vs 6.14, weight
// gradient 6.68 vs 9.16; 1024->256 7x7 (N = 64) forward 8.91 vs 11.84, input gradient 9.48 vs 13.62, weight gradient
// 9.74 vs 15.07; 64->256 28x28 with bias and relu forward 6.37 vs 5.67 (rows), 512->128 14x14 4.55 vs 4.77.
// Narrower 1x1 layers than those measured (C * O < 4096) keep the other paths.
bool pointwise_gemm_ahead(const Conv2dGeom& g, bool epilogue) {
    return is_pointwise(g) && g.c * g.o >= 4096 && (!epilogue || g.c >= 512);
}

// Winograd (conv2d_winograd.h) where its 2.25x fewer products outweigh its transforms, whose cost per product
// grows as the channels shrink. Zen 3, 2 threads, N = 32, ms, against the other paths' best: 128->128 28x28 21.6 vs
// 40.3, 256->256 14x14 20.1 vs 41.0, 16->32 31x31 1.12 vs 1.37, 32->8 1.15 vs 1.60, 16->8 (8->16's input gradient)
// 3.01 vs 3.44, 16->16 equal; behind at 8->16 (1.97 vs 1.60), 8->32 (1.27 vs 0.76), 8->8 and 3->16. Under ~24
// tiles of 2x2 outputs the weights' transform (16 C O values) outweighs the products it saves: 512->512 on one 7x7
// image (16 tiles) 5.4 vs 5.3 ms, on four 7.4 vs 9.1; 256->256 on two 4x4 (8 tiles) 0.70 vs 0.64.
// With AVX-512 the products' 32-wide panels are half empty below 32 outputs, and the rows path, 16 lanes and 24
// accumulators, is ahead there at every shape measured (Zen 5, 2 threads, N = 32, 3x3, ms, Winograd vs rows): 16->16
// 31x31 0.50 vs 0.33, 32->16 0.81 vs 0.63 (16->32's input gradient: 0.84-0.97 vs 0.63-0.66), 128->16 2.86 vs 2.47,
// 64->8 14x14 0.32 vs 0.27; from 32 outputs Winograd leads again (16->32 0.51 vs 0.59, 32->32 0.82 vs 1.13).
// The dot-product input gradient (conv2d_dot_impl.h) leads every other path with the AVX-512 kernels from two input
// channels (Zen 5, 2 threads, ms, against the best other: LeNet's 6->16 5x5 N=64 14x14 0.111 vs 0.162 (by image),
// 8->16 5x5 N=32 31x31 0.42 vs 0.43 (direct), 3->16 3x3 62x62 0.61 vs 0.73 (direct), 4->16 3x3 'same' 32x32 0.15 vs
// 0.18, 8->32 3x3 0.36 vs 0.50, 6->32 5x5 0.20 vs 0.23). One channel leaves half its lanes idle (1->16 3x3 0.16 vs
// 0.14, direct). With 16 registers and 8 lanes its tiles are one or two pixels, and it is 1.5-2.5x behind.
bool dot_backward_input_ahead(const Conv2dGeom& g) { return gemm_isa() == 2 && g.c >= 2; }

int64_t winograd_min_outputs() { return gemm_isa() == 2 ? 32 : 8; }
bool winograd_ahead(const Conv2dGeom& g) {
    return g.c >= 16 && g.o >= winograd_min_outputs() && g.n * ((g.ho + 1) / 2) * ((g.wo + 1) / 2) >= 24;
}
bool winograd_chosen(const Conv2dGeom& g) {
    return conv2d_winograd_applies(g) && (forced(kWinograd) || (forced(kAuto) && winograd_ahead(g)));
}
// Its weight gradient's 16 products are C x O with a reduction over the tiles, and lose to the rows path's where
// C x O is small for the image's width: the rows path's tiles run along output rows, short on small images. Ahead
// from C x O >= 128 * min(Wo, 16) (ms, as above, N = 32 unless noted): 128->128 28x28 28 vs 58, 256->256 14x14 25 vs
// 58, 64->64 56x56 N16 19 vs 23, 32->64 16x16 2.03 vs 3.19, 32->64 4x4 0.24 vs 0.53, 32->32 8x8 0.44 vs 0.60,
// 16->32 4x4 0.13 vs 0.24; behind at 32->32 56x56 16.3 vs 13.9, 32->32 14x14 0.85 vs 0.80, 16->32 31x31 2.8 vs 1.8,
// 16->32 8x8 0.43 vs 0.32.
bool winograd_weight_chosen(const Conv2dGeom& g) {
    return winograd_chosen(g) && (forced(kWinograd) || g.c * g.o >= 128 * std::min<int64_t>(g.wo, 16));
}

}  // namespace

std::string conv2d_path() { return kPathNames[forced_path.load()]; }

void set_conv2d_path(const std::string& name) {
    for (int p = kAuto; p <= kDot; ++p)
        if (name == kPathNames[p]) {
            forced_path = p;
            return;
        }
    throw std::invalid_argument(
        "set_conv2d_path: expected 'auto', 'gemm', 'direct', 'rows', 'winograd' or 'dot', got '" + name + "'");
}

namespace {

// The epilogue the rows and direct forwards apply as they store, when they take this one (no activation, relu,
// leaky_relu).
template <typename T>
bool store_epilogue(const ConvEpilogue<T>& e, StoreEpilogue<T>& r) {
    r.bias = e.bias, r.alpha = e.alpha;
    if (!e.act) return r.kind = StoreEpilogue<T>::kIdentity, true;
    if (*e.act == Activation::relu) return r.kind = StoreEpilogue<T>::kRelu, true;
    if (*e.act == Activation::leaky_relu) return r.kind = StoreEpilogue<T>::kLeakyRelu, true;
    return false;
}

template <typename T>
void conv2d_pass(const Conv2dGeom& g, const T* x, const T* w, T* y) {
    const int64_t M = g.n * g.ho * g.wo, cg = g.cg(), og = g.og(), K = g.kh * g.kw * cg;
    if (is_depthwise(g) && allowed(kDirect)) return conv_direct_kernels<T>().depthwise_forward(g, x, w, y);
    if (conv2d_direct_forward_applies(g) && allowed(kDirect))
        return conv_direct_kernels<T>().forward(g, x, w, y, StoreEpilogue<T>{});
    if (is_pointwise(g)) {
        for (int64_t gi = 0; gi < g.groups; ++gi)
            gemm<T>(M, og, cg, T(1), x + gi * cg, g.c, 1, w + gi * og, g.o, 1, T(0), y + gi * og, g.o, 1);
        return;
    }
    const int64_t chunk = std::min(M, std::max<int64_t>(1, kColBudget / K));
    auto col = uninitialized<T>(chunk * K);
    for (int64_t gi = 0; gi < g.groups; ++gi)
        for (int64_t r0 = 0; r0 < M; r0 += chunk) {
            const int64_t r1 = std::min(M, r0 + chunk);
            im2col(g, x, gi, r0, r1, col.get());
            gemm<T>(r1 - r0, og, K, T(1), col.get(), K, 1, w + gi * og, g.o, 1, T(0), y + r0 * g.o + gi * og, g.o, 1);
        }
}

}  // namespace

template <typename T>
void conv2d_forward(const Conv2dGeom& g, const T* x, const T* w, T* y, const ConvEpilogue<T>& epilogue) {
    const int64_t M = g.n * g.ho * g.wo;
    if (M == 0) return;
    StoreEpilogue<T> fused;
    const bool fusable = store_epilogue(epilogue, fused);
    if (winograd_chosen(g)) {
        conv_winograd_kernels<T>().forward(g, x, w, y, fusable ? fused : StoreEpilogue<T>{});
        if (!fusable && epilogue.any())
            bias_activation_forward(epilogue.act, M, g.o, y, epilogue.bias, y, epilogue.alpha);
        return;
    }
    const bool rows = rows_supported(g) && (forced(kRows) || (forced(kAuto) && rows_forward_applies(g) &&
                                                              !pointwise_gemm_ahead(g, epilogue.any())));
    const bool direct = !rows && !is_depthwise(g) && conv2d_direct_forward_applies(g) && allowed(kDirect);
    if (fusable && rows) return conv_rows_kernels<T>().forward(g, x, w, y, fused);
    if (fusable && direct) return conv_direct_kernels<T>().forward(g, x, w, y, fused);
    if (rows)
        conv_rows_kernels<T>().forward(g, x, w, y, StoreEpilogue<T>{});
    else
        conv2d_pass(g, x, w, y);
    if (epilogue.any()) bias_activation_forward(epilogue.act, M, g.o, y, epilogue.bias, y, epilogue.alpha);
}

template <typename T>
void conv2d_backward_input(const Conv2dGeom& g, const T* gy, const T* w, T* gx) {
    const int64_t cg = g.cg(), og = g.og(), K = g.kh * g.kw * cg, hw = g.ho * g.wo;
    if (g.n * g.h * g.w * g.c == 0) return;
    if (is_depthwise(g) && allowed(kDirect)) return conv_direct_kernels<T>().depthwise_backward_input(g, gy, w, gx);
    if (conv2d_dot_backward_input_supported(g) && (forced(kDot) || (forced(kAuto) && dot_backward_input_ahead(g))))
        return conv_direct_kernels<T>().dot_backward_input(g, gy, w, gx);
    Conv2dGeom t;
    const bool by_image = by_image_backward_input_applies(g) && !is_pointwise(g);
    if (transposed_geometry(g, t) && !(forced(kAuto) && pointwise_gemm_ahead(g, false))) {
        if (winograd_chosen(t))
            return transposed_backward_input(g, t, gy, w, gx, [](const Conv2dGeom& tg, const T* a, const T* k, T* out) {
                conv_winograd_kernels<T>().forward(tg, a, k, out, StoreEpilogue<T>{});
            });
        if (forced(kRows) || (forced(kAuto) && rows_backward_input_applies(g)))
            return transposed_backward_input(g, t, gy, w, gx, [](const Conv2dGeom& tg, const T* a, const T* k, T* out) {
                conv_rows_kernels<T>().forward(tg, a, k, out, StoreEpilogue<T>{});
            });
        // (unless the transposed forward is the pixel-vector one, at most 8 outputs: see rows_forward_applies)
        const bool by_image_ahead = forced(kAuto) && by_image && g.o >= 16 && t.o > 8;
        if (!by_image_ahead && direct_backward_input_applies(g, t) && allowed(kDirect))
            return transposed_backward_input(g, t, gy, w, gx, [](const Conv2dGeom& tg, const T* a, const T* k, T* out) {
                conv_direct_kernels<T>().forward(tg, a, k, out, StoreEpilogue<T>{});
            });
    }
    if (by_image && (forced(kGemm) || forced(kAuto))) return backward_input_by_image(g, gy, w, gx);
    if (is_pointwise(g)) {
        // dX_g = dY_g @ W_g^T; W_g^T[oo, ci] = w[ci * O + gi * Og + oo].
        for (int64_t gi = 0; gi < g.groups; ++gi)
            gemm<T>(g.n * hw, cg, og, T(1), gy + gi * og, g.o, 1, w + gi * og, 1, g.o, T(0), gx + gi * cg, g.c, 1);
        return;
    }
    const int64_t imgs = std::min(g.n, std::max<int64_t>(1, kColBudget / (hw * K)));
    auto dcol = uninitialized<T>(imgs * hw * K);
    for (int64_t gi = 0; gi < g.groups; ++gi)
        for (int64_t n0 = 0; n0 < g.n; n0 += imgs) {
            const int64_t n1 = std::min(g.n, n0 + imgs);
            gemm<T>((n1 - n0) * hw, K, og, T(1), gy + n0 * hw * g.o + gi * og, g.o, 1, w + gi * og, 1, g.o, T(0),
                    dcol.get(), K, 1);
            col2im(g, dcol.get(), gi, n0, n1, gx);
        }
}

template <typename T>
void conv2d_backward_weight(const Conv2dGeom& g, const T* gy, const T* x, T* gw) {
    const int64_t M = g.n * g.ho * g.wo, cg = g.cg(), og = g.og(), K = g.kh * g.kw * cg;
    if (is_depthwise(g) && allowed(kDirect)) return conv_direct_kernels<T>().depthwise_backward_weight(g, gy, x, gw);
    if (M == 0) {
        std::fill(gw, gw + K * g.o, T(0));
        return;
    }
    if (winograd_weight_chosen(g)) return conv_winograd_kernels<T>().backward_weight(g, gy, x, gw);
    // One input channel and at most 8 outputs: the direct kernel's pixel-vector form (conv2d_pixel_vector_impl.h), whose
    // vectors are pixels; the rows path's are output channels, 6 of 16 lanes busy at LeNet's 1->6. From 16 outputs the
    // rows path is ahead. Zen 5, 1 / 2 threads, us, rows vs direct (AVX-512): 1->6 5x5 28x28 'same' N64 277 vs 144 /
    // 156 vs 80, 1->6 3x3 164 vs 102 / 89 vs 69, 1->8 7x7 32x32 N32 274 vs 171; 1->16 5x5 281 vs 484, 1->32 3x3 28x28
    // 162 vs 371. With the AVX2 kernels on the same CPU: 1->6 5x5 272 vs 207, 1->8 7x7 420 vs 415, 1->16 358 vs 625.
    if (forced(kAuto) && conv2d_direct_pixel_weight_ahead(g)) return conv_direct_kernels<T>().backward_weight(g, gy, x, gw);
    if (rows_supported(g) && (forced(kRows) || (forced(kAuto) && !pointwise_gemm_ahead(g, false))))
        return conv_rows_kernels<T>().backward_weight(g, gy, x, gw);
    if (conv2d_direct_weight_applies(g) && forced(kDirect)) return conv_direct_kernels<T>().backward_weight(g, gy, x, gw);
    if (is_pointwise(g)) {
        // dW_g = X_g^T @ dY_g, reduced over all pixels by the GEMM's fixed K blocking.
        for (int64_t gi = 0; gi < g.groups; ++gi)
            gemm<T>(cg, og, M, T(1), x + gi * cg, 1, g.c, gy + gi * og, g.o, 1, T(0), gw + gi * og, g.o, 1);
        return;
    }
    const int64_t chunk = std::min(M, std::max<int64_t>(1, kColBudget / K));
    auto col = uninitialized<T>(chunk * K);
    for (int64_t gi = 0; gi < g.groups; ++gi)
        for (int64_t r0 = 0; r0 < M; r0 += chunk) {
            const int64_t r1 = std::min(M, r0 + chunk);
            im2col(g, x, gi, r0, r1, col.get());
            gemm<T>(K, og, r1 - r0, T(1), col.get(), 1, K, gy + r0 * g.o + gi * og, g.o, 1, r0 == 0 ? T(0) : T(1),
                    gw + gi * og, g.o, 1);
        }
}

template void conv2d_forward<float>(const Conv2dGeom&, const float*, const float*, float*, const ConvEpilogue<float>&);
template void conv2d_forward<double>(const Conv2dGeom&, const double*, const double*, double*,
                                     const ConvEpilogue<double>&);
template void conv2d_backward_input<float>(const Conv2dGeom&, const float*, const float*, float*);
template void conv2d_backward_input<double>(const Conv2dGeom&, const double*, const double*, double*);
template void conv2d_backward_weight<float>(const Conv2dGeom&, const float*, const float*, float*);
template void conv2d_backward_weight<double>(const Conv2dGeom&, const double*, const double*, double*);

}  // namespace ember
