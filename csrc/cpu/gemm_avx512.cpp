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

// Twelve rows of 16 floats transposed into 16 columns of 12 (a 16 x 16 transpose whose last four rows are never
// needed): 32-bit then 64-bit interleaves within 128-bit lanes, then two rounds of 128-bit lane shuffles. Column j
// is stored whole at dst + 12 j; its four spare lanes land on column j + 1's place and are overwritten by it, so
// only the last column needs a mask (the next sliver may belong to another thread).
// GCC 12's unpack intrinsics pass an undefined vector made from itself as their unused merge source, which
// -Wmaybe-uninitialized reports once per call.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
inline void transpose_12x16(const __m512 (&r)[12], float* dst, int columns) {
    __m512 u[12];
    for (int g = 0; g < 3; ++g) {
        const __m512 t0 = _mm512_unpacklo_ps(r[4 * g], r[4 * g + 1]);
        const __m512 t1 = _mm512_unpackhi_ps(r[4 * g], r[4 * g + 1]);
        const __m512 t2 = _mm512_unpacklo_ps(r[4 * g + 2], r[4 * g + 3]);
        const __m512 t3 = _mm512_unpackhi_ps(r[4 * g + 2], r[4 * g + 3]);
        // u[4g + c], 128-bit lane l: rows 4g..4g+3 of column 4l + c.
        u[4 * g] = _mm512_castpd_ps(_mm512_unpacklo_pd(_mm512_castps_pd(t0), _mm512_castps_pd(t2)));
        u[4 * g + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(_mm512_castps_pd(t0), _mm512_castps_pd(t2)));
        u[4 * g + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(_mm512_castps_pd(t1), _mm512_castps_pd(t3)));
        u[4 * g + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(_mm512_castps_pd(t1), _mm512_castps_pd(t3)));
    }
    __m512 out[16];
    for (int c = 0; c < 4; ++c) {
        const __m512 lo = _mm512_shuffle_f32x4(u[c], u[4 + c], 0x44);  // lanes 0, 1 of rows 0-3, then of rows 4-7
        const __m512 hi = _mm512_shuffle_f32x4(u[c], u[4 + c], 0xEE);  // lanes 2, 3 likewise
        out[c] = _mm512_shuffle_f32x4(lo, u[8 + c], 0x08);
        out[4 + c] = _mm512_shuffle_f32x4(lo, u[8 + c], 0x1D);
        out[8 + c] = _mm512_shuffle_f32x4(hi, u[8 + c], 0x28);
        out[12 + c] = _mm512_shuffle_f32x4(hi, u[8 + c], 0x3D);
    }
    for (int j = 0; j + 1 < columns; ++j) _mm512_storeu_ps(dst + 12 * j, out[j]);
    _mm512_mask_storeu_ps(dst + 12 * (columns - 1), 0x0FFF, out[columns - 1]);
}
#pragma GCC diagnostic pop

// A row-major A's 12-row sliver, 16 columns at a time: element by element the copy took ~10% of a 1024^3 product
// (1 thread, Zen 5; 2 threads 420-429 -> 445-452 GFLOP/s). Doubles keep the portable copy.
void pack_rows_12(int64_t kc, const float* a, int64_t rs_a, float* dst) {
    __m512 r[12];
    int64_t p = 0;
    for (; p + 16 <= kc; p += 16) {
        for (int i = 0; i < 12; ++i) r[i] = _mm512_loadu_ps(a + i * rs_a + p);
        transpose_12x16(r, dst + 12 * p, 16);
    }
    if (p < kc) {
        const int rest = int(kc - p);
        const __mmask16 mask = __mmask16((1u << rest) - 1);
        for (int i = 0; i < 12; ++i) r[i] = _mm512_maskz_loadu_ps(mask, a + i * rs_a + p);
        transpose_12x16(r, dst + 12 * p, rest);
    }
}

}  // namespace

// KC x NC of B (384 x 384 floats = 576 KiB) fits a 1 MiB L2 beside the C tiles; the 12 x 384 A sliver
// (18 KiB) stays in L1.
GemmKernel<float> gemm_kernel_avx512_f32() {
    GemmKernel<float> k = make_gemm_kernel<Avx512F32, 12, 2>("avx512", 384, 1536, 384);
    k.pack_rows = &pack_rows_12;
    return k;
}
GemmKernel<double> gemm_kernel_avx512_f64() {
    return make_gemm_kernel<Avx512F64, 12, 2>("avx512", 256, 1536, 256);
}

}  // namespace ember
