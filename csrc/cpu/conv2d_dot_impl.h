// The input gradient of a layer with few inputs and many outputs (LeNet's 6->16 5x5) as dot products over the
// output channels, included by conv2d_direct_impl.h. gx[n, y, x, c] = sum over taps (ky, kx) and outputs o of
// gy[n, y + pt - ky, x + pl - kx, o] * w[ky, kx, c, o]: both factors are contiguous in o, so the vectors run along
// o with every lane busy whatever C is. The other forms vectorize over gx's C channels (6 of 16 lanes) or, by
// image, run a GEMM of depth O (16) and add its column rows back one by one.
// A tile is P pixels of one gx row times all C channels: P * ceil(C / kSlots) vector accumulators (with AVX-512 a
// vector holds two channels, 8 outputs o each), each slot summed across its lanes at the end by a shuffle tree,
// which gives the tile's P * C contiguous outputs. Only real taps are computed: the kernel rows whose gy row
// exists, and per tile the kernel columns that reach a gy column from some pixel of it; gy's rows are copied
// between zero borders so that a tile's other pixels read zeros there.
#pragma once

#include <algorithm>
#include <cstdint>
#include <utility>
#include <vector>

#include "../common/parallel.h"
#include "../common/shapes.h"
#include "conv2d_depthwise_impl.h"
#include "simd_vector.h"

namespace ember {
namespace {

template <typename T, int Bytes>
struct DotInputGrad {
    static constexpr int kLanes = Bytes / int(sizeof(T));
    // Channels per vector: with AVX-512, two, each on half the lanes (8 outputs o of a float tap), so that a lane
    // sum is a tree of three levels, not four, for each output: the trees were a third of the time at LeNet's
    // 6->16 (4 pixels x 6 channels of 16 lanes: 0.140 ms, 2 threads), their cost by output halved with the lanes.
    static constexpr int kSlots = Bytes == 64 ? 2 : 1;
    static constexpr int kSub = kLanes / kSlots;  // lanes (outputs o) per channel
    static constexpr int kMaxC = 8;
    static constexpr int kRegisters = Bytes == 64 ? 32 : 16;
    static constexpr int kMaxPixels = 8;
    using Vec = typename VectorOf<T, Bytes>::type;
    using VecU = typename VectorOf<T, Bytes>::unaligned;
    using SubU = typename VectorOf<T, Bytes / kSlots>::unaligned;

    static Vec load(const T* p) { return *reinterpret_cast<const VecU*>(p); }
    static void store(T* p, Vec v) { *reinterpret_cast<VecU*>(p) = v; }

    // kSub values of gy repeated in every slot.
    template <size_t... I>
    static Vec repeated(const T* p, std::index_sequence<I...>) {
        const auto h = *reinterpret_cast<const SubU*>(p);
        return __builtin_shufflevector(h, h, int(I % kSub)...);
    }
    static Vec gy_vector(const T* p) {
        if constexpr (kSlots == 1)
            return load(p);
        else
            return repeated(p, std::make_index_sequence<kLanes>());
    }

    // Vectors of channels (slots) per pixel, and pixels per tile: as many as keep the accumulators, a tap's
    // weight vectors and a gy vector in the registers (32 with AVX-512, else 16), at most 8.
    template <int C>
    static constexpr int groups() {
        return (C + kSlots - 1) / kSlots;
    }
    template <int C>
    static constexpr int pixels() {
        return std::clamp((kRegisters - 1 - groups<C>()) / groups<C>(), 1, kMaxPixels);
    }

    // One level of the lane-sum tree on lanes in segments of L: segment s of the result is segment s of a with
    // its two halves added, then the same of b.
    static constexpr int half_index(int i, int L, int upper) {
        const int s = i / L, q = i % L;
        return (q < L / 2 ? s * L + q : kLanes + s * L + q - L / 2) + upper * (L / 2);
    }
    template <int L, size_t... I>
    static Vec fold(Vec a, Vec b, std::index_sequence<I...>) {
        return __builtin_shufflevector(a, b, half_index(int(I), L, 0)...) +
               __builtin_shufflevector(a, b, half_index(int(I), L, 1)...);
    }
    template <int L>
    static void fold_level(Vec* v) {
#pragma GCC unroll 16
        for (int i = 0; i < L / 2; ++i) v[i] = fold<L>(v[2 * i], v[2 * i + 1], std::make_index_sequence<kLanes>());
        if constexpr (L > 2) fold_level<L / 2>(v);
    }
    static constexpr int bit_reversed(int i) {
        int r = 0;
        for (int b = 1; b < kSub; b <<= 1, i >>= 1) r = (r << 1) | (i & 1);
        return r;
    }
    // The tree leaves lane s * kSub + k with slot s of its k-th vector; outputs go vector by vector.
    template <size_t... I>
    static Vec vector_major(Vec v, std::index_sequence<I...>) {
        return __builtin_shufflevector(v, v, int(I % kSlots * kSub + I / kSlots)...);
    }

