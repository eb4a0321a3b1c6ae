#include "column_sums.h"

#include "exec.cuh"

namespace ember {
namespace cuda {
namespace {

// Item (split, column): the sum of rows [split * chunk, ...) of that column; consecutive threads read consecutive
// columns of a row.
template <typename T>
struct ChunkSums {
    const T* a;
    T* out;  // (splits, N)
    int64_t m, n, chunk;
    EMBER_HD void operator()(int64_t idx) const {
        const int64_t col = idx % n, split = idx / n, r1 = min64(m, (split + 1) * chunk);
        T acc = T(0);
        for (int64_t r = split * chunk; r < r1; ++r) acc += a[r * n + col];
        out[idx] = acc;
    }
};

}  // namespace

template <class X, typename T>
void column_sums(const Ctx& ctx, int64_t m, int64_t n, const T* a, T* out) {
    const X ex{ctx};
    const int64_t splits = max64(1, min64(1024, m / 256)), chunk = max64(1, ceil_div(m, splits));
    auto partial = ex.template scratch<T>(size_t(splits * n));
    ex.for_each(splits * n, ChunkSums<T>{a, partial.get(), m, n, chunk});
    const StridedStore<T> store{out, 0, n, T(1), T(0)};
    ex.for_each(n, SplitSum<T, StridedStore<T>>{partial.get(), store, 1, n, int(splits)});
}

#define EMBER_CUDA_COLUMN_SUMS_INSTANTIATE(X, T) \
    template void column_sums<X, T>(const Ctx&, int64_t, int64_t, const T*, T*);
EMBER_CUDA_FOR_EXECS(EMBER_CUDA_COLUMN_SUMS_INSTANTIATE)

}  // namespace cuda
}  // namespace ember
