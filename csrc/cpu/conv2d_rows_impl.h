// Bodies of the chunked convolution (conv2d_rows.h). Included only by conv2d_rows_{generic,avx2,avx512}.cpp, each of
// which ends with EMBER_CONV_ROWS(its name, its vector bytes); internal linkage keeps each ISA's copy apart.
#pragma once

#include <omp.h>

#include <algorithm>
#include <cstring>
#include <utility>
#include <vector>

#include "../common/parallel.h"
#include "conv2d_rows.h"
#include "gemm.h"
#include "simd_vector.h"

namespace ember {
namespace {

template <typename T, int Bytes>
struct RowsConv {
    static constexpr int64_t kLanes = Bytes / int64_t(sizeof(T));
    // Accumulators per tile: 24 of AVX-512's 32 registers, 12 of the 16 narrower ones; the rest hold the NV loaded
    // vectors (the GEMM's 12 x 2 and 6 x 2 tiles).
    static constexpr int kAcc = Bytes == 64 ? 24 : 12;
    static constexpr int kMaxNv = 4;
    // Weight-gradient tiles of at most 2 vectors x 6 taps where there are 12 accumulators (AVX2), not 4 x 3: each
    // pixel then loads half as many grad_y bytes per FMA. Zen 3, 2 threads, fwd+bwd ms, 3x3 same, N = 32 (16 for
    // the 56x56 one): 128->128 28x28 159 -> 152, 256->256 14x14 146 -> 140, 64->64 56x56 212 -> 190, 128->128 14x14
    // 43.0 -> 37.4, 64->128 56x56 211 -> 183, 1x1 256->256 19.5 -> 19.0, 16->32 31x31 6.5 = 6.6. The same change in
    // the forward tiles was mixed (-5% to +5%) and was left out.
    static constexpr int kMaxWeightNv = Bytes == 64 ? kMaxNv : 2;
    static constexpr int64_t kSplitTiles = 32768;  // from this K * O on, threads split the weight gradient's tiles
    // Below it, groups of output rows with a partial sum each: enough groups for 16 threads. Each partial is zeroed,
    // then added into the result: with 64 of them these took a sixth of LeNet's 6->16 weight gradient (Zen 5, 2
    // threads, ms, 64 / 16 / 8 partials: 6->16 5x5 0.096 / 0.079 / 0.077, 16->32 3x3 31x31 0.545 / 0.500 / 0.495).
    static constexpr int64_t kParts = 16;
    using Vec = typename VectorOf<T, Bytes>::type;
    using VecU = typename VectorOf<T, Bytes>::unaligned;

    static Vec load(const T* p) { return *reinterpret_cast<const VecU*>(p); }
    static void store(T* p, Vec v) { *reinterpret_cast<VecU*>(p) = v; }

    // Where a forward tile's outputs go: y (row stride ldy) clipped to the `left` channels that remain, through the
    // epilogue (bias: the tile's NV vectors, zero-padded; null for none).
    struct TileStore {
        T* y;
        int64_t ldy, left;
        const Vec* bias;
        const StoreEpilogue<T>* ep;
    };

