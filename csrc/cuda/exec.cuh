// Where a driver's work runs. Every driver (conv2d.cu, rnn.cu, ...) is a template over an executor X and calls
//     x.for_each(n, body)                          body(idx) for idx < n, in any order (bodies write disjoint data)
//     x.template tiled<T, TM, TN>(A, B, store, M, N, K, batch, allow_split)     gemm_tile.cuh's product
//     x.template gated<T, TM, G>(A, B, cell, rows, units, K)                    a recurrent step
//     x.template scratch<T>(n), x.zero(p, n)
// DeviceExec queues kernels on the call's stream and checks each launch; HostExec runs the same bodies, loaders,
// stores and cells on the CPU, reducing every product in the same order (k ascending, one FMA per term, the same
// split-K chunks), so that ember._cuda.emulator checks the kernels' index math and cell code without a GPU. What it
// cannot check is the device-only part: tile_product's shared-memory tiling and the grid mappings.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>
#include <cstring>
#include <vector>

#include "common.cuh"
#include "cuda_check.h"
#include "device_buffer.h"
#include "gemm_tile.cuh"

namespace ember {
namespace cuda {

template <class F>
__global__ void for_each_kernel(int64_t n, F body) {
    for (int64_t idx = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; idx < n;
         idx += int64_t(gridDim.x) * blockDim.x)
        body(idx);
}

struct DeviceExec {
    Ctx ctx;

    template <class F>
    void for_each(int64_t n, const F& body) const {
        if (n <= 0) return;
        for_each_kernel<<<grid_for(n), kBlock, 0, ctx.stream>>>(n, body);
        EMBER_CUDA_LAUNCHED(ctx);
    }

    template <typename T, int TM, int TN, class LA, class LB, class S>
    void tiled(const LA& a, const LB& b, const S& store, int64_t M, int64_t N, int64_t K, int64_t batch,
               bool allow_split) const {
        if (M <= 0 || N <= 0 || batch <= 0) return;
        const TilePlan t = plan_tiles(16 * TM, 16 * TN, M, N, K, batch, allow_split);
        if (t.tiles_m > 0x7fffffff)
            throw CudaError(std::string(ctx.op) + ": " + std::to_string(M) + " rows exceed the CUDA grid",
                            cudaErrorInvalidConfiguration);
        const dim3 grid(unsigned(t.tiles_m), unsigned(min64(t.tiles_n, 65535)),
                        unsigned(min64(batch * t.splits, 65535)));
        DeviceBuffer<T> partial(ctx, t.splits > 1 ? size_t(batch * t.splits * M * N) : 0);
        tiled_gemm_kernel<T, TM, TN><<<grid, kTileThreads, 0, ctx.stream>>>(a, b, store, M, N, batch, t.splits, K,
                                                                             t.k_chunk, partial.get());
        EMBER_CUDA_LAUNCHED(ctx);
        if (t.splits > 1) for_each(batch * M * N, SplitSum<T, S>{partial.get(), store, M, N, t.splits});
    }

    template <typename T, int TM, int G, class LA, class LB, class Cell>
    void gated(const LA& a, const LB& b, const Cell& cell, int64_t rows, int64_t units, int64_t K) const {
        if (rows <= 0 || units <= 0) return;
        const dim3 grid(unsigned(ceil_div(units, 16)), unsigned(min64(ceil_div(rows, 16 * TM), 65535)));
        gated_product_kernel<T, TM, G><<<grid, kTileThreads, 0, ctx.stream>>>(a, b, cell, rows, units, K);
        EMBER_CUDA_LAUNCHED(ctx);
    }

    template <typename T>
    DeviceBuffer<T> scratch(size_t n) const {
        return DeviceBuffer<T>(ctx, n);
    }

    template <typename T>
    void zero(T* p, int64_t n) const {
        if (n > 0) EMBER_CUDA_CHECK(ctx.op, cudaMemsetAsync(p, 0, size_t(n) * sizeof(T), ctx.stream));
    }
};

template <typename T>
class HostBuffer {
  public:
    explicit HostBuffer(size_t n) : data_(n) {}
    T* get() { return data_.empty() ? nullptr : data_.data(); }

  private:
    std::vector<T> data_;
};

struct HostExec {
    Ctx ctx;

    template <class F>
    void for_each(int64_t n, const F& body) const {
        for (int64_t i = 0; i < n; ++i) body(i);
    }

    // Element (index, k) products in the device's order: k ascending within each split's chunk from 0, then the
    // splits' partial sums added in order (SplitSum).
    template <typename T, class LA, class LB>
    static T dot(const LA& a, const LB& b, int64_t m, int64_t n, int64_t k_begin, int64_t k_end) {
        const typename LA::Ctx ca = a.ctx(m);
        const typename LB::Ctx cb = b.ctx(n);
        T acc = T(0);
        for (int64_t k = k_begin; k < k_end; ++k) {
            if constexpr (LA::kHoles) {
                if (!a.present(ca, k)) continue;
            }
            acc = fma_(a.load(ca, k), b.load(cb, k), acc);
        }
        return acc;
    }

    template <typename T, int TM, int TN, class LA, class LB, class S>
    void tiled(const LA& a, const LB& b, const S& store, int64_t M, int64_t N, int64_t K, int64_t batch,
               bool allow_split) const {
        if (M <= 0 || N <= 0 || batch <= 0) return;
        const TilePlan t = plan_tiles(16 * TM, 16 * TN, M, N, K, batch, allow_split);
        for (int64_t p = 0; p < batch; ++p) {
            const LA ap = a.for_batch(p);
            const LB bp = b.for_batch(p);
            for (int64_t m = 0; m < M; ++m)
                for (int64_t n = 0; n < N; ++n) {
                    T v = dot<T>(ap, bp, m, n, 0, min64(K, t.k_chunk));
                    for (int s = 1; s < t.splits; ++s)
                        v += dot<T>(ap, bp, m, n, s * t.k_chunk, min64(K, (s + 1) * t.k_chunk));
                    store(p, m, n, v);
                }
        }
    }

    template <typename T, int TM, int G, class LA, class LB, class Cell>
    void gated(const LA& a, const LB& b, const Cell& cell, int64_t rows, int64_t units, int64_t K) const {
        for (int64_t row = 0; row < rows; ++row)
            for (int64_t unit = 0; unit < units; ++unit) {
                T rec[G];
                for (int g = 0; g < G; ++g) rec[g] = dot<T>(a, b, row, gate_column(unit, g, G), 0, K);
                cell(row, unit, rec);
            }
    }

    template <typename T>
    HostBuffer<T> scratch(size_t n) const {
        return HostBuffer<T>(n);
    }

    template <typename T>
    void zero(T* p, int64_t n) const {
        if (n > 0) std::memset(p, 0, size_t(n) * sizeof(T));
    }
};

}  // namespace cuda
}  // namespace ember
