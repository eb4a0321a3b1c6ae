// The FMA peak loop for the baseline ISA: 4-float lanes that the compiler maps onto SSE2 (x86-64) or NEON.
// The baseline has no fused multiply-add, so each step is a multiply then an add: still 2 flops.
#include "peak.h"
#include "peak_impl.h"

namespace ember {
namespace {
struct Generic {
    struct V {
        float lane[4];
    };
    static constexpr int width = 4;
    static V set1(float x) { return {{x, x, x, x}}; }
    static V fmadd(V a, V b, V c) {
        V r;
        for (int l = 0; l < width; ++l) r.lane[l] = a.lane[l] * b.lane[l] + c.lane[l];
        return r;
    }
    static V add(V a, V b) {
        V r;
        for (int l = 0; l < width; ++l) r.lane[l] = a.lane[l] + b.lane[l];
        return r;
    }
    static float first(V a) { return a.lane[0]; }
};
}  // namespace

FmaLoop fma_loop_generic() { return make_fma_loop<Generic>(); }

}  // namespace ember