    // The sums over the window of S x H pixels x NV channel vectors, stored through `out`: S pixels of each of H
    // output rows, the rows' windows ldr apart (pixel i = h * S + j). Pixel (h, j)'s window starts at
    // a + h * ldr + j * ldc and is `segs` runs of seg_len taps, seg_stride apart; wp holds the taps' NV weight vectors
    // in the same order. The pixels are reached from one pointer per 3 of a row, as [p], [p + ldc] and [p + 2 ldc]:
    // 24 pointers would not fit the 16 general registers (GCC spilled them, a reload per FMA).
    template <int S, int H, int NV>
    static void forward_tile(int64_t segs, int64_t seg_len, int64_t seg_stride, const T* a, int64_t ldc, int64_t ldr,
                             const T* wp, const TileStore& out) {
        constexpr int PR = S * H, kPerRow = (S + 2) / 3, kBases = H * kPerRow;
        const T* row[kBases];
#pragma GCC unroll 8
        for (int b = 0; b < kBases; ++b) row[b] = a + (b / kPerRow) * ldr + 3 * (b % kPerRow) * ldc;
        Vec acc[PR][NV];
#pragma GCC unroll 24
        for (int i = 0; i < PR; ++i)
#pragma GCC unroll 4
            for (int v = 0; v < NV; ++v) acc[i][v] = Vec{};
        for (int64_t sg = 0; sg < segs; ++sg) {
            for (int64_t k = 0; k < seg_len; ++k) {
                Vec w[NV];
#pragma GCC unroll 4
                for (int v = 0; v < NV; ++v) w[v] = load(wp + v * kLanes);
#pragma GCC unroll 24
                for (int i = 0; i < PR; ++i) {
                    const int j = i % S;
                    const T x = row[(i / S) * kPerRow + j / 3][(j % 3) * ldc];
#pragma GCC unroll 4
                    for (int v = 0; v < NV; ++v) acc[i][v] += x * w[v];
                }
#pragma GCC unroll 8
                for (int b = 0; b < kBases; ++b) ++row[b];
                wp += NV * kLanes;
            }
#pragma GCC unroll 8
            for (int b = 0; b < kBases; ++b) row[b] += seg_stride - seg_len;
        }
        store_tile(acc, out);
    }

    // forward_tile for one channel vector, stride 1 and kSlidingKw-wide kernel rows, reading each input value once:
    // in forward_tile every FMA takes its own broadcast load (pixel j's tap (kx, c) is pixel j + 1's (kx - 1, c)), and
    // the loads, not the FMAs, set the pace (LeNet's 6->16, 1 thread: 221 GFLOP/s; with the loads taken out, wrong
    // sums, 276). Here, per kernel row and channel c, the kernel row's KW weight vectors sit in registers and each of
    // the S + KW - 1 input columns is broadcast once into the KW accumulators it reaches. Each pixel sums its taps in
    // (kh, c, kx) order, the same whatever the tiling. LeNet's 6->16 forward, 2 threads: 0.074-0.076 -> 0.071-0.072
    // ms (A/B by process). GCC spills a few accumulators per channel; without the spills (the store out of line) it
    // was no faster.
    static constexpr int kSlidingKw = 5;
    template <int S, int H>
    static void forward_tile_sliding(int64_t segs, int64_t C, int64_t seg_stride, const T* a, int64_t ldr,
                                     const T* wp, const TileStore& out) {
        constexpr int KW = kSlidingKw, U = S + KW - 1;
        Vec acc[S * H][1];
#pragma GCC unroll 24
        for (int i = 0; i < S * H; ++i) acc[i][0] = Vec{};
        for (int64_t sg = 0; sg < segs; ++sg, a += seg_stride, wp += KW * C * kLanes) {
            for (int64_t c = 0; c < C; ++c) {
                Vec w[KW];
#pragma GCC unroll 8
                for (int kx = 0; kx < KW; ++kx) {
                    w[kx] = load(wp + (c * KW + kx) * kLanes);  // arranged (kh, c, kx) for this tile
                    asm("" : "+v"(w[kx]));  // in a register: else GCC folds the load into each FMA
                }
                // One pointer per row stepped by C: an offset u * C per column took a register each, and GCC
                // spilled them. The rows interleaved: an accumulator takes a column's FMA then the next column's,
                // and with one row only the KW FMAs of a column stood between them (the FMAs' latency set the pace).
                const T* col[H];
#pragma GCC unroll 2
                for (int h = 0; h < H; ++h) col[h] = a + h * ldr + c;
#pragma GCC unroll 32
                for (int u = 0; u < U; ++u) {
#pragma GCC unroll 2
                    for (int h = 0; h < H; ++h) {
                        asm("" : "+r"(col[h]));
                        Vec b = *col[h] - Vec{};  // a broadcast (x + 0 is not x for -0)
                        asm("" : "+v"(b));        // once, not folded into the KW FMAs as KW loads
                        col[h] += C;
#pragma GCC unroll 8
                        for (int kx = 0; kx < KW; ++kx) {
                            const int j = u - kx;
                            if (j >= 0 && j < S) acc[h * S + j][0] += b * w[kx];
                        }
                    }
                }
            }
        }
        store_tile(acc, out);
    }

