#include "parallel.h"

#include <algorithm>
#include <atomic>

#include "check.h"

#ifdef _OPENMP
#include <omp.h>
#endif

namespace ember {

namespace {
int default_threads() {
#ifdef _OPENMP
    return std::min(omp_get_max_threads(), kMaxThreads);  // OMP_NUM_THREADS is not checked by anyone else
#else
    return 1;
#endif
}
std::atomic<int> g_threads{0};
}  // namespace

void set_num_threads(int n) {
    EMBER_CHECK(n <= kMaxThreads, "set_num_threads: expected at most ", kMaxThreads, " threads, got ", n);
    g_threads.store(n > 0 ? n : 0);
}

int get_num_threads() {
    const int n = g_threads.load();
    return n > 0 ? n : default_threads();
}

const CpuFeatures& cpu_features() {
    static const CpuFeatures f = [] {
        CpuFeatures r;
#if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__))
        __builtin_cpu_init();
        r.x86 = true;
        r.sse2 = __builtin_cpu_supports("sse2");
        r.avx = __builtin_cpu_supports("avx");
        r.avx2 = __builtin_cpu_supports("avx2");
        r.fma = __builtin_cpu_supports("fma");
        r.avx512f = __builtin_cpu_supports("avx512f");
        r.avx512bw = __builtin_cpu_supports("avx512bw");
        r.avx512dq = __builtin_cpu_supports("avx512dq");
        r.avx512vl = __builtin_cpu_supports("avx512vl");
#endif
        return r;
    }();
    return f;
}

}  // namespace ember
