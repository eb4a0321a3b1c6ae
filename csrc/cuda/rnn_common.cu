// The recurrent weight gradients as one product (rnn_common.cuh: rnn_weight_grads), compiled once for rnn.cu and
// gru.cu. K = T * B rows is long and M x N small, so the product splits K (gemm_tile.cuh: plan_tiles).
#include "rnn_common.cuh"

namespace ember {
namespace cuda {
namespace {

template <typename T>
struct WeightGradRows {
    static constexpr bool kHoles = false;
    WeightGradArgs<T> a;
    int64_t rows;
    bool k_fast;
    struct Ctx {
        int64_t m;  // -1 past the last row
    };
    EMBER_HD WeightGradRows for_batch(int64_t) const { return *this; }
    EMBER_HD Ctx ctx(int64_t m) const { return {m < rows ? m : -1}; }
    EMBER_HD T load(const Ctx& c, int64_t k) const {
        if (c.m < 0 || masked(a.mask, k)) return T(0);
        if (c.m < a.I) return a.x[k * a.I + c.m];
        const int64_t u = c.m - a.I;
        if (u < a.H) return k < a.B ? a.h0[k * a.H + u] : a.h[(k - a.B) * a.H + u];
        return T(1);
    }
};

template <typename T>
struct WeightGradStore {
    T *gw, *gu, *gb;
    int64_t I, H, ld, col;
    EMBER_HD void operator()(int64_t, int64_t m, int64_t n, T v) const {
        if (m < I)
            gw[m * ld + col + n] = v;
        else if (m < I + H)
            gu[(m - I) * ld + col + n] = v;
        else
            gb[col + n] = v;
    }
};

}  // namespace

template <class X, typename T>
void rnn_weight_grads(const Ctx& ctx, const WeightGradArgs<T>& a) {
    const int64_t rows = a.I + a.H + (a.ones ? 1 : 0);
    const WeightGradRows<T> A{a, rows, false};
    const StridedOperand<T> B = strided_operand(a.dz, 0, 1, a.ldz, a.N);
    const WeightGradStore<T> S{a.gw, a.gu, a.gb, a.I, a.H, a.ld_out, a.col};
    X{ctx}.template tiled<T, 4, 4>(A, B, S, rows, a.N, a.steps * a.B, 1, true);
}

#define EMBER_CUDA_RNN_COMMON_INSTANTIATE(X, T) \
    template void rnn_weight_grads<X, T>(const Ctx&, const WeightGradArgs<T>&);
EMBER_CUDA_FOR_EXECS(EMBER_CUDA_RNN_COMMON_INSTANTIATE)

}  // namespace cuda
}  // namespace ember