    // part[i * ldp + v lanes] += sum over `rows` rows of P pixels of a[r * lda_row + p * ldc + i] *
    // gy[r * ldg_row + p * ldg + v lanes]: KR contiguous taps x NV channel vectors.
    template <int KR, int NV>
    static void weight_tile(int64_t rows, int64_t P, const T* a, int64_t ldc, int64_t lda_row, const T* gy,
                            int64_t ldg, int64_t ldg_row, T* part, int64_t ldp) {
        Vec acc[KR][NV];
#pragma GCC unroll 24
        for (int i = 0; i < KR; ++i)
#pragma GCC unroll 4
            for (int v = 0; v < NV; ++v) acc[i][v] = Vec{};
        for (int64_t r = 0; r < rows; ++r) {
            const T* ar = a + r * lda_row;
            const T* gr = gy + r * ldg_row;
            for (int64_t p = 0; p < P; ++p) {
                Vec g[NV];
#pragma GCC unroll 4
                for (int v = 0; v < NV; ++v) g[v] = load(gr + p * ldg + v * kLanes);
#pragma GCC unroll 24
                for (int i = 0; i < KR; ++i) {
                    const T x = ar[p * ldc + i];
#pragma GCC unroll 4
                    for (int v = 0; v < NV; ++v) acc[i][v] += x * g[v];
                }
            }
        }
#pragma GCC unroll 24
        for (int i = 0; i < KR; ++i)
#pragma GCC unroll 4
            for (int v = 0; v < NV; ++v) {
                T* d = part + i * ldp + v * kLanes;
                store(d, load(d) + acc[i][v]);
            }
    }

    // weight_tile for one channel vector where consecutive pixels' taps are consecutive values (ldc == 1: one input
    // channel, stride 1; LeNet's first layer): tap i of pixel p + 1 is tap i + 1 of pixel p, so the KR broadcasts
    // rotate through KR registers and each pixel loads one new value rather than KR. The pixel loop is unrolled by
    // KR, which makes every rotation index a constant. Each accumulator sums the same products in the same order as
    // weight_tile's. (LeNet's 1->6 5x5 weight gradient, 64 images: see backward_weight.)
    template <int KR>
    static void weight_tile_sliding(int64_t rows, int64_t P, const T* a, int64_t, int64_t lda_row, const T* gy,
                                    int64_t ldg, int64_t ldg_row, T* part, int64_t ldp) {
        Vec acc[KR];
#pragma GCC unroll 8
        for (int i = 0; i < KR; ++i) acc[i] = Vec{};
        for (int64_t r = 0; r < rows; ++r) {
            const T* ar = a + r * lda_row;
            const T* gr = gy + r * ldg_row;
            Vec xb[KR];
#pragma GCC unroll 8
            for (int i = 0; i + 1 < KR; ++i) xb[i] = ar[i] - Vec{};  // a broadcast (x + 0 is not x for -0)
            int64_t p = 0;
            for (; p + KR <= P; p += KR) {
#pragma GCC unroll 8
                for (int u = 0; u < KR; ++u) {
                    xb[(u + KR - 1) % KR] = ar[p + u + KR - 1] - Vec{};
                    const Vec g = load(gr + (p + u) * ldg);
#pragma GCC unroll 8
                    for (int i = 0; i < KR; ++i) acc[i] += xb[(u + i) % KR] * g;
                }
            }
            for (; p < P; ++p) {
                const Vec g = load(gr + p * ldg);
#pragma GCC unroll 8
                for (int i = 0; i < KR; ++i) acc[i] += ar[p + i] * g;
            }
        }
#pragma GCC unroll 8
        for (int i = 0; i < KR; ++i) store(part + i * ldp, load(part + i * ldp) + acc[i]);
    }
    static constexpr int kMaxSliding = 7;  // KR accumulators + KR broadcasts + the gradient: 15 of AVX2's 16 registers

