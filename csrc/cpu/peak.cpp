// Measuring the machine's FMA peak and copy bandwidth (see peak.h), and the run-time choice of FMA loop.
#include "peak.h"

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "common/check.h"
#include "common/parallel.h"
#include "gemm.h"

#ifdef _OPENMP
#include <omp.h>
#endif

namespace ember {

FmaLoop fma_loop() {
#ifdef EMBER_X86_KERNELS
    const int isa = gemm_isa();
    if (isa == 2) return fma_loop_avx512();
    if (isa == 1) return fma_loop_avx2();
#endif
    return fma_loop_generic();
}

namespace {

constexpr int kMaxMeasureThreads = 1024;
volatile float g_sink;  // the FMA loops' results land here, so that no loop is dead code

double now_seconds() {
    return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

int thread_index() {
#ifdef _OPENMP
    return omp_get_thread_num();
#else
    return 0;
#endif
}

int omp_team_size() {
#ifdef _OPENMP
    return omp_get_num_threads();
#else
    return 1;
#endif
}

// Processors this process may run on: more threads than that share cores.
int available_cores() {
#ifdef _OPENMP
    return omp_get_num_procs();
#else
    return 1;
#endif
}

int team_size(int threads) {
#ifdef _OPENMP
    int size = 1;
#pragma omp parallel num_threads(threads)
#pragma omp single
    size = omp_get_num_threads();
    return size;
#else
    (void)threads;
    return 1;
#endif
}

int checked_threads(const char* fn, double seconds, int threads) {
    EMBER_CHECK(seconds > 0 && seconds <= 60, fn, ": expected seconds in (0, 60], got ", seconds);
    EMBER_CHECK(threads >= 0 && threads <= kMaxMeasureThreads, fn, ": expected threads in [0, ", kMaxMeasureThreads,
                "] (0: ember's thread count), got ", threads);
    return threads > 0 ? threads : get_num_threads();
}

struct FreeDeleter {
    void operator()(char* p) const { std::free(p); }
};
using Buffer = std::unique_ptr<char, FreeDeleter>;

Buffer aligned_buffer(size_t bytes) {
    void* p = std::aligned_alloc(64, bytes);
    if (!p) throw std::bad_alloc();
    return Buffer(static_cast<char*>(p));
}

}  // namespace

double measure_fma_peak(double seconds, int threads) {
    threads = checked_threads("measure_fma_peak", seconds, threads);
    const FmaLoop loop = fma_loop();
    // Windows of ~2^25 flops (~0.15 ms on an AVX-512 core): long against a clock read, short against the time
    // slices of a machine shared with other work, so that some windows run with the core to the thread alone.
    const int64_t iters = std::max<int64_t>(1, (int64_t(1) << 25) / loop.flops_per_iter);
    constexpr int kMinWindows = 50;
    double start = 0, rate_sum = 0;
    int team = 1;
    float sink = 0;
#pragma omp parallel num_threads(threads) reduction(+ : sink, rate_sum)
    {
        // Warm-up, untimed: wakes the core and lets it settle at its wide-vector clock.
        sink += loop.run(16 * iters, 1.0f);
#pragma omp single
        {
            start = now_seconds();  // the single's barrier starts every thread together
            team = omp_team_size();
        }
        double best = std::numeric_limits<double>::infinity(), t1 = start;
        for (int window = 0; window < kMinWindows || t1 - start < seconds; ++window) {
            const double t0 = now_seconds();
            sink += loop.run(iters, 1.0f + float(thread_index()));
            t1 = now_seconds();
            best = std::min(best, t1 - t0);
        }
        rate_sum += double(iters) * double(loop.flops_per_iter) / best;
    }
    g_sink = sink;
    // Each thread's best window is a core's rate; with more threads than cores, only that many cores' worth.
    return rate_sum / team * std::min(team, available_cores()) / 1e9;
}

double measure_copy_bandwidth(int64_t bytes, double seconds, int threads) {
    threads = team_size(checked_threads("measure_copy_bandwidth", seconds, threads));  // every slice has a thread
    EMBER_CHECK(bytes >= 64 && bytes <= (int64_t(1) << 40), "measure_copy_bandwidth: expected bytes in [64, 2^40], got ",
                bytes);
    // Slices of whole 64-byte lines, so that no two threads write the same cache line.
    const int64_t lines = bytes / 64;
    bytes = lines * 64;
    Buffer src = aligned_buffer(size_t(bytes)), dst = aligned_buffer(size_t(bytes));
    auto slice = [&](int t, int64_t& offset, int64_t& size) {
        int64_t begin, end;
        split_range(lines, threads, t, begin, end);
        offset = begin * 64;
        size = (end - begin) * 64;
    };
    // First touch by the thread that copies the slice later: its pages sit on that thread's memory node.
#pragma omp parallel num_threads(threads)
    {
        int64_t offset, size;
        slice(thread_index(), offset, size);
        std::memset(src.get() + offset, 1, size_t(size));
        std::memset(dst.get() + offset, 0, size_t(size));
    }
    double best = std::numeric_limits<double>::infinity();
    const double start = now_seconds();
    for (int pass = 0; pass < 3 || now_seconds() - start < seconds; ++pass) {
        const double t0 = now_seconds();
#pragma omp parallel num_threads(threads)
        {
            int64_t offset, size;
            slice(thread_index(), offset, size);
            std::memcpy(dst.get() + offset, src.get() + offset, size_t(size));
        }
        best = std::min(best, now_seconds() - t0);
    }
    return 2.0 * double(bytes) / best / 1e9;
}

}  // namespace ember
