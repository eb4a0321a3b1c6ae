// The chunked convolution compiled with -mavx512f/bw/dq/vl -mfma (only called when the CPU reports them).
#include "conv2d_rows_impl.h"

EMBER_CONV_ROWS(avx512, 64)