    using ForwardTile = void (*)(int64_t, int64_t, int64_t, const T*, int64_t, int64_t, const T*, const TileStore&);
    using SlidingTile = void (*)(int64_t, int64_t, int64_t, const T*, int64_t, const T*, const TileStore&);
    using WeightTile = void (*)(int64_t, int64_t, const T*, int64_t, int64_t, const T*, int64_t, int64_t, T*,
                                int64_t);

    // Every tile with NV <= kMaxNv and PR (or KR) * NV <= kAcc: [NV - 1][PR - 1]; pairs: [NV - 1][S - 1], the
    // forward tiles of S pixels in each of two output rows.
    struct Tiles {
        ForwardTile forward[kMaxNv][kAcc] = {};
        ForwardTile pairs[kMaxNv][kAcc / 2] = {};
        // [H - 1][S - 1] for S * H <= kAcc (AVX-512 only): the accumulators, KW weights and a broadcast fit 30 of 32
        SlidingTile sliding_forward[2][kAcc] = {};
        WeightTile weight[kMaxNv][kAcc] = {};
        WeightTile sliding[kMaxSliding] = {};
        template <int NV, int... I>
        void fill(std::integer_sequence<int, I...>) {
            ((forward[NV - 1][I] = &forward_tile<I + 1, 1, NV>, weight[NV - 1][I] = &weight_tile<I + 1, NV>), ...);
        }
        template <int NV, int... I>
        void fill_pairs(std::integer_sequence<int, I...>) {
            ((pairs[NV - 1][I] = &forward_tile<I + 1, 2, NV>), ...);
        }
        template <int H, int... I>
        void fill_sliding_forward(std::integer_sequence<int, I...>) {
            ((sliding_forward[H - 1][I] = &forward_tile_sliding<I + 1, H>), ...);
        }
        template <int... I>
        void fill_sliding(std::integer_sequence<int, I...>) {
            ((sliding[I] = &weight_tile_sliding<I + 1>), ...);
        }
        Tiles() {
            fill_sliding(std::make_integer_sequence<int, kMaxSliding>());
            fill<1>(std::make_integer_sequence<int, kAcc>());
            fill<2>(std::make_integer_sequence<int, kAcc / 2>());
            fill<3>(std::make_integer_sequence<int, kAcc / 3>());
            fill<4>(std::make_integer_sequence<int, kAcc / 4>());
            fill_pairs<1>(std::make_integer_sequence<int, kAcc / 2>());
            fill_pairs<2>(std::make_integer_sequence<int, kAcc / 4>());
            if constexpr (Bytes == 64) {
                fill_sliding_forward<1>(std::make_integer_sequence<int, kAcc>());
                fill_sliding_forward<2>(std::make_integer_sequence<int, kAcc / 2>());
            }
        }
    };
    static const Tiles& tiles() {
        static const Tiles t;
        return t;
    }

    // Sizes for one geometry. The window of output pixel (oh, ow) in the (padded) image is KH runs (kernel rows) of
    // KW * C contiguous taps, dh rows apart, from ((oh sh) Wp + ow sw) C. O channels in `vecs` vectors, split into
    // `otiles` balanced tiles of at most kMaxNv (80 floats: 3 + 2 vectors); the weight gradient's `wtiles` of at most
    // kMaxWeightNv.
    struct Plan {
        int64_t K, S, O, vecs, opad, otiles, wtiles, Hp, Wp, image, ldc, seg_stride, row_stride;
        bool padded;
        explicit Plan(const Conv2dGeom& g)
            : K(g.kh * g.kw * g.c), S(g.kw * g.c), O(g.o), Hp(g.h + g.pt + g.pb), Wp(g.w + g.pl + g.pr) {
            vecs = (O + kLanes - 1) / kLanes;
            opad = vecs * kLanes;
            otiles = (vecs + kMaxNv - 1) / kMaxNv;
            wtiles = (vecs + kMaxWeightNv - 1) / kMaxWeightNv;
            image = Hp * Wp * g.c;
            // A stride along an axis of one output is never taken (and may be any size): 1 keeps these in range.
            ldc = (g.wo > 1 ? g.sw : 1) * g.c;
            seg_stride = g.dh * Wp * g.c;
            row_stride = (g.ho > 1 ? g.sh : 1) * Wp * g.c;
            padded = g.pt || g.pb || g.pl || g.pr;
        }
        // Tile t of `tiles` (otiles or wtiles): its first vector v0 and its nv vectors.
        void channel_tile(int64_t t, int64_t tiles, int64_t& v0, int& nv) const {
            int64_t end;
            split_range(vecs, tiles, t, v0, end);
            nv = int(end - v0);
        }
        int threads(int64_t parallel_items, int64_t work) const {
            return work < 32768 ? 1 : int(std::min<int64_t>(get_num_threads(), parallel_items));
        }
    };

