// The recurrent passes compiled with -mavx2 -mfma (only called when the CPU reports them).
#include "rnn_cell_impl.h"

EMBER_RNN_CELLS(avx2)
