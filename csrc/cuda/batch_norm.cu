#include "batch_norm.h"

#include "exec.cuh"

namespace ember {
namespace cuda {
namespace {

// Chunk s of channel c: Welford's running mean and sum of squared deviations over rows [s * chunk, ...).
template <typename T>
struct ChunkMoments {
    const T* x;
    T *mean, *m2;  // (splits, C)
    int64_t M, C, chunk;
    EMBER_HD void operator()(int64_t idx) const {
        const int64_t c = idx % C, s = idx / C, r1 = min64(M, (s + 1) * chunk);
        T mu = T(0), q = T(0), n = T(0);
        for (int64_t r = s * chunk; r < r1; ++r) {
            const T v = x[r * C + c];
            n += T(1);
            const T delta = v - mu;
            mu += delta / n;
            q += delta * (v - mu);
        }
        mean[idx] = mu;
        m2[idx] = q;
    }
};

// Channel c: the chunks merged in order; chunk s has min(M, (s + 1) * chunk) - s * chunk rows.
template <typename T>
struct MergeMoments {
    const T *mean_part, *m2_part;
    T *mean, *var;
    int64_t M, C, chunk, splits;
    EMBER_HD void operator()(int64_t c) const {
        if (M == 0) {
            mean[c] = var[c] = T(NAN);
            return;
        }
        T n = T(0), mu = T(0), q = T(0);
        for (int64_t s = 0; s < splits; ++s) {
            const T nb = T(min64(M, (s + 1) * chunk) - s * chunk);
            if (nb <= T(0)) continue;
            const T mb = mean_part[s * C + c], qb = m2_part[s * C + c];
            const T total = n + nb, delta = mb - mu;
            mu += delta * (nb / total);
            q += qb + delta * delta * (n * nb / total);
            n = total;
        }
        mean[c] = mu;
        var[c] = q / n;
    }
};

}  // namespace

template <class X, typename T>
void batch_norm_statistics(const Ctx& ctx, int64_t M, int64_t C, const T* x, T* mean, T* var) {
    const X ex{ctx};
    // From the shapes alone: chunks of at least 256 rows, at most 1024 of them.
    const int64_t splits = max64(1, min64(1024, M / 256)), chunk = max64(1, ceil_div(M, splits));
    auto mean_part = ex.template scratch<T>(size_t(splits * C));
    auto m2_part = ex.template scratch<T>(size_t(splits * C));
    ex.for_each(splits * C, ChunkMoments<T>{x, mean_part.get(), m2_part.get(), M, C, chunk});
    ex.for_each(C, MergeMoments<T>{mean_part.get(), m2_part.get(), mean, var, M, C, chunk, splits});
}

#define EMBER_CUDA_BN_INSTANTIATE(X, T) \
    template void batch_norm_statistics<X, T>(const Ctx&, int64_t, int64_t, const T*, T*, T*);
EMBER_CUDA_FOR_EXECS(EMBER_CUDA_BN_INSTANTIATE)

}  // namespace cuda
}  // namespace ember
