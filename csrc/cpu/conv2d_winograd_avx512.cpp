// The Winograd convolution's transforms compiled for AVX-512 (only called when the CPU reports it).
#include "conv2d_winograd_impl.h"

EMBER_CONV_WINOGRAD(avx512, 64)
