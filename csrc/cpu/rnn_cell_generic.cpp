// The recurrent passes for the baseline ISA, and the run-time choice among the compiled-in versions.
#include <string>

#include "gemm.h"
#include "rnn_cell_impl.h"

EMBER_RNN_CELLS(generic)

namespace ember {

template <>
const RnnCellKernels<float>& rnn_cell_kernels<float>() {
    return for_gemm_isa<RnnCellKernels<float>, EMBER_ISA_BUILDERS(rnn_cells, f32)>();
}

template <>
const RnnCellKernels<double>& rnn_cell_kernels<double>() {
    return for_gemm_isa<RnnCellKernels<double>, EMBER_ISA_BUILDERS(rnn_cells, f64)>();
}

}  // namespace ember