    // One thread's view of the images: x itself, or image n copied into a zero-bordered buffer when padded (kept
    // while consecutive rows come from the same image).
    struct Images {
        const Conv2dGeom& g;
        const Plan& p;
        const T* x;
        std::vector<T> buf;
        int64_t current = -1;
        Images(const Conv2dGeom& g_, const Plan& p_, const T* x_)
            : g(g_), p(p_), x(x_), buf(size_t(p_.padded ? p_.image : 0), T(0)) {}
        const T* operator()(int64_t n) {
            if (!p.padded) return x + n * g.h * g.w * g.c;
            if (n != current) {
                current = n;
                for (int64_t h = 0; h < g.h; ++h) {
                    const T* src = x + (n * g.h + h) * g.w * g.c;
                    std::copy(src, src + g.w * g.c, buf.data() + ((g.pt + h) * p.Wp + g.pl) * g.c);
                }
            }
            return buf.data();
        }
    };

    // A tile's PR x NV accumulators into y, straight from the registers: stored from a buffer after the tile
    // returned, they were a tenth of LeNet's 6->16 forward. One copy of the code with the activation's kind tested
    // per vector (a branch that always goes the same way): a copy per kind made GCC spill the accumulators of tiles
    // over 15 pixels in the loop above.
    template <int PR, int NV>
    [[gnu::always_inline]] static inline void store_tile(const Vec (&acc)[PR][NV], const TileStore& o) {
        const bool whole = o.left >= int64_t(NV) * kLanes;
#pragma GCC unroll 24
        for (int i = 0; i < PR; ++i)
#pragma GCC unroll 4
            for (int v = 0; v < NV; ++v) {
                Vec r = acc[i][v];
                if (o.bias) r += o.bias[v];
                r = activate_stored(*o.ep, r);
                T* d = o.y + i * o.ldy + v * kLanes;
                const int64_t n = whole ? kLanes : std::min<int64_t>(kLanes, o.left - v * kLanes);
                if (n == kLanes)
                    store(d, r);
                else
                    std::memcpy(d, &r, size_t(n) * sizeof(T));
            }
    }

