// Pooling's kernels (pool2d_impl.h) compiled for -mavx2 -mfma (only called when the CPU reports them).
#include "pool2d_impl.h"

EMBER_POOL(avx2)
