// The pixel-vector form of the direct convolution, included by conv2d_direct_impl.h: vectors hold output pixels
// rather than channels, for layers with few output channels, where a channel vector would be mostly idle lanes.
// Forward: per image, the input de-interleaved into one zero-bordered plane per channel (for C = 1, LeNet's
// grayscale 1->6 5x5, the image itself); a tile is V pixel vectors (two of one output row, or on rows narrower than
// a vector one of each of two rows) times OB output channels, and each tap (kh, kw, c) is one load per vector (the
// plane's row from column kw) and one FMA per accumulator against the tap's weight broadcast from memory. The
// replicated-row formulation (DirectConv::forward) loads a vector per FMA and pads each row to whole blocks of its
// weight period; here the only padding is the last tile's pixels. The tile is stored channel-interleaved (NHWC)
// through the epilogue by the tile itself, one pixel's OB values at a time from a staging buffer (OB a constant
// there: LeNet's 1->6 forward 0.215-0.228 -> 0.180-0.200 ms with the taps' single loop). The transposed geometry of a
// layer with few input channels (LeNet's 6->16: an input gradient of 6 channels from 16) takes it too.
// The weight gradient (C = 1 only) reads the same sums the other way: per image, gy de-interleaved into one plane per
// channel, then per kernel row kh and block of WB channels, KW x WB accumulators over every output pixel (the image
// row from column kw against the channel's gy row), each lane-summed at the end: one chain per (tap, channel, lane),
// the images added in order, so the bits do not depend on the thread count.
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>
#include <type_traits>
#include <utility>
#include <vector>

#ifdef __AVX512F__
#include <immintrin.h>
#endif

#include "../common/parallel.h"
#include "conv2d_epilogue.h"
#include "simd_vector.h"

namespace ember {
namespace {

template <typename T, int Bytes>
struct PixelVectorConv {
    static constexpr int64_t kLanes = Bytes / int64_t(sizeof(T));
    static constexpr int kPV = 2;          // pixel vectors per tile
    static constexpr int kMaxOB = 8;       // output channels per tile: 16 accumulators
    static constexpr int64_t kTile = kPV * kLanes;
    using Vec = typename VectorOf<T, Bytes>::type;
    using VecU = typename VectorOf<T, Bytes>::unaligned;

    static Vec load(const T* p) { return *reinterpret_cast<const VecU*>(p); }

    // acc[ob][v] over the taps for the V pixel vectors at offsets off[v] from `planes` (the first tap's row, rows ldp
    // apart), channels o0.. of w (taps (kh, kw, c) with O channels each), then stored channel-interleaved (NHWC):
    // pixel px of vector v, for px < pixels[v], to out[v] + px * O, through the epilogue (bias: the tile's OB values,
    // or null). A kernel row's KW x C taps are one loop, tap t at tap_off[t] (kw + c * plane): with one input
    // channel (LeNet's first layer) a loop over the channels inside the loop over kw was its overhead, not the FMAs.
    template <int OB, int V>
    static void tile(const T* planes, int64_t ldp, int64_t kh0, int64_t kh1, const int64_t* tap_off, int64_t taps,
                     const T* w, int64_t O, const int64_t* off, const T* bias, const StoreEpilogue<T>& ep,
                     T* const* out, const int64_t* pixels) {
        Vec acc[OB][V];
        for (int ob = 0; ob < OB; ++ob)
            for (int v = 0; v < V; ++v) acc[ob][v] = Vec{};
        for (int64_t kh = kh0; kh < kh1; ++kh) {
            const T* row = planes + kh * ldp;
            const T* wk = w + kh * taps * O;
            for (int64_t t = 0; t < taps; ++t, wk += O) {
                const T* base = row + tap_off[t];
                Vec xv[V];
                for (int v = 0; v < V; ++v) xv[v] = load(base + off[v]);
                for (int ob = 0; ob < OB; ++ob)
                    for (int v = 0; v < V; ++v) acc[ob][v] += xv[v] * wk[ob];
            }
        }
#ifdef __AVX512F__
        if constexpr (Bytes == 64 && std::is_same_v<T, float>) {
            if (O == OB) {  // each vector's pixels are one contiguous run of pixels[v] * OB outputs
                for (int v = 0; v < V; ++v) {
                    __m512 r[OB];
                    for (int ob = 0; ob < OB; ++ob)
                        r[ob] = __m512(activate_stored(ep, bias ? acc[ob][v] + bias[ob] : acc[ob][v]));
                    store_interleaved<OB>(r, out[v], pixels[v]);
                }
                return;
            }
        }
#endif
        T stage[OB][V][kLanes];  // lane-major to pixel-major: OB is a constant here, so each pixel's run unrolls
        for (int ob = 0; ob < OB; ++ob)
            for (int v = 0; v < V; ++v)
                *reinterpret_cast<VecU*>(stage[ob][v]) = activate_stored(ep, bias ? acc[ob][v] + bias[ob] : acc[ob][v]);
        for (int v = 0; v < V; ++v)
            for (int64_t px = 0; px < pixels[v]; ++px) {
                T* dst = out[v] + px * O;
                for (int ob = 0; ob < OB; ++ob) dst[ob] = stage[ob][v][px];
            }
    }

#ifdef __AVX512F__
    // Run f = px * O + o of 16 pixel-major pixels of O channels is lane f % 16 of vector f / 16 in pixel-major order,
    // and lane px of channel o's vector in planes. For each pair (pixel-major vector k, channel o), which lanes and
    // from where: to_pixels[k][o] picks pixel-major vector k's lanes out of channel o's vector (store_interleaved),
    // to_planes[o][k] picks channel o's lanes out of pixel-major vector k (load_deinterleaved).
    template <int O>
    struct PixelMajor {
        struct Pick {
            int32_t index[16] = {};
            uint16_t lanes = 0;
        };
        Pick to_pixels[O][O] = {}, to_planes[O][O] = {};
        constexpr PixelMajor() {
            for (int px = 0; px < 16; ++px)
                for (int o = 0; o < O; ++o) {
                    const int f = px * O + o, k = f / 16, lane = f % 16;
                    to_pixels[k][o].index[lane] = px;
                    to_pixels[k][o].lanes = uint16_t(to_pixels[k][o].lanes | (1u << lane));
                    to_planes[o][k].index[px] = lane;
                    to_planes[o][k].lanes = uint16_t(to_planes[o][k].lanes | (1u << px));
                }
        }
    };

