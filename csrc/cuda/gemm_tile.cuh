// The one tiled, register-blocked matrix product every GEMM-shaped kernel is built from: plain GEMM, the three
// implicit-GEMM convolutions, the recurrent steps and the recurrent weight gradients.
//
// C (M, N) = A (M, K) B (K, N). A block of 256 threads (16 x 16) computes a (16 TM) x (16 TN) tile of C; thread
// (tx, ty) holds TM x TN accumulators, rows ty + 16 i and columns tx + 16 j of the tile (strided, so a warp's
// shared-memory reads are broadcasts for A and consecutive for B, and its stores to C are contiguous). K advances
// 16 at a time through shared memory; each element of C is reduced over k in ascending order with one FMA per
// term, whatever the tile shape (plain FMA in float32: no TF32). exec.cuh's HostExec reduces in the same order.
//
// Operands are read through loader objects, so that a convolution's A is the image gathered on the fly:
//     Ctx  ctx(int64 index)            per row of A (column of B), computed once per tile
//     T    load(const Ctx&, int64 k)   element (index, k); 0 for an index past the end or a padding cell
//     L    for_batch(int64 p)          the loader for batch item (or group) p
//     bool k_fast                      which of (index, k) is contiguous in memory: k_fast loads walk k first
//     kHoles, present(const Ctx&, k)   A only: with kHoles, terms whose A element is not present are skipped, not
//                                      multiplied by 0 (conv2d backward-input: a tap that reaches no output adds
//                                      nothing, so a NaN weight there does not turn the gradient into NaN)
// A store object writes the result: store(p, m, n, value).
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "common.cuh"

namespace ember {
namespace cuda {

constexpr int kTileK = 16;
constexpr int kTileThreads = 256;

// acc = A[m0 : m0 + BM, k_begin : k_end) B[k_begin : k_end, n0 : n0 + BN). Every thread of the block must call it
// (it synchronizes). The tile's TM * 16 * 16 elements of A are loaded TM per thread (and TN of B): slot s of a
// thread is element l = tid + 256 s of the tile, walked k-first or index-first as the loader asks.
template <typename T, int TM, int TN, class LA, class LB>
__device__ __forceinline__ void tile_product(const LA& a, const LB& b, int64_t m0, int64_t n0, int64_t k_begin,
                                             int64_t k_end, T (&acc)[TM][TN]) {
    constexpr int BM = 16 * TM, BN = 16 * TN;
    // +1: a k-first store walks a column of the tile; the odd row length spreads it over the banks.
    __shared__ T as[kTileK][BM + 1];
    __shared__ T bs[kTileK][BN + 1];
    __shared__ bool present[LA::kHoles ? kTileK : 1][LA::kHoles ? BM + 1 : 1];
    const int tid = int(threadIdx.x), tx = tid % 16, ty = tid / 16;

    int a_row[TM], a_k[TM];
    typename LA::Ctx a_ctx[TM];
#pragma unroll
    for (int s = 0; s < TM; ++s) {
        const int l = tid + kTileThreads * s;
        a_k[s] = a.k_fast ? l % kTileK : l / BM;
        a_row[s] = a.k_fast ? l / kTileK : l % BM;
        a_ctx[s] = a.ctx(m0 + a_row[s]);
    }
    int b_col[TN], b_k[TN];
    typename LB::Ctx b_ctx[TN];
#pragma unroll
    for (int s = 0; s < TN; ++s) {
        const int l = tid + kTileThreads * s;
        b_k[s] = b.k_fast ? l % kTileK : l / BN;
        b_col[s] = b.k_fast ? l / kTileK : l % BN;
        b_ctx[s] = b.ctx(n0 + b_col[s]);
    }
#pragma unroll
    for (int i = 0; i < TM; ++i)
#pragma unroll
        for (int j = 0; j < TN; ++j) acc[i][j] = T(0);

    for (int64_t k0 = k_begin; k0 < k_end; k0 += kTileK) {
#pragma unroll
        for (int s = 0; s < TM; ++s) {
            const int64_t k = k0 + a_k[s];
            as[a_k[s]][a_row[s]] = k < k_end ? a.load(a_ctx[s], k) : T(0);
            if constexpr (LA::kHoles) present[a_k[s]][a_row[s]] = k < k_end && a.present(a_ctx[s], k);
        }
#pragma unroll
        for (int s = 0; s < TN; ++s) {
            const int64_t k = k0 + b_k[s];
            bs[b_k[s]][b_col[s]] = k < k_end ? b.load(b_ctx[s], k) : T(0);
        }
        __syncthreads();
#pragma unroll
        for (int kk = 0; kk < kTileK; ++kk) {
            T ar[TM], br[TN];
#pragma unroll
            for (int i = 0; i < TM; ++i) ar[i] = as[kk][ty + 16 * i];
#pragma unroll
            for (int j = 0; j < TN; ++j) br[j] = bs[kk][tx + 16 * j];
#pragma unroll
            for (int i = 0; i < TM; ++i) {
                bool here = true;
                if constexpr (LA::kHoles) here = present[kk][ty + 16 * i];
#pragma unroll
                for (int j = 0; j < TN; ++j) acc[i][j] = here ? fma_(ar[i], br[j], acc[i][j]) : acc[i][j];
            }
        }
        __syncthreads();
    }
}

// Element (index, k) of a strided matrix: p[batch * bs + index * si + k * sk], index < count. A GEMM's A is
// (index = m, k); its B is (index = n, k), i.e. si = B's column stride and sk = its row stride.
template <typename T>
struct StridedOperand {
    static constexpr bool kHoles = false;
    const T* p;
    int64_t bs, si, sk, count;
    bool k_fast;

