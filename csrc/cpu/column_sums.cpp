// Column sums for narrow matrices too: a (50176, 6) bias gradient walked row by row gives 6-wide vectors (NumPy
// and a 1-row GEMM both ran at ~2 GB/s). Instead the flat array is summed in strips of `span` = lcm(cols, 16)
// elements (one row when rows are wide), a whole number of rows that is also a whole number of 16-lane vectors, so the inner loop is a
// full-width add whatever cols is; each strip accumulator is folded into cols sums at the end.
// Rows are cut into fixed blocks summed separately and then added in block order: the result does not depend on
// the thread count.
#include "column_sums.h"

#include <algorithm>
#include <memory>

#include "../common/parallel.h"

namespace ember {
namespace {

constexpr int64_t kBlockRows = 4096;  // rows per parallel task; a multiple of 16, so blocks hold whole strips

// Sums rows [r0, r1) into out (cols), through a strip accumulator acc (span elements).
template <typename T>
void sum_block(int64_t r0, int64_t r1, int64_t cols, int64_t span, const T* a, T* acc, T* out) {
    const int64_t strip_rows = span / cols, strips = (r1 - r0) / strip_rows;
    std::fill(acc, acc + span, T(0));
    const T* p = a + r0 * cols;
    for (int64_t s = 0; s < strips; ++s, p += span) {
#pragma omp simd
        for (int64_t k = 0; k < span; ++k) acc[k] += p[k];
    }
    std::fill(out, out + cols, T(0));
    for (int64_t r = 0; r < strip_rows; ++r)
        for (int64_t c = 0; c < cols; ++c) out[c] += acc[r * cols + c];
    for (int64_t r = r0 + strips * strip_rows; r < r1; ++r)  // rows past the last whole strip
        for (int64_t c = 0; c < cols; ++c) out[c] += a[r * cols + c];
}

}  // namespace

template <typename T>
void column_sums(int64_t rows, int64_t cols, const T* a, T* out) {
    if (cols == 0) return;
    const int64_t span = strip_span(cols);
    const int64_t blocks = std::max<int64_t>(1, (rows + kBlockRows - 1) / kBlockRows);
    auto partial = std::unique_ptr<T[]>(new T[size_t(blocks * cols)]);
    const int threads = rows * cols < (int64_t(1) << 16) ? 1 : get_num_threads();
#pragma omp parallel num_threads(threads)
    {
        auto acc = std::unique_ptr<T[]>(new T[size_t(span)]);
#pragma omp for schedule(static)
        for (int64_t b = 0; b < blocks; ++b)
            sum_block(b * kBlockRows, std::min(rows, (b + 1) * kBlockRows), cols, span, a, acc.get(),
                      partial.get() + b * cols);
    }
    std::copy(partial.get(), partial.get() + cols, out);
    for (int64_t b = 1; b < blocks; ++b)
        for (int64_t c = 0; c < cols; ++c) out[c] += partial[b * cols + c];
}

template void column_sums<float>(int64_t, int64_t, const float*, float*);
template void column_sums<double>(int64_t, int64_t, const double*, double*);

}  // namespace ember
