// The Winograd convolution for the baseline ISA, and the run-time choice among the compiled-in versions.
#include "conv2d_winograd_impl.h"

EMBER_CONV_WINOGRAD(generic, 16)

namespace ember {

template <>
const ConvWinogradKernels<float>& conv_winograd_kernels<float>() {
    return for_gemm_isa<ConvWinogradKernels<float>, EMBER_ISA_BUILDERS(conv_winograd, f32)>();
}

template <>
const ConvWinogradKernels<double>& conv_winograd_kernels<double>() {
    return for_gemm_isa<ConvWinogradKernels<double>, EMBER_ISA_BUILDERS(conv_winograd, f64)>();
}

}  // namespace ember
