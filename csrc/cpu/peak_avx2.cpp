// The FMA peak loop on 256-bit vectors (compiled with -mavx2 -mfma; only called when the CPU reports them).
#include <immintrin.h>

#include "peak.h"
#include "peak_impl.h"

namespace ember {
namespace {
struct Avx2 {
    using V = __m256;
    static constexpr int width = 8;
    static V set1(float x) { return _mm256_set1_ps(x); }
    static V fmadd(V a, V b, V c) { return _mm256_fmadd_ps(a, b, c); }
    static V add(V a, V b) { return _mm256_add_ps(a, b); }
    static float first(V a) { return _mm256_cvtss_f32(a); }
};
}  // namespace

FmaLoop fma_loop_avx2() { return make_fma_loop<Avx2>(); }

}  // namespace ember
