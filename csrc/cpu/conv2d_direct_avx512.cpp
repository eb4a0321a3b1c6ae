// The direct narrow convolution compiled with -mavx512f/bw/dq/vl -mfma (only called when the CPU reports them).
#include "conv2d_direct_impl.h"

EMBER_CONV_DIRECT(avx512, 64)