    // out[j * kSlots + s] = the lane sum of slot s of acc[j], for j < M: kSub vectors at a time through the tree,
    // fed in bit-reversed order so that its lanes come out in order.
    template <int M>
    static void lane_sums(const Vec* acc, T* out) {
#pragma GCC unroll 4
        for (int j0 = 0; j0 < M; j0 += kSub) {
            Vec v[kSub];
#pragma GCC unroll 16
            for (int i = 0; i < kSub; ++i) {
                const int j = j0 + bit_reversed(i);
                v[i] = j < M ? acc[j] : Vec{};
            }
            fold_level<kSub>(v);
            if constexpr (kSlots > 1) v[0] = vector_major(v[0], std::make_index_sequence<kLanes>());
            store(out + j0 * kSlots, v[0]);
        }
    }

    // The tile of Q pixels from row pointer `row` (the padded gy row of kernel row ky0, at pixel x0's column for
    // kx = 0; kernel row ky is `ld` elements before it) against the arranged weights of kernel row ky0 (`wr`,
    // rows `wld` apart): kernel rows [0, rows), columns [kx0, kx1). The Q * C outputs go to out.
    template <int C, int Q>
    static void tile(const T* row, int64_t ld, int64_t rows, const T* wr, int64_t wld, int64_t kx0, int64_t kx1,
                     int64_t O, T* out) {
        constexpr int G = groups<C>();
        const int64_t chunks = O / kSub, tap = chunks * G * kLanes;  // arranged weights per tap
        Vec acc[Q * G];
#pragma GCC unroll 32
        for (int j = 0; j < Q * G; ++j) acc[j] = Vec{};
        for (int64_t r = 0; r < rows; ++r, row -= ld, wr += wld) {
            for (int64_t ch = 0; ch < chunks; ++ch) {
                // kx innermost: one pointer step each for gy (back a pixel) and the weights (on a tap).
                const T* gp = row - kx0 * O + ch * kSub;
                const T* wp = wr + kx0 * tap + ch * G * kLanes;
                for (int64_t kx = kx0; kx < kx1; ++kx, gp -= O, wp += tap) {
                    Vec wv[G];
#pragma GCC unroll 8
                    for (int j = 0; j < G; ++j) {
                        wv[j] = load(wp + j * kLanes);
                        // In a register: GCC would fold the load into each of the Q FMAs that use it instead, and
                        // the loads, not the FMAs, set the pace (8->16 5x5 31x31, 1 thread: 1.23 -> 1.04 ms).
                        asm("" : "+v"(wv[j]));
                    }
#pragma GCC unroll 8
                    for (int p = 0; p < Q; ++p) {
                        const Vec gv = gy_vector(gp + p * O);
#pragma GCC unroll 8
                        for (int j = 0; j < G; ++j) acc[p * G + j] += gv * wv[j];
                    }
                }
            }
        }
        if constexpr (G * kSlots == C) {
            if constexpr (Q * G % kSub == 0) return lane_sums<Q * G>(acc, out);
        }
        alignas(Bytes) T sums[(Q * G + kSub - 1) / kSub * kLanes];
        lane_sums<Q * G>(acc, sums);
        for (int p = 0; p < Q; ++p) std::copy(sums + p * G * kSlots, sums + p * G * kSlots + C, out + p * C);
    }

    // The last tile of a row, q < P pixels: its own instantiation, so its accumulators stay in registers too.
    template <int C, int Q, class... Args>
    static void short_tile(int q, Args... args) {
        if constexpr (Q > 0) {
            if (q == Q) return tile<C, Q>(args...);
            short_tile<C, Q - 1>(q, args...);
        }
    }

