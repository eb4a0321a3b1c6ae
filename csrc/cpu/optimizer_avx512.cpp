// The fused optimizer updates compiled for AVX-512 with -ffp-contract=off (only called when the CPU reports it).
#include "optimizer_impl.h"

EMBER_OPTIMIZER(avx512)
