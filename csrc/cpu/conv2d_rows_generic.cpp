// The chunked convolution for the baseline ISA, and the run-time choice among the compiled-in versions.
#include "conv2d_rows_impl.h"
#include "gemm.h"

EMBER_CONV_ROWS(generic, 16)

namespace ember {

template <>
const ConvRowsKernels<float>& conv_rows_kernels<float>() {
    return for_gemm_isa<ConvRowsKernels<float>, EMBER_ISA_BUILDERS(conv_rows, f32)>();
}

template <>
const ConvRowsKernels<double>& conv_rows_kernels<double>() {
    return for_gemm_isa<ConvRowsKernels<double>, EMBER_ISA_BUILDERS(conv_rows, f64)>();
}

}  // namespace ember
