// The machine's measured limits, for the bench's "% of peak" column (bench/peak.py); no op uses them.
// FMA peak: a loop of independent multiply-adds on registers only, one version per ISA (peak_{generic,avx2,
// avx512}.cpp), chosen at run time with the GEMM's micro-kernel. Copy bandwidth: a parallel memcpy of large
// arrays, counted as STREAM counts a copy (bytes read + bytes written).
#pragma once

#include <cstdint>

namespace ember {

// `run(iters, seed)` does `iters` iterations of `flops_per_iter` floating-point operations and returns a value
// that depends on every accumulator, so that the compiler cannot drop the loop.
struct FmaLoop {
    float (*run)(int64_t iters, float seed);
    int64_t flops_per_iter;
};

FmaLoop fma_loop_generic();
FmaLoop fma_loop_avx2();
FmaLoop fma_loop_avx512();

// The loop for this CPU: "avx512", "avx2" or "generic", as gemm_kernel_name() (set_gemm_kernel forces both).
FmaLoop fma_loop();

// GFLOP/s of the FMA loop on `threads` OpenMP threads (0: ember's thread count) running together for at least
// `seconds` (and 50 windows each) after a warm-up: the sum over threads of each one's best window. The best, not
// the median: on a machine shared with other work it is the window in which the thread had its core to itself.
// More threads than the processors available count as that many processors.
// Throws std::invalid_argument for seconds outside (0, 60] or threads outside [0, 1024].
double measure_fma_peak(double seconds, int threads);

// GB/s of copying one `bytes` array into another, each of `threads` threads copying its own contiguous slice
// (first touched by that thread), counting 2 * bytes per pass; the best pass of those run in `seconds`.
// Throws std::invalid_argument for bytes outside [64, 2^40], and seconds and threads as above.
double measure_copy_bandwidth(int64_t bytes, double seconds, int threads);

}  // namespace ember
