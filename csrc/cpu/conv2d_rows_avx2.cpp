// The chunked convolution compiled with -mavx2 -mfma (only called when the CPU reports them).
#include "conv2d_rows_impl.h"

EMBER_CONV_ROWS(avx2, 32)
