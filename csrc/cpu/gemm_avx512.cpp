// AVX-512 micro-kernels (compiled with -mavx512f/bw/dq/vl -mfma; only called when the CPU reports them).
// 12 x 32 floats / 12 x 16 doubles: 24 accumulators + 2 B vectors of the 32 zmm registers; the A values
// are broadcast straight from memory into the FMAs.
#include <immintrin.h>

#include "gemm_kernel.h"

namespace ember {
namespace {

struct Avx512F32 {
    using T = float;
    using R = __m512;
    static constexpr int width = 16;
    static R zero() { return _mm512_setzero_ps(); }
    static R load(const T* p) { return _mm512_loadu_ps(p); }
    static void store(T* p, R v) { _mm512_storeu_ps(p, v); }
    static R bcast(const T* p) { return _mm512_set1_ps(*p); }
    static R set1(T x) { return _mm512_set1_ps(x); }
    static R fmadd(R a, R b, R c) { return _mm512_fmadd_ps(a, b, c); }
    static R mul(R a, R b) { return _mm512_mul_ps(a, b); }
};

struct Avx512F64 {
    using T = double;
    using R = __m512d;
    static constexpr int width = 8;
    static R zero() { return _mm512_setzero_pd(); }
    static R load(const T* p) { return _mm512_loadu_pd(p); }
    static void store(T* p, R v) { _mm512_storeu_pd(p, v); }
    static R bcast(const T* p) { return _mm512_set1_pd(*p); }
    static R set1(T x) { return _mm512_set1_pd(x); }
    static R fmadd(R a, R b, R c) { return _mm512_fmadd_pd(a, b, c); }
    static R mul(R a, R b) { return _mm512_mul_pd(a, b); }
};

}  // namespace

// KC x NC of B (384 x 384 floats = 576 KiB) fits a 1 MiB L2 beside the C tiles; the 12 x 384 A sliver
// (18 KiB) stays in L1.
GemmKernel<float> gemm_kernel_avx512_f32() {
    return make_gemm_kernel<Avx512F32, 12, 2>("avx512", 384, 1536, 384);
}
GemmKernel<double> gemm_kernel_avx512_f64() {
    return make_gemm_kernel<Avx512F64, 12, 2>("avx512", 256, 1536, 256);
}

}  // namespace ember
