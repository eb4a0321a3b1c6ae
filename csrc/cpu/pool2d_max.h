// Pooling's ISA-compiled kernels (max forward and backward, the average's forward), one table per ISA
// (pool2d_impl.h), chosen with the GEMM's ISA.
#pragma once

#include "../common/shapes.h"

namespace ember {

template <typename T>
struct PoolKernels {
    void (*forward)(const Pool2dGeom& g, const T* x, T* y);
    void (*backward)(const Pool2dGeom& g, const T* grad_y, const T* x, T* grad_x);
    void (*avg_forward)(const Pool2dGeom& g, const T* x, T* y);
};

template <typename T>
const PoolKernels<T>& pool_kernels();

PoolKernels<float> pool_generic_f32();
PoolKernels<double> pool_generic_f64();
PoolKernels<float> pool_avx2_f32();
PoolKernels<double> pool_avx2_f64();
PoolKernels<float> pool_avx512_f32();
PoolKernels<double> pool_avx512_f64();

}  // namespace ember
