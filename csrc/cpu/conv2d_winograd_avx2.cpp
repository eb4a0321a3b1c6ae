// The Winograd convolution's transforms compiled with -mavx2 -mfma (only called when the CPU reports them).
#include "conv2d_winograd_impl.h"

EMBER_CONV_WINOGRAD(avx2, 32)