    // The first `pixels` of r's 16 pixels stored pixel-major at dst, each output vector gathered from the channels
    // by one masked permute per channel: staged through memory and copied value by value, the stores took 28% of
    // LeNet's 1->6 forward tile.
    template <int OB>
    static void store_interleaved(const __m512 (&r)[OB], float* dst, int64_t pixels) {
        static constexpr PixelMajor<OB> kMap{};
        const int64_t count = pixels * OB;
        for (int k = 0; k < OB && 16 * k < count; ++k) {
            __m512 out = _mm512_setzero_ps();
            for (int ob = 0; ob < OB; ++ob) {
                const auto& pick = kMap.to_pixels[k][ob];
                out = _mm512_mask_permutexvar_ps(out, pick.lanes, _mm512_loadu_si512(pick.index), r[ob]);
            }
            const int64_t left = count - 16 * k;
            if (left >= 16)
                _mm512_storeu_ps(dst + 16 * k, out);
            else
                _mm512_mask_storeu_ps(dst + 16 * k, __mmask16((1u << left) - 1), out);
        }
    }
#endif

    using Tile = void (*)(const T*, int64_t, int64_t, int64_t, const int64_t*, int64_t, const T*, int64_t,
                          const int64_t*, const T*, const StoreEpilogue<T>&, T* const*, const int64_t*);

    static constexpr int kMaxKW = 7;
    static constexpr int kWB = Bytes == 64 ? 3 : 2;  // weight-gradient channels per block: KW * WB accumulators

    // slots[kw * O + ob] += the sums over output rows oh and pixels of xp[oh + kh][px + kw] * gyt[oh][o0 + ob][px]
    // (vectors: one lane per pixel residue, summed across lanes at the very end); gyt rows hold `ld` pixels (zero past
    // Wo), each channel's plane `ld` apart, a row's planes O * ld apart.
    template <int KW, int OB>
    static void weight_rows(const T* xp, int64_t ldp, const T* gyt, int64_t ld, int64_t O, int64_t ho, int64_t kh,
                            int64_t o0, Vec* slots) {
        Vec acc[KW][OB];
        for (int kw = 0; kw < KW; ++kw)
            for (int ob = 0; ob < OB; ++ob) acc[kw][ob] = Vec{};
        for (int64_t oh = 0; oh < ho; ++oh) {
            const T* xr = xp + (oh + kh) * ldp;
            const T* gr = gyt + (oh * O + o0) * ld;
            for (int64_t px = 0; px < ld; px += kLanes) {
                Vec gv[OB];
                for (int ob = 0; ob < OB; ++ob) gv[ob] = load(gr + ob * ld + px);
                for (int kw = 0; kw < KW; ++kw) {
                    Vec xv = load(xr + px + kw);
                    // Into a register once: GCC folded the load into each of the OB FMAs, OB loads that straddle two
                    // cache lines per vector, and the load ports (not the FMAs) set the pace.
                    asm("" : "+v"(xv));
                    for (int ob = 0; ob < OB; ++ob) acc[kw][ob] += xv * gv[ob];
                }
            }
        }
        for (int kw = 0; kw < KW; ++kw)
            for (int ob = 0; ob < OB; ++ob) slots[kw * O + ob] += acc[kw][ob];
    }

