// The direct narrow convolution compiled with -mavx2 -mfma (only called when the CPU reports them).
#include "conv2d_direct_impl.h"

EMBER_CONV_DIRECT(avx2, 32)
