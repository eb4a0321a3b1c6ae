// Pooling's kernels (pool2d_impl.h) compiled for -mavx512f/bw/dq/vl -mfma (only called when the CPU reports them).
#include "pool2d_impl.h"

EMBER_POOL(avx512)