    using WeightRows = void (*)(const T*, int64_t, const T*, int64_t, int64_t, int64_t, int64_t, int64_t, Vec*);

    template <int KW, int... OB>
    static constexpr std::array<WeightRows, sizeof...(OB)> weight_row_kernels(std::integer_sequence<int, OB...>) {
        return {&weight_rows<KW, OB + 1>...};
    }

    template <int... KW>
    static WeightRows weight_rows_for(int64_t kw, int64_t ob, std::integer_sequence<int, KW...>) {
        static constexpr std::array<std::array<WeightRows, kWB>, sizeof...(KW)> kTable = {
            weight_row_kernels<KW + 1>(std::make_integer_sequence<int, kWB>{})...};
        return kTable[kw - 1][ob - 1];
    }

    template <int V, int... OB>
    static constexpr std::array<Tile, sizeof...(OB)> tiles_of(std::integer_sequence<int, OB...>) {
        return {&tile<OB + 1, V>...};
    }

    static Tile tile_for(int64_t ob, int v) {
        static constexpr std::array<std::array<Tile, kMaxOB>, 2> kTiles = {
            tiles_of<1>(std::make_integer_sequence<int, kMaxOB>{}), tiles_of<2>(std::make_integer_sequence<int, kMaxOB>{})};
        return kTiles[v - 1][ob - 1];
    }

    // Image x (H, W) into the interior of its zero-bordered copy (rows of ldp; the border is never written).
    static void copy_into_border(const Conv2dGeom& g, const T* x, int64_t ldp, T* padded) {
        for (int64_t r = 0; r < g.h; ++r) std::copy(x + r * g.w, x + (r + 1) * g.w, padded + (r + g.pt) * ldp + g.pl);
    }

    // Image x (H, W, C) de-interleaved into the interiors of its C zero-bordered planes, `plane` apart.
    static void planes_into_border(const Conv2dGeom& g, const T* x, int64_t ldp, int64_t plane, T* padded) {
        if (g.c == 1) return copy_into_border(g, x, ldp, padded);
        for (int64_t r = 0; r < g.h; ++r)
            for (int64_t c = 0; c < g.c; ++c) {
                const T* src = x + r * g.w * g.c + c;
                T* dst = padded + c * plane + (r + g.pt) * ldp + g.pl;
                for (int64_t col = 0; col < g.w; ++col) dst[col] = src[col * g.c];
            }
    }

