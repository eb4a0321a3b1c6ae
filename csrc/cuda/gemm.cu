// CUDA GEMM on the shared tiled product (gemm_tile.cuh): 128 x 128 tiles (8 x 8 per thread) when the output has
// enough of them to fill a GPU, else 64 x 64 (4 x 4), and split-K when even those are too few (a long reduction
// into a small C, as a bias gradient). float64 (gradient checks) always takes 64 x 64: 8 x 8 doubles per thread
// spill registers.
#include "gemm.h"

#include "exec.cuh"

namespace ember {
namespace cuda {

template <class X, typename T>
void gemm_batched(const Ctx& ctx, int64_t batch, int64_t m, int64_t n, int64_t k, T alpha, const T* a, int64_t bs_a,
                  int64_t rs_a, int64_t cs_a, const T* b, int64_t bs_b, int64_t rs_b, int64_t cs_b, T beta, T* c,
                  int64_t bs_c, int64_t ldc) {
    const X x{ctx};
    const StridedOperand<T> A = strided_operand(a, bs_a, rs_a, cs_a, m);
    const StridedOperand<T> B = strided_operand(b, bs_b, cs_b, rs_b, n);
    const StridedStore<T> C{c, bs_c, ldc, alpha, beta};
    constexpr int64_t kLargeTiles = 132;  // 128 x 128 tiles: about one per SM of an H100
    if constexpr (sizeof(T) == 4) {
        if (ceil_div(m, 128) * ceil_div(n, 128) * batch >= kLargeTiles) {
            x.template tiled<T, 8, 8>(A, B, C, m, n, k, batch, true);
            return;
        }
    }
    x.template tiled<T, 4, 4>(A, B, C, m, n, k, batch, true);
}

template <typename T>
struct GemmNaiveBody {
    int64_t n, k;
    T alpha;
    const T* a;
    int64_t rs_a, cs_a;
    const T* b;
    int64_t rs_b, cs_b;
    T beta;
    T* c;
    int64_t rs_c, cs_c;
    EMBER_HD void operator()(int64_t idx) const {
        const int64_t i = idx / n, j = idx % n;
        T acc = T(0);
        for (int64_t p = 0; p < k; ++p) acc = fma_(a[i * rs_a + p * cs_a], b[p * rs_b + j * cs_b], acc);
        T* d = c + i * rs_c + j * cs_c;
        *d = beta == T(0) ? alpha * acc : alpha * acc + beta * *d;
    }
};

template <class X, typename T>
void gemm_naive(const Ctx& ctx, int64_t m, int64_t n, int64_t k, T alpha, const T* a, int64_t rs_a, int64_t cs_a,
                const T* b, int64_t rs_b, int64_t cs_b, T beta, T* c, int64_t rs_c, int64_t cs_c) {
    if (n <= 0) return;
    X{ctx}.for_each(m * n, GemmNaiveBody<T>{n, k, alpha, a, rs_a, cs_a, b, rs_b, cs_b, beta, c, rs_c, cs_c});
}

#define EMBER_CUDA_GEMM_INSTANTIATE(X, T)                                                                         \
    template void gemm_batched<X, T>(const Ctx&, int64_t, int64_t, int64_t, int64_t, T, const T*, int64_t, int64_t, \
                                     int64_t, const T*, int64_t, int64_t, int64_t, T, T*, int64_t, int64_t);       \
    template void gemm_naive<X, T>(const Ctx&, int64_t, int64_t, int64_t, T, const T*, int64_t, int64_t, const T*,  \
                                   int64_t, int64_t, T, T*, int64_t, int64_t);
EMBER_CUDA_FOR_EXECS(EMBER_CUDA_GEMM_INSTANTIATE)

}  // namespace cuda
}  // namespace ember
