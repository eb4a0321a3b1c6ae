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
#include "activation.h"

namespace ember {
namespace {

constexpr int64_t kBlockRows = 4096;  // rows per parallel task; a multiple of 16, so blocks hold whole strips

// acc[k] += p[s * span + k] for strips s in [0, count), each acc[k] summed in strip order, 16 columns of acc at a time
// in registers: with acc in memory every strip reloaded and restored it (one store-to-load round trip per strip, the
// pace of the whole sum once the data sat in L1).
template <typename T>
void add_strips(const T* p, int64_t count, int64_t span, T* __restrict acc) {
    int64_t k0 = 0;
    for (; k0 + 16 <= span; k0 += 16) {
        T a[16];
        for (int k = 0; k < 16; ++k) a[k] = acc[k0 + k];
        const T* q = p + k0;
        for (int64_t s = 0; s < count; ++s, q += span)
#pragma GCC unroll 16
            for (int k = 0; k < 16; ++k) a[k] += q[k];
        for (int k = 0; k < 16; ++k) acc[k0 + k] = a[k];
    }
    for (; k0 < span; ++k0) {
        T a = acc[k0];
        for (int64_t s = 0; s < count; ++s) a += p[s * span + k0];
        acc[k0] = a;
    }
}

// Sums rows [r0, r1) into out (cols), through a strip accumulator acc (span elements). With `produce`, each piece of
// rows is first written by produce(first element, count), a few strips at a time, and summed while in L1.
template <typename T, class Produce>
void sum_block(int64_t r0, int64_t r1, int64_t cols, int64_t span, const T* a, T* acc, T* out, Produce produce) {
    const int64_t strip_rows = span / cols, strips = (r1 - r0) / strip_rows;
    const int64_t per_piece = std::max<int64_t>(1, kL1Elements / span);
    std::fill(acc, acc + span, T(0));
    const T* p = a + r0 * cols;
    for (int64_t s0 = 0; s0 < strips; s0 += per_piece) {
        const int64_t s1 = std::min(strips, s0 + per_piece);
        produce(r0 * cols + s0 * span, (s1 - s0) * span);
        add_strips(p, s1 - s0, span, acc);
        p += (s1 - s0) * span;
    }
    produce(r0 * cols + strips * span, (r1 - r0 - strips * strip_rows) * cols);
    std::fill(out, out + cols, T(0));
    for (int64_t r = 0; r < strip_rows; ++r)
        for (int64_t c = 0; c < cols; ++c) out[c] += acc[r * cols + c];
    for (int64_t r = r0 + strips * strip_rows; r < r1; ++r)  // rows past the last whole strip
        for (int64_t c = 0; c < cols; ++c) out[c] += a[r * cols + c];
}

// column_sums of `a`, each block of rows produced by produce(first element, count) just before it is summed.
template <typename T, class Produce>
void column_sums_of(int64_t rows, int64_t cols, const T* a, T* out, Produce produce) {
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
                      partial.get() + b * cols, produce);
    }
    std::copy(partial.get(), partial.get() + cols, out);
    for (int64_t b = 1; b < blocks; ++b)
        for (int64_t c = 0; c < cols; ++c) out[c] += partial[b * cols + c];
}

}  // namespace

template <typename T>
void column_sums(int64_t rows, int64_t cols, const T* a, T* out) {
    column_sums_of(rows, cols, a, out, [](int64_t, int64_t) {});
}

template <typename T>
void bias_activation_backward(const Activation* act, int64_t rows, int64_t cols, const T* y, const T* grad_y,
                              T* grad_x, T* grad_bias, T alpha) {
    column_sums_of(rows, cols, grad_x, grad_bias, [&](int64_t first, int64_t count) {
        if (count <= 0) return;
        if (act)  // one piece, one thread: activation_backward runs it inline
            activation_backward<T>(*act, count, y + first, y + first, grad_y + first, grad_x + first, alpha);
        else
            std::copy(grad_y + first, grad_y + first + count, grad_x + first);
    });
}

template void column_sums<float>(int64_t, int64_t, const float*, float*);
template void column_sums<double>(int64_t, int64_t, const double*, double*);
template void bias_activation_backward<float>(const Activation*, int64_t, int64_t, const float*, const float*, float*,
                                              float*, float);
template void bias_activation_backward<double>(const Activation*, int64_t, int64_t, const double*, const double*,
                                               double*, double*, double);

}  // namespace ember
