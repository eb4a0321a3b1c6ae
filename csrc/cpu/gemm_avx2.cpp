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

// Six rows of 8 floats transposed into 8 columns of 6 (an 8 x 8 transpose whose last two rows are never needed):
// 32-bit interleaves and 64-bit shuffles within 128-bit lanes, then one lane exchange per column. Column j is stored
// whole at dst + 6 j and overwritten past its 6 values by column j + 1; the last one is masked.
inline void transpose_6x8(const __m256 (&r)[6], float* dst, int columns) {
    const __m256 t0 = _mm256_unpacklo_ps(r[0], r[1]), t1 = _mm256_unpackhi_ps(r[0], r[1]);
    const __m256 t2 = _mm256_unpacklo_ps(r[2], r[3]), t3 = _mm256_unpackhi_ps(r[2], r[3]);
    const __m256 t4 = _mm256_unpacklo_ps(r[4], r[5]), t5 = _mm256_unpackhi_ps(r[4], r[5]);
    // Rows 0-3 of columns c and 4 + c in the two lanes of top[c]; rows 4, 5 first in the lanes of bottom[c].
    const __m256 top[4] = {_mm256_shuffle_ps(t0, t2, 0x44), _mm256_shuffle_ps(t0, t2, 0xEE),
                           _mm256_shuffle_ps(t1, t3, 0x44), _mm256_shuffle_ps(t1, t3, 0xEE)};
    const __m256 bottom[4] = {t4, _mm256_shuffle_ps(t4, t4, 0xEE), t5, _mm256_shuffle_ps(t5, t5, 0xEE)};
    __m256 out[8];
    for (int c = 0; c < 4; ++c) {
        out[c] = _mm256_permute2f128_ps(top[c], bottom[c], 0x20);
        out[4 + c] = _mm256_permute2f128_ps(top[c], bottom[c], 0x31);
    }
    for (int j = 0; j + 1 < columns; ++j) _mm256_storeu_ps(dst + 6 * j, out[j]);
    _mm256_maskstore_ps(dst + 6 * (columns - 1), _mm256_setr_epi32(-1, -1, -1, -1, -1, -1, 0, 0), out[columns - 1]);
}

// A row-major A's 6-row sliver, 8 columns at a time (element by element the copy took ~10% of a 1024^3 product on
// AVX-512; the same copy here).
void pack_rows_6(int64_t kc, const float* a, int64_t rs_a, float* dst) {
    __m256 r[6];
    int64_t p = 0;
    for (; p + 8 <= kc; p += 8) {
        for (int i = 0; i < 6; ++i) r[i] = _mm256_loadu_ps(a + i * rs_a + p);
        transpose_6x8(r, dst + 6 * p, 8);
    }
    if (p < kc) {
        const int rest = int(kc - p);
        const __m256i mask = _mm256_cmpgt_epi32(_mm256_set1_epi32(rest), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
        for (int i = 0; i < 6; ++i) r[i] = _mm256_maskload_ps(a + i * rs_a + p, mask);
        transpose_6x8(r, dst + 6 * p, rest);
    }
}

}  // namespace

// KC x NC of B (512 x 192 floats = 384 KiB) fits a 512 KiB L2 (Zen 3, Intel client cores); the 6 x 512 A sliver
// (12 KiB) stays in L1. Measured on Zen 3 against 256 x 512 (B 512 KiB, the whole L2), 1 thread, GFLOP/s:
// 1024^3 83.6 -> 84.2, 2048^3 85.9 -> 88.2, 384x3200x1024 (the LSTM's weight gradient) 85.8 -> 89.2,
// 3200x384x1024 87.5 -> 91.4; 2 threads 384x3200x1024 127 -> 148.
GemmKernel<float> gemm_kernel_avx2_f32() {
    GemmKernel<float> k = make_gemm_kernel<Avx2F32, 6, 2>("avx2", 512, 1536, 192);
    k.pack_rows = &pack_rows_6;
    return k;
}
GemmKernel<double> gemm_kernel_avx2_f64() {
    return make_gemm_kernel<Avx2F64, 6, 2>("avx2", 256, 1536, 256);
}

}  // namespace ember
