// Pooling's kernels (pool2d_impl.h) compiled for the baseline ISA.
#include "pool2d_impl.h"

EMBER_POOL(generic)