    // Output rows (n, oh) are split among the threads; each row's pixels go in balanced tiles of at most kAcc / NV
    // (62 pixels at NV = 1: 21 + 21 + 20). Rows of at most kAcc / (2 NV) pixels go two to a tile (their outputs are
    // contiguous in y): LeNet's 6->16 layer has rows of 10 pixels, and 10 accumulators left the FMAs waiting on each
    // other (Zen 5, 1 thread, 5x5 6->16 at 10 / 20 pixels a row: 183 / 204 GFLOP/s).
    static void forward(const Conv2dGeom& g, const T* x, const T* w, T* y, const StoreEpilogue<T>& ep) {
        const Plan p(g);
        const int64_t rows = g.n * g.ho;
        if (rows * g.wo == 0) return;
        std::vector<Vec> bias(size_t(ep.bias ? p.vecs : 0));
        for (int64_t o = 0; ep.bias && o < p.O; ++o) bias[size_t(o / kLanes)][o % kLanes] = ep.bias[o];
        // One channel vector and 5-wide kernel rows at stride 1 take the sliding tiles, every tile of the layer.
        const bool sliding = Bytes == 64 && p.vecs == 1 && g.kw == kSlidingKw && (g.sw == 1 || g.wo == 1) && g.dw == 1;
        // The weights per channel tile: K rows of the tile's NV vectors, zero past O; tile v0 at K * v0 lanes. Tap
        // k = (kh, kx, c) is row k, or row (kh, c, kx) for the sliding tiles (they read a channel's kernel row at
        // once).
        std::vector<Vec> wstore(size_t(p.K * p.vecs));
        T* wp = reinterpret_cast<T*>(wstore.data());
        for (int64_t t = 0; t < p.otiles; ++t) {
            int64_t v0;
            int nv;
            p.channel_tile(t, p.otiles, v0, nv);
            T* dst = wp + p.K * v0 * kLanes;
            for (int64_t k = 0; k < p.K; ++k) {
                const int64_t kh = k / p.S, kx = k % p.S / g.c, c = k % g.c;
                const int64_t row = sliding ? (kh * g.c + c) * g.kw + kx : k;
                for (int64_t e = 0; e < nv * kLanes; ++e) {
                    const int64_t o = v0 * kLanes + e;
                    dst[row * nv * kLanes + e] = o < p.O ? w[k * p.O + o] : T(0);
                }
            }
        }
        const int64_t max_nv = (p.vecs + p.otiles - 1) / p.otiles;
        const int64_t per_task = g.ho > 1 && max_nv <= 2 && 2 * g.wo * max_nv <= kAcc ? 2 : 1;
        const int64_t per_image = (g.ho + per_task - 1) / per_task, tasks = g.n * per_image;
        const int nt = p.threads(tasks, work_estimate({rows, g.wo, p.K, p.O}));
#pragma omp parallel num_threads(nt) if (nt > 1)
        {
            Images images(g, p, x);
            // Kernel rows that read only the zero border are skipped (a 'valid' layer's input gradient, run as the
            // transposed convolution padded by KH - 1, has them on KH - 1 of its rows at each edge).
            auto live_rows = [&](int64_t oh, int64_t& kh0, int64_t& kh1) {
                const int64_t top = oh * g.sh - g.pt;
                kh0 = std::min(g.kh, std::max<int64_t>(0, (-top + g.dh - 1) / g.dh));
                kh1 = std::max(kh0, std::min(g.kh, (g.h - top + g.dh - 1) / g.dh));
            };
            // Output rows [oh, oh + h) of image n, h of them to a tile (h = 2 only when a row fits half a tile).
            auto run_rows = [&](int64_t n, int64_t oh, int64_t h, int64_t kh0, int64_t kh1) {
                const T* src = images(n) + oh * p.row_stride + kh0 * p.seg_stride;
                T* yrow = y + (n * g.ho + oh) * g.wo * p.O;
                for (int64_t t = 0; t < p.otiles; ++t) {
                    int64_t v0;
                    int nv;
                    p.channel_tile(t, p.otiles, v0, nv);
                    const int64_t pr_max = kAcc / nv / h, ptiles = (g.wo + pr_max - 1) / pr_max;
                    const ForwardTile* fns = h == 2 ? tiles().pairs[nv - 1] : tiles().forward[nv - 1];
                    for (int64_t pt = 0; pt < ptiles; ++pt) {
                        int64_t ow0, ow1;
                        split_range(g.wo, ptiles, pt, ow0, ow1);
                        const int pr = int(ow1 - ow0);
                        const TileStore out{yrow + ow0 * p.O + v0 * kLanes, p.O, p.O - v0 * kLanes,
                                            ep.bias ? bias.data() + v0 : nullptr, &ep};
                        if (sliding)
                            tiles().sliding_forward[h - 1][pr - 1](kh1 - kh0, g.c, p.seg_stride, src + ow0 * p.ldc,
                                                                   p.row_stride, wp + kh0 * p.S * kLanes, out);
                        else
                            fns[pr - 1](kh1 - kh0, p.S, p.seg_stride, src + ow0 * p.ldc, p.ldc, p.row_stride,
                                        wp + (p.K * v0 + kh0 * p.S * nv) * kLanes, out);
                    }
                }
            };
#pragma omp for schedule(static)
            for (int64_t task = 0; task < tasks; ++task) {
                const int64_t n = task / per_image, oh = task % per_image * per_task;
                const int64_t h = std::min(per_task, g.ho - oh);
                int64_t kh0, kh1, kh0b, kh1b;
                live_rows(oh, kh0, kh1);
                if (h == 2) live_rows(oh + 1, kh0b, kh1b);
                if (h == 2 && kh0 == kh0b && kh1 == kh1b) {
                    run_rows(n, oh, 2, kh0, kh1);
                    continue;
                }
                run_rows(n, oh, 1, kh0, kh1);
                if (h == 2) run_rows(n, oh + 1, 1, kh0b, kh1b);
            }
        }
    }

