// The float32 activation kernels for the baseline ISA, and the run-time choice among the compiled-in versions.
#include <string>

#include "activation_impl.h"
#include "gemm.h"

EMBER_ACT_KERNELS(generic)

namespace ember {

const ActKernelsF32& act_kernels_f32() {
    return for_gemm_isa<ActKernelsF32, EMBER_ISA_BUILDERS(act_kernels, f32)>();
}

}  // namespace ember
