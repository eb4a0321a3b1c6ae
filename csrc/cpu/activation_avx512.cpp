// The float32 activation kernels compiled with -mavx512f/bw/dq/vl -mfma (only called when the CPU reports them).
#include "activation_impl.h"

EMBER_ACT_KERNELS(avx512)