    // gx row y of one image from its padded gy rows (KW - 1 zero pixels each side of a row of Wo).
    template <int C>
    static void row(const Conv2dGeom& g, const T* padded, const T* wr, int64_t y, T* gxr) {
        constexpr int P = pixels<C>();
        const int64_t O = g.o, KW = g.kw, ld = (g.wo + 2 * (KW - 1)) * O;
        const int64_t wld = KW * (O / kSub) * groups<C>() * kLanes;  // arranged weights per kernel row
        // Kernel rows that reach a gy row (at stride 1, at least one for every row of x).
        const int64_t ky0 = std::max<int64_t>(0, y + g.pt - (g.ho - 1)), ky1 = std::min<int64_t>(g.kh, y + g.pt + 1);
        for (int64_t x0 = 0; x0 < g.w; x0 += P) {
            const int q = int(std::min<int64_t>(P, g.w - x0));
            // Kernel columns that reach a gy column from some pixel of the tile.
            const int64_t kx0 = std::max<int64_t>(0, x0 + g.pl - (g.wo - 1));
            const int64_t kx1 = std::min<int64_t>(KW, x0 + q + g.pl);
            const T* first = padded + (y + g.pt - ky0) * ld + (x0 + g.pl + KW - 1) * O;
            const T* wk = wr + ky0 * wld;
            if (q == P)
                tile<C, P>(first, ld, ky1 - ky0, wk, wld, kx0, kx1, O, gxr + x0 * C);
            else
                short_tile<C, P - 1>(q, first, ld, ky1 - ky0, wk, wld, kx0, kx1, O, gxr + x0 * C);
        }
    }

    // The weights as the tiles read them: per tap (ky, kx), per chunk of kSub outputs o, per group of kSlots
    // channels, one vector (slot s: channel group * kSlots + s, zero past C).
    template <int C>
    static std::vector<T> arranged(const Conv2dGeom& g, const T* w) {
        constexpr int G = groups<C>();
        const int64_t taps = g.kh * g.kw, chunks = g.o / kSub;
        std::vector<T> wr(size_t(taps * chunks * G * kLanes), T(0));
        for (int64_t t = 0; t < taps; ++t)
            for (int64_t ch = 0; ch < chunks; ++ch)
                for (int j = 0; j < G; ++j)
                    for (int s = 0; s < kSlots && j * kSlots + s < C; ++s) {
                        const T* src = w + (t * C + j * kSlots + s) * g.o + ch * kSub;
                        std::copy(src, src + kSub, wr.data() + ((t * chunks + ch) * G + j) * kLanes + s * kSub);
                    }
        return wr;
    }

    template <int C>
    static void run(const Conv2dGeom& g, const T* gy, const T* w, T* gx) {
        const std::vector<T> wr = arranged<C>(g, w);
        const int64_t O = g.o, pad = g.kw - 1, ld = (g.wo + 2 * pad) * O, rows = g.n * g.h;
#pragma omp parallel num_threads(depthwise_threads(work_estimate({rows, g.w, g.kh, g.kw, C, O})))
        {
            std::vector<T> padded(size_t(g.ho * ld), T(0));  // the borders stay zero; rows are copied per image
            int64_t image = -1;
#pragma omp for schedule(static)
            for (int64_t r = 0; r < rows; ++r) {
                const int64_t n = r / g.h;
                if (n != image) {
                    for (int64_t oy = 0; oy < g.ho; ++oy) {
                        const T* src = gy + (n * g.ho + oy) * g.wo * O;
                        std::copy(src, src + g.wo * O, padded.data() + oy * ld + pad * O);
                    }
                    image = n;
                }
                row<C>(g, padded.data(), wr.data(), r % g.h, gx + r * g.w * C);
            }
        }
    }

    // Stride 1, no dilation, one group, C <= kMaxC, O a multiple of 16 (of kSub at every width).
    static void backward_input(const Conv2dGeom& g, const T* gy, const T* w, T* gx) {
        switch (g.c) {
            case 1: return run<1>(g, gy, w, gx);
            case 2: return run<2>(g, gy, w, gx);
            case 3: return run<3>(g, gy, w, gx);
            case 4: return run<4>(g, gy, w, gx);
            case 5: return run<5>(g, gy, w, gx);
            case 6: return run<6>(g, gy, w, gx);
            case 7: return run<7>(g, gy, w, gx);
            default: return run<8>(g, gy, w, gx);
        }
    }
};

}  // namespace
}  // namespace ember
