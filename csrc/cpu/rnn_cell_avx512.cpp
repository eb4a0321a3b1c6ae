// The recurrent passes compiled with -mavx512f/bw/dq/vl -mfma (only called when the CPU reports them).
#include "rnn_cell_impl.h"

EMBER_RNN_CELLS(avx512)
