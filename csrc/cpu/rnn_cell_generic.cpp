// The recurrent passes for the baseline ISA, and the run-time choice among the compiled-in versions.
#include <string>

#include "gemm.h"
#include "rnn_cell_impl.h"

EMBER_RNN_CELLS(generic)

namespace ember {

template <>
const RnnCellKernels<float>& rnn_cell_kernels<float>() {
    static const RnnCellKernels<float> generic = rnn_cells_generic_f32();
#ifdef EMBER_X86_KERNELS
    static const RnnCellKernels<float> avx2 = rnn_cells_avx2_f32(), avx512 = rnn_cells_avx512_f32();
    return for_gemm_isa(generic, avx2, avx512);
#else
    return generic;
#endif
}

template <>
const RnnCellKernels<double>& rnn_cell_kernels<double>() {
    static const RnnCellKernels<double> generic = rnn_cells_generic_f64();
#ifdef EMBER_X86_KERNELS
    static const RnnCellKernels<double> avx2 = rnn_cells_avx2_f64(), avx512 = rnn_cells_avx512_f64();
    return for_gemm_isa(generic, avx2, avx512);
#else
    return generic;
#endif
}

}  // namespace ember