    // gy (rows, wo, O) of one image into O planes per row: dst[(r * O + o) * ld + px] = src[(r * wo + px) * O + o].
    // Pixel by pixel with O a constant (every channel's store of one pixel unrolled): the loop per channel, striding
    // through the row O values at a time, took a third of LeNet's 1->6 weight gradient (Zen 5, AVX-512).
    template <int O>
    static void deinterleave_fixed(const T* src, int64_t rows, int64_t wo, int64_t ld, T* dst) {
#ifdef __AVX512F__
        if constexpr (Bytes == 64 && std::is_same_v<T, float> && O <= kMaxOB) {
            for (int64_t r = 0; r < rows; ++r, src += wo * O, dst += O * ld)
                for (int64_t px0 = 0; px0 < wo; px0 += 16)
                    load_deinterleaved<O>(src + px0 * O, std::min<int64_t>(16, wo - px0), dst + px0, ld);
            return;
        }
#endif
        for (int64_t r = 0; r < rows; ++r, src += wo * O, dst += O * ld)
            for (int64_t px = 0; px < wo; ++px)
#pragma GCC unroll 8
                for (int o = 0; o < O; ++o) dst[o * ld + px] = src[px * O + o];
    }

#ifdef __AVX512F__
    // `pixels` (<= 16) pixel-major pixels of O channels at src into O planes (dst + o * ld), 16 values each, zero
    // past `pixels`: one masked permute per channel and input vector. Value by value it took a third of LeNet's 1->6
    // weight gradient.
    template <int O>
    static void load_deinterleaved(const float* src, int64_t pixels, float* dst, int64_t ld) {
        static constexpr PixelMajor<O> kMap{};
        const int64_t count = pixels * O;
        __m512 in[O];
        for (int k = 0; k < O; ++k) {
            const int64_t left = count - 16 * k;
            in[k] = left >= 16  ? _mm512_loadu_ps(src + 16 * k)
                    : left > 0 ? _mm512_maskz_loadu_ps(__mmask16((1u << left) - 1), src + 16 * k)
                               : _mm512_setzero_ps();
        }
        for (int o = 0; o < O; ++o) {
            __m512 plane = _mm512_setzero_ps();
            for (int k = 0; k < O; ++k) {
                const auto& pick = kMap.to_planes[o][k];
                plane = _mm512_mask_permutexvar_ps(plane, pick.lanes, _mm512_loadu_si512(pick.index), in[k]);
            }
            _mm512_storeu_ps(dst + o * ld, plane);
        }
    }
#endif

    template <int... O>
    static void deinterleave_by(int64_t o, const T* src, int64_t rows, int64_t wo, int64_t ld, T* dst,
                                std::integer_sequence<int, O...>) {
        using Fn = void (*)(const T*, int64_t, int64_t, int64_t, T*);
        static constexpr Fn kFns[] = {&deinterleave_fixed<O + 1>...};
        kFns[o - 1](src, rows, wo, ld, dst);
    }

    static void deinterleave(const T* src, int64_t rows, int64_t wo, int64_t O, int64_t ld, T* dst) {
        if (O <= 16) return deinterleave_by(O, src, rows, wo, ld, dst, std::make_integer_sequence<int, 16>{});
        for (int64_t r = 0; r < rows; ++r)
            for (int64_t o = 0; o < O; ++o) {
                const T* s = src + r * wo * O + o;
                T* d = dst + (r * O + o) * ld;
                for (int64_t px = 0; px < wo; ++px) d[px] = s[px * O];
            }
    }

    static bool weight_applies(const Conv2dGeom& g) { return g.c == 1 && g.kw <= kMaxKW; }

    // gw (KH, KW, 1, O) for x (N, H, W, 1) and gy (N, Ho, Wo, O): stride 1, no dilation, one group, KW <= kMaxKW.
    // Images in fixed chunks of kChunk, each chunk's vector sums in its own slots, the chunks then added in order
    // and the lanes last: the same operations in the same order whatever the thread count.
    static constexpr int64_t kChunk = 4;

    static void backward_weight(const Conv2dGeom& g, const T* gy, const T* x, T* gw) {
        const int64_t ld = (g.wo + kLanes - 1) / kLanes * kLanes, hp = g.h + g.pt + g.pb;
        const int64_t ldp = std::max(g.w + g.pl + g.pr, ld + g.kw - 1), taps = g.kh * g.kw * g.o;
        const int64_t chunks = (g.n + kChunk - 1) / kChunk;
        std::vector<Vec> partial(size_t(std::max<int64_t>(chunks, 1) * taps));
        const int nt = int(std::min<int64_t>(get_num_threads(), chunks));
#pragma omp parallel num_threads(nt) if (nt > 1)
        {
            std::vector<T> padded(size_t(hp * ldp), T(0)), gyt(size_t(g.ho * g.o * ld), T(0));
#pragma omp for schedule(static)
            for (int64_t ch = 0; ch < chunks; ++ch) {
                Vec* slots = partial.data() + ch * taps;
                for (int64_t n = ch * kChunk; n < std::min(g.n, (ch + 1) * kChunk); ++n) {
                    copy_into_border(g, x + n * g.h * g.w, ldp, padded.data());
                    deinterleave(gy + n * g.ho * g.wo * g.o, g.ho, g.wo, g.o, ld, gyt.data());
                    for (int64_t kh = 0; kh < g.kh; ++kh)
                        for (int64_t o0 = 0; o0 < g.o; o0 += kWB)
                            weight_rows_for(g.kw, std::min<int64_t>(kWB, g.o - o0),
                                            std::make_integer_sequence<int, kMaxKW>{})(
                                padded.data(), ldp, gyt.data(), ld, g.o, g.ho, kh, o0,
                                slots + kh * g.kw * g.o + o0);
                }
            }
        }
        for (int64_t ch = 1; ch < chunks; ++ch)
            for (int64_t i = 0; i < taps; ++i) partial[i] += partial[ch * taps + i];
        for (int64_t i = 0; i < taps; ++i) {
            T sum = T(0);
            for (int64_t l = 0; l < kLanes; ++l) sum += partial[i][l];
            gw[i] = sum;
        }
    }

