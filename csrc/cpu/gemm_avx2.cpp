// AVX2 + FMA micro-kernels (compiled with -mavx2 -mfma; only called when the CPU reports both).
// 6 x 16 floats / 6 x 8 doubles: 12 accumulators + 2 B vectors + 1 broadcast of the 16 ymm registers.
#include <immintrin.h>

#include "gemm_kernel.h"

namespace ember {
namespace {

struct Avx2F32 {
    using T = float;
    using R = __m256;
    static constexpr int width = 8;
    static R zero() { return _mm256_setzero_ps(); }
    static R load(const T* p) { return _mm256_loadu_ps(p); }
    static void store(T* p, R v) { _mm256_storeu_ps(p, v); }
    static R bcast(const T* p) { return _mm256_broadcast_ss(p); }
    static R set1(T x) { return _mm256_set1_ps(x); }
    static R fmadd(R a, R b, R c) { return _mm256_fmadd_ps(a, b, c); }
    static R mul(R a, R b) { return _mm256_mul_ps(a, b); }
};

struct Avx2F64 {
    using T = double;
    using R = __m256d;
    static constexpr int width = 4;
    static R zero() { return _mm256_setzero_pd(); }
    static R load(const T* p) { return _mm256_loadu_pd(p); }
    static void store(T* p, R v) { _mm256_storeu_pd(p, v); }
    static R bcast(const T* p) { return _mm256_broadcast_sd(p); }
    static R set1(T x) { return _mm256_set1_pd(x); }
    static R fmadd(R a, R b, R c) { return _mm256_fmadd_pd(a, b, c); }
    static R mul(R a, R b) { return _mm256_mul_pd(a, b); }
};

}  // namespace

// KC x NC of B (512 x 192 floats = 384 KiB) fits a 512 KiB L2 (Zen 3, Intel client cores); the 6 x 512 A sliver
// (12 KiB) stays in L1. Measured on Zen 3 against 256 x 512 (B 512 KiB, the whole L2), 1 thread, GFLOP/s:
// 1024^3 83.6 -> 84.2, 2048^3 85.9 -> 88.2, 384x3200x1024 (the LSTM's weight gradient) 85.8 -> 89.2,
// 3200x384x1024 87.5 -> 91.4; 2 threads 384x3200x1024 127 -> 148.
GemmKernel<float> gemm_kernel_avx2_f32() {
    return make_gemm_kernel<Avx2F32, 6, 2>("avx2", 512, 1536, 192);
}
GemmKernel<double> gemm_kernel_avx2_f64() {
    return make_gemm_kernel<Avx2F64, 6, 2>("avx2", 256, 1536, 256);
}

}  // namespace ember
