// Pooling's per-ISA kernel table: EMBER_POOL(isa), which ends pool2d_{generic,avx2,avx512}.cpp, defines
// pool_<isa>_f32/_f64 (declared in pool2d_max.h) from the max forward and backward (pool2d_max_impl.h) and the
// average's forward (pool2d_avg_impl.h), so that each of those files compiles them for its ISA: the max backward's
// branch-free selects vectorize only with AVX-512's masks (64x28x28x6: 1.49 ms with AVX2, 0.63 with AVX-512, A/B in
// one process). Everything they hold has internal linkage, so the per-ISA copies never meet at link time.
#pragma once

#include "pool2d_avg_impl.h"
#include "pool2d_max.h"
#include "pool2d_max_impl.h"

#define EMBER_POOL(isa)                                                                     \
    namespace ember {                                                                       \
    PoolKernels<float> pool_##isa##_f32() {                                                 \
        return {&max_forward<float>, &max_backward<float>, &avg_forward<float>};            \
    }                                                                                       \
    PoolKernels<double> pool_##isa##_f64() {                                                \
        return {&max_forward<double>, &max_backward<double>, &avg_forward<double>};         \
    }                                                                                       \
    }