    // Whether the forward takes this layer (stride 1, no dilation, one group, as the direct path): one input channel,
    // or few outputs, where a vector of channels would be mostly idle lanes (dev/conv_bench.py, 2 threads, AVX-512;
    // see conv2d.cpp for the input gradients it serves).
    static bool forward_applies(const Conv2dGeom& g) { return g.c == 1 || g.o <= kMaxOB; }

    // y (N, Ho, Wo, O) = epilogue(conv(x, w)) for x (N, H, W, C); stride 1, no dilation, one group. Images are spread
    // over the threads; each output is one chain over the taps in (kh, kw, c) order whatever the thread count.
    static void forward(const Conv2dGeom& g, const T* x, const T* w, T* y, const StoreEpilogue<T>& ep) {
        // Rows of at most one vector go two to a tile, one vector each; wider rows in tiles of kPV vectors.
        const bool paired_rows = g.wo <= kLanes;
        const int64_t tiles = paired_rows ? 1 : (g.wo + kTile - 1) / kTile, span = paired_rows ? kLanes : tiles * kTile;
        const int64_t hp = g.h + g.pt + g.pb;
        // Every vector reads kLanes + KW - 1 columns from its first: the padded row plus the last tile's slack.
        const int64_t ldp = std::max(g.w + g.pl + g.pr, span + g.kw - 1), plane = hp * ldp;
        const int nt = int(std::min<int64_t>(get_num_threads(), g.n));
#pragma omp parallel num_threads(nt) if (nt > 1)
        {
            std::vector<T> padded(size_t(g.c * plane), T(0));
            std::vector<int64_t> tap_off(size_t(g.kw * g.c));
            for (int64_t kw = 0; kw < g.kw; ++kw)
                for (int64_t c = 0; c < g.c; ++c) tap_off[size_t(kw * g.c + c)] = kw + c * plane;
#pragma omp for schedule(static)
            for (int64_t n = 0; n < g.n; ++n) {
                planes_into_border(g, x + n * g.h * g.w * g.c, ldp, plane, padded.data());
                const int64_t step = paired_rows ? 2 : 1;
                for (int64_t oh = 0; oh < g.ho; oh += step) {
                    const int64_t rows = std::min(step, g.ho - oh);
                    // kernel rows wholly in the zero border (of every row of the tile) add nothing
                    const int64_t kh0 = std::max<int64_t>(0, g.pt - (oh + rows - 1)),
                                  kh1 = std::min(g.kh, g.h + g.pt - oh);
                    for (int64_t t = 0; t < tiles; ++t) {
                        const int64_t px0 = t * kTile;
                        const int v = paired_rows ? int(rows) : kPV;
                        const int64_t off[2] = {0, paired_rows ? ldp : kLanes};
                        T* yrow = y + ((n * g.ho + oh) * g.wo + px0) * g.o;
                        // vector 1 is the next row's pixels (paired rows) or this row's next kLanes
                        int64_t pixels[2] = {std::min(kLanes, g.wo - px0), 0};
                        if (v == 2)
                            pixels[1] = paired_rows ? g.wo : std::clamp<int64_t>(g.wo - px0 - kLanes, 0, kLanes);
                        for (int64_t o0 = 0; o0 < g.o; o0 += kMaxOB) {
                            const int64_t ob = std::min<int64_t>(kMaxOB, g.o - o0);
                            T* const out[2] = {yrow + o0, yrow + (paired_rows ? g.wo : kLanes) * g.o + o0};
                            // kh0 == kh1 (every tap in the border) leaves the sums 0: the epilogue still applies
                            tile_for(ob, v)(padded.data() + oh * ldp + px0, ldp, kh0, std::max(kh0, kh1),
                                            tap_off.data(), g.kw * g.c, w + o0, g.o, off,
                                            ep.bias ? ep.bias + o0 : nullptr, ep, out, pixels);
                        }
                    }
                }
            }
        }
    }
};

}  // namespace
}  // namespace ember
