// The register tiles of the chunked convolution (conv2d_rows.h): the forward and weight-gradient micro-kernels over
// NV channel vectors, the forward's store through the epilogue, and the table of every tile size. Included only by
// conv2d_rows_impl.h, whose RowsConv<T, Bytes> (the drivers) derives from RowsTiles<T, Bytes>; internal linkage keeps
// each ISA's copy apart.
#pragma once

#include <algorithm>
#include <cstring>
#include <utility>

#include "conv2d_rows.h"
#include "simd_vector.h"

namespace ember {
namespace {

template <typename T, int Bytes>
struct RowsTiles {
    static constexpr int64_t kLanes = Bytes / int64_t(sizeof(T));
    // Accumulators per tile: 24 of AVX-512's 32 registers, 12 of the 16 narrower ones; the rest hold the NV loaded
    // vectors (the GEMM's 12 x 2 and 6 x 2 tiles).
    static constexpr int kAcc = Bytes == 64 ? 24 : 12;
    static constexpr int kMaxNv = 4;
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
};

}  // namespace
}  // namespace ember
