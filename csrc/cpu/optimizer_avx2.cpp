// The fused optimizer updates compiled with -mavx2 -mfma -ffp-contract=off (only called when the CPU reports them).
#include "optimizer_impl.h"

EMBER_OPTIMIZER(avx2)
