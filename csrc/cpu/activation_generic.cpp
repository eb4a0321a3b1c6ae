// The float32 activation kernels for the baseline ISA, and the run-time choice among the compiled-in versions.
#include <string>

#include "activation_impl.h"
#include "gemm.h"

EMBER_ACT_KERNELS(generic)

namespace ember {

const ActKernelsF32& act_kernels_f32() {
    static const ActKernelsF32 generic = act_kernels_generic_f32();
#ifdef EMBER_X86_KERNELS
    static const ActKernelsF32 avx2 = act_kernels_avx2_f32(), avx512 = act_kernels_avx512_f32();
    return for_gemm_isa(generic, avx2, avx512);
#else
    return generic;
#endif
}

}  // namespace ember
