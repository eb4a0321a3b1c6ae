// The fused optimizer updates for the baseline ISA, and the run-time choice among the compiled-in versions.
#include "gemm.h"
#include "optimizer_impl.h"

EMBER_OPTIMIZER(generic)

namespace ember {
namespace {

#ifdef EMBER_X86_KERNELS
const OptimizerKernels& kernels() {
    return for_gemm_isa<OptimizerKernels, optimizer_generic, optimizer_avx2, optimizer_avx512>();
}
#else
const OptimizerKernels& kernels() {
    return for_gemm_isa<OptimizerKernels, optimizer_generic, optimizer_generic, optimizer_generic>();
}
#endif

}  // namespace

template <>
void adam_update<float>(int64_t n, float* p, const float* g, float* m, float* v, float* v_max, const AdamStep& s) {
    kernels().adam_f32(n, p, g, m, v, v_max, s);
}

template <>
void adam_update<double>(int64_t n, double* p, const double* g, double* m, double* v, double* v_max,
                         const AdamStep& s) {
    kernels().adam_f64(n, p, g, m, v, v_max, s);
}

}  // namespace ember