    struct Ctx {
        const T* line;  // null past the last index
    };
    EMBER_HD StridedOperand for_batch(int64_t q) const {
        StridedOperand r = *this;
        r.p += q * bs;
        return r;
    }
    EMBER_HD Ctx ctx(int64_t i) const { return {i < count ? p + i * si : nullptr}; }
    EMBER_HD T load(const Ctx& c, int64_t k) const { return c.line ? c.line[k * sk] : T(0); }
};

// Walk whichever of (index, k) has the smaller stride first, so that a warp's loads are contiguous.
inline bool k_first(int64_t stride_index, int64_t stride_k) {
    const int64_t si = stride_index < 0 ? -stride_index : stride_index;
    const int64_t sk = stride_k < 0 ? -stride_k : stride_k;
    return sk == 1 || (si != 1 && sk < si);
}

template <typename T>
StridedOperand<T> strided_operand(const T* p, int64_t bs, int64_t si, int64_t sk, int64_t count) {
    return {p, bs, si, sk, count, k_first(si, sk)};
}

// c[p * bs + m * ld + n] = alpha * v + beta * c; beta == 0 writes without reading (NaN in c does not leak).
template <typename T>
struct StridedStore {
    T* c;
    int64_t bs, ld;
    T alpha, beta;
    EMBER_HD void operator()(int64_t p, int64_t m, int64_t n, T v) const {
        T* d = c + p * bs + m * ld + n;
        *d = beta == T(0) ? alpha * v : alpha * v + beta * *d;
    }
};

// How a product is cut: TM x TN register tiles, and splits of K (chunks of k_chunk) for products with too few
// tiles to fill a GPU (weight gradients: small M x N, K = every pixel or every step). Chosen from the shapes
// alone, never from the device, so that results are the same on every GPU (and in HostExec).
struct TilePlan {
    int64_t tiles_m = 0, tiles_n = 0, k_chunk = 0;
    int splits = 1;
};

inline TilePlan plan_tiles(int bm, int bn, int64_t M, int64_t N, int64_t K, int64_t batch, bool allow_split) {
    constexpr int64_t kTargetBlocks = 256, kMinChunk = 256, kMaxSplits = 64;
    TilePlan t;
    t.tiles_m = ceil_div(M, bm);
    t.tiles_n = ceil_div(N, bn);
    t.k_chunk = K;
    const int64_t tiles = t.tiles_m * t.tiles_n * batch;
    if (!allow_split || tiles >= kTargetBlocks / 2 || K < 2 * kMinChunk) return t;
    int64_t s = min64(min64(ceil_div(kTargetBlocks, tiles), K / kMinChunk), kMaxSplits);
    if (s <= 1) return t;
    t.k_chunk = ceil_div(ceil_div(K, s), kTileK) * kTileK;
    t.splits = int(ceil_div(K, t.k_chunk));
    return t;
}

// grid: x = tiles of M, y = tiles of N (grid-stride past 65535), z = batch x splits of K (likewise).
// With splits > 1 each split writes its partial tile to `partial` (batch, splits, M, N); SplitSum then adds the
// splits in order, so the result does not depend on which block ran first.
template <typename T, int TM, int TN, class LA, class LB, class S>
__global__ void __launch_bounds__(kTileThreads)
    tiled_gemm_kernel(LA a, LB b, S store, int64_t M, int64_t N, int64_t batch, int splits, int64_t K,
                      int64_t k_chunk, T* partial) {
    constexpr int BM = 16 * TM, BN = 16 * TN;
    const int64_t tiles_n = ceil_div(N, BN);
    const int tx = int(threadIdx.x) % 16, ty = int(threadIdx.x) / 16;
    const int64_t m0 = int64_t(blockIdx.x) * BM;
    for (int64_t z = blockIdx.z; z < batch * splits; z += gridDim.z) {
        const int64_t p = z / splits;
        const int split = int(z % splits);
        const LA ap = a.for_batch(p);
        const LB bp = b.for_batch(p);
        const int64_t k_begin = split * k_chunk, k_end = min64(K, k_begin + k_chunk);
        for (int64_t tn = blockIdx.y; tn < tiles_n; tn += gridDim.y) {
            const int64_t n0 = tn * BN;
            T acc[TM][TN];
            tile_product<T, TM, TN>(ap, bp, m0, n0, k_begin, k_end, acc);
#pragma unroll
            for (int i = 0; i < TM; ++i) {
                const int64_t m = m0 + ty + 16 * i;
#pragma unroll
                for (int j = 0; j < TN; ++j) {
                    const int64_t n = n0 + tx + 16 * j;
                    if (m >= M || n >= N) continue;
                    if (splits == 1)
                        store(p, m, n, acc[i][j]);
                    else
                        partial[((p * splits + split) * M + m) * N + n] = acc[i][j];
                }
            }
        }
    }
}

// Item idx of (batch, M, N): the splits' partial sums of that element added in split order, then stored.
template <typename T, class S>
struct SplitSum {
    const T* partial;
    S store;
    int64_t M, N;
    int splits;
    EMBER_HD void operator()(int64_t idx) const {
        const int64_t mn = M * N, p = idx / mn, r = idx % mn;
        const T* src = partial + p * splits * mn + r;
        T v = src[0];
        for (int s = 1; s < splits; ++s) v += src[s * mn];
        store(p, r / N, r % N, v);
    }
};

// The recurrent step: rows x units of a product whose N columns are G gates per unit, grouped so that one thread
// holds every gate of its unit: the logical column of gate g of unit u is (u / 16) * 16 G + 16 g + u % 16 (a tile
// of 16 G columns covers 16 units). Then cell(row, unit, rec[G]) finishes the step for that (row, unit).
EMBER_HD int64_t gate_column(int64_t unit, int g, int G) { return (unit / 16) * 16 * G + 16 * g + unit % 16; }

template <typename T, int TM, int G, class LA, class LB, class Cell>
__global__ void __launch_bounds__(kTileThreads)
    gated_product_kernel(LA a, LB b, Cell cell, int64_t rows, int64_t units, int64_t K) {
    constexpr int BM = 16 * TM;
    const int tx = int(threadIdx.x) % 16, ty = int(threadIdx.x) / 16;
    const int64_t unit = int64_t(blockIdx.x) * 16 + tx;
    for (int64_t m0 = int64_t(blockIdx.y) * BM; m0 < rows; m0 += int64_t(gridDim.y) * BM) {
        T acc[TM][G];
        tile_product<T, TM, G>(a, b, m0, int64_t(blockIdx.x) * 16 * G, 0, K, acc);
#pragma unroll
        for (int i = 0; i < TM; ++i) {
            const int64_t row = m0 + ty + 16 * i;
            if (row < rows && unit < units) cell(row, unit, acc[i]);
        }
    }
}

}  // namespace cuda
}  // namespace ember
