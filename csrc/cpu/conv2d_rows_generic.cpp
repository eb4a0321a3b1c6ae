// The chunked convolution for the baseline ISA, and the run-time choice among the compiled-in versions.
#include "conv2d_rows_impl.h"
#include "gemm.h"

EMBER_CONV_ROWS(generic, 16)

namespace ember {

template <>
const ConvRowsKernels<float>& conv_rows_kernels<float>() {
    static const ConvRowsKernels<float> generic = conv_rows_generic_f32();
#ifdef EMBER_X86_KERNELS
    static const ConvRowsKernels<float> avx2 = conv_rows_avx2_f32(), avx512 = conv_rows_avx512_f32();
    return for_gemm_isa(generic, avx2, avx512);
#else
    return generic;
#endif
}

template <>
const ConvRowsKernels<double>& conv_rows_kernels<double>() {
    static const ConvRowsKernels<double> generic = conv_rows_generic_f64();
#ifdef EMBER_X86_KERNELS
    static const ConvRowsKernels<double> avx2 = conv_rows_avx2_f64(), avx512 = conv_rows_avx512_f64();
    return for_gemm_isa(generic, avx2, avx512);
#else
    return generic;
#endif
}

}  // namespace ember
