// OpenMP thread count and CPU feature detection.
// The thread count is a process-wide setting (not OpenMP's per-thread ICV), so a kernel called from any
// Python thread uses what set_num_threads chose. Every parallel region passes num_threads(get_num_threads()).
#pragma once

#include <cstdint>
#include <initializer_list>
#include <string>

namespace ember {

// libgomp sizes some per-team arrays on the caller's stack: a team of ~100000 threads overflows it (a segfault,
// measured), so teams are capped here; 1024 is far above any useful count.
constexpr int kMaxThreads = 1024;
void set_num_threads(int n);  // n <= 0 restores the default (OpenMP's max threads); n > kMaxThreads throws
int get_num_threads();

struct CpuFeatures {
    bool x86 = false, sse2 = false, avx = false, avx2 = false, fma = false;
    bool avx512f = false, avx512bw = false, avx512dq = false, avx512vl = false;
    bool avx512_all() const { return avx512f && avx512bw && avx512dq && avx512vl && fma; }
    bool avx2_fma() const { return avx2 && fma; }
};
const CpuFeatures& cpu_features();

// Split [0, n) into `parts` nearly equal contiguous ranges; range `i` is [begin, end).
inline void split_range(int64_t n, int64_t parts, int64_t i, int64_t& begin, int64_t& end) {
    const int64_t q = n / parts, r = n % parts;
    begin = i * q + (i < r ? i : r);
    end = begin + q + (i < r ? 1 : 0);
}

// The product of non-negative sizes, saturating at INT64_MAX: a work estimate that decides whether to go
// parallel, where sizes that are each valid (a pooling window mostly of padding) may multiply past 2^63.
inline int64_t work_estimate(std::initializer_list<int64_t> sizes) {
    int64_t r = 1;
    for (int64_t s : sizes)
        if (__builtin_mul_overflow(r, s, &r)) return INT64_MAX;
    return r;
}

}  // namespace ember