    // One weight-gradient tile: KR taps from k0 (inside kernel row k0 / S), NV channel vectors from v0.
    struct WeightJob {
        int64_t k0, v0;
        int kr, nv;
    };

    static std::vector<WeightJob> weight_jobs(const Conv2dGeom& g, const Plan& p) {
        std::vector<WeightJob> jobs;
        for (int64_t t = 0; t < p.wtiles; ++t) {
            int64_t v0;
            int nv;
            p.channel_tile(t, p.wtiles, v0, nv);
            const int64_t kr_max = kAcc / nv, ktiles = (p.S + kr_max - 1) / kr_max;
            for (int64_t kh = 0; kh < g.kh; ++kh)
                for (int64_t kt = 0; kt < ktiles; ++kt) {
                    int64_t s0, s1;
                    split_range(p.S, ktiles, kt, s0, s1);
                    jobs.push_back({kh * p.S + s0, v0, int(s1 - s0), nv});
                }
        }
        return jobs;
    }

    // Jobs [0, count) over output rows [r0, r1), added into part (K x opad). When O is not a whole number of
    // vectors, a pixel's last vector also reads the next pixel's first channels, whose sums land in part's padding
    // lanes and are never read; an image whose last vector would read past the array (the last one, or more when
    // images are smaller than a vector) is copied out padded first (a copy of every image, six floats at a time at
    // LeNet's 1->6, took an eighth of its weight gradient).
    struct GradRows {
        const Conv2dGeom& g;
        const Plan& p;
        const T* gy;
        std::vector<T> buf;
        int64_t current = -1, ld_;
        GradRows(const Conv2dGeom& g_, const Plan& p_, const T* gy_)
            : g(g_), p(p_), gy(gy_), buf(size_t(p_.opad != p_.O ? g_.ho * g_.wo * p_.opad : 0), T(0)), ld_(p_.O) {}
        int64_t ld() const { return ld_; }  // of the image last returned
        const T* operator()(int64_t n) {
            const int64_t pixels = g.ho * g.wo;
            ld_ = p.O;
            if (buf.empty() || (n + 1) * pixels * p.O + (p.opad - p.O) <= g.n * pixels * p.O)
                return gy + n * pixels * p.O;
            ld_ = p.opad;
            if (n != current) {
                current = n;
                for (int64_t q = 0; q < pixels; ++q)
                    std::copy(gy + (n * pixels + q) * p.O, gy + (n * pixels + q + 1) * p.O, buf.data() + q * p.opad);
            }
            return buf.data();
        }
    };

    // `block`: at most this many output rows per pass of the jobs (their image rows and grad_y rows are what every
    // job streams; a pass that fits the L2 streams them from there rather than from L3).
    static void weight_rows(const Conv2dGeom& g, const Plan& p, Images& images, GradRows& grads,
                            const WeightJob* jobs, int64_t count, int64_t r0, int64_t r1, T* part,
                            int64_t block) {
        for (int64_t r = r0; r < r1;) {
            const int64_t n = r / g.ho, oh = r % g.ho, rows = std::min({r1 - r, g.ho - oh, block});
            const T* src = images(n) + oh * p.row_stride;
            const T* image_grad = grads(n);  // before ld(), which is of the image last returned
            const T* grad = image_grad + oh * g.wo * grads.ld();
            for (int64_t j = 0; j < count; ++j) {
                const WeightJob& job = jobs[j];
                const T* a = src + (job.k0 / p.S) * p.seg_stride + job.k0 % p.S;
                const bool slides = p.ldc == 1 && job.nv == 1 && job.kr <= kMaxSliding;
                (slides ? tiles().sliding[job.kr - 1] : tiles().weight[job.nv - 1][job.kr - 1])(
                    rows, g.wo, a, p.ldc, p.row_stride, grad + job.v0 * kLanes, grads.ld(), g.wo * grads.ld(),
                    part + job.k0 * p.opad + job.v0 * kLanes, p.opad);
            }
            r += rows;
        }
    }

