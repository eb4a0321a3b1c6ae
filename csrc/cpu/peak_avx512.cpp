// The FMA peak loop on 512-bit vectors (compiled with -mavx512f -mfma; only called when the CPU reports them).
#include <immintrin.h>

#include "peak.h"
#include "peak_impl.h"

namespace ember {
namespace {
struct Avx512 {
    using V = __m512;
    static constexpr int width = 16;
    static V set1(float x) { return _mm512_set1_ps(x); }
    static V fmadd(V a, V b, V c) { return _mm512_fmadd_ps(a, b, c); }
    static V add(V a, V b) { return _mm512_add_ps(a, b); }
    static float first(V a) { return _mm512_cvtss_f32(a); }
};
}  // namespace

FmaLoop fma_loop_avx512() { return make_fma_loop<Avx512>(); }

}  // namespace ember
