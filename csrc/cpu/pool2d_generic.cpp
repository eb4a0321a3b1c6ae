// Max pooling compiled for the baseline ISA.
#include "pool2d_max_impl.h"

EMBER_POOL(generic)