    // Small K * O: the output rows in kParts fixed groups, each summed into its own partial, then the partials in
    // order. Large K * O: each thread owns a range of the tiles and runs every row through them. Either way the
    // order of additions depends on the shape alone.
    static void backward_weight(const Conv2dGeom& g, const T* gy, const T* x, T* gw) {
        const Plan p(g);
        const int64_t rows = g.n * g.ho, psize = p.K * p.opad;
        if (rows * g.wo == 0) {
            std::fill(gw, gw + p.K * p.O, T(0));
            return;
        }
        const std::vector<WeightJob> jobs = weight_jobs(g, p);
        const int64_t njobs = int64_t(jobs.size()), work = work_estimate({rows, g.wo, p.K, p.O});
        const bool split_tiles = p.K * p.O >= kSplitTiles;
        const int64_t parts = split_tiles ? 1 : std::min(rows, kParts);
        std::vector<Vec> partial(size_t(parts * psize / kLanes));
        T* part = reinterpret_cast<T*>(partial.data());
        const int nt = p.threads(split_tiles ? njobs : parts, work);
#pragma omp parallel num_threads(nt) if (nt > 1)
        {
            Images images(g, p, x);
            GradRows grads(g, p, gy);
            if (split_tiles) {
                // Every thread's jobs stream all of the images, a block of rows at a time: whole images (VGG's
                // 28x28x128 input and gradient: 860 KiB) came from L3 for each job. Zen 3 (512 KiB L2), 2 threads,
                // weight gradient ms: 3x3 128->128 28x28 N32 76 -> 57, 256->256 14x14 62 -> 56, 64->64 56x56
                // 81 -> 58, 128->128 14x14 (one image fits) 14.5 -> 14.4.
                const int64_t row_bytes = (p.row_stride + g.wo * p.opad) * int64_t(sizeof(T));
                const int64_t block = std::max<int64_t>(1, l2_cache_bytes() / 2 / row_bytes);
                int64_t j0, j1;
                split_range(njobs, nt, omp_get_thread_num(), j0, j1);
                if (j0 < j1) weight_rows(g, p, images, grads, jobs.data() + j0, j1 - j0, 0, rows, part, block);
            } else {
#pragma omp for schedule(static)
                for (int64_t q = 0; q < parts; ++q) {
                    int64_t r0, r1;
                    split_range(rows, parts, q, r0, r1);
                    weight_rows(g, p, images, grads, jobs.data(), njobs, r0, r1, part + q * psize, g.ho);
                }
            }
        }
#pragma omp parallel for num_threads(p.threads(p.K, parts * psize)) schedule(static)
        for (int64_t k = 0; k < p.K; ++k) {
            T* dst = gw + k * p.O;
            std::copy(part + k * p.opad, part + k * p.opad + p.O, dst);
            for (int64_t q = 1; q < parts; ++q)
                for (int64_t o = 0; o < p.O; ++o) dst[o] += part[q * psize + k * p.opad + o];
        }
    }
};

}  // namespace
}  // namespace ember

#define EMBER_CONV_ROWS(isa, bytes)                                                                              \
    namespace ember {                                                                                            \
    ConvRowsKernels<float> conv_rows_##isa##_f32() {                                                            \
        return {&RowsConv<float, bytes>::forward, &RowsConv<float, bytes>::backward_weight};                     \
    }                                                                                                            \
    ConvRowsKernels<double> conv_rows_##isa##_f64() {                                                           \
        return {&RowsConv<double, bytes>::forward, &RowsConv<double, bytes>::backward_weight};                   \
    }                                                                                                            \
    }
