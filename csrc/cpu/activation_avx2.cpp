// The float32 activation kernels compiled with -mavx2 -mfma (only called when the CPU reports them).
#include "activation_impl.h"

EMBER_ACT_KERNELS(avx2)
