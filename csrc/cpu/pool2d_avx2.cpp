// Max pooling compiled for -mavx2 -mfma (only called when the CPU reports them).
#include "pool2d_max_impl.h"

EMBER_POOL(avx2)
