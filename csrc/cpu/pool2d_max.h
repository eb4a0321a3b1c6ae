// Max pooling's kernels, one table per ISA (pool2d_max_impl.h), chosen with the GEMM's ISA.
#pragma once

#include "../common/shapes.h"

namespace ember {

template <typename T>
struct MaxPoolKernels {
    void (*forward)(const Pool2dGeom& g, const T* x, T* y);
    void (*backward)(const Pool2dGeom& g, const T* grad_y, const T* x, T* grad_x);
};

template <typename T>
const MaxPoolKernels<T>& max_pool_kernels();

MaxPoolKernels<float> max_pool_generic_f32();
MaxPoolKernels<double> max_pool_generic_f64();
MaxPoolKernels<float> max_pool_avx2_f32();
MaxPoolKernels<double> max_pool_avx2_f64();
MaxPoolKernels<float> max_pool_avx512_f32();
MaxPoolKernels<double> max_pool_avx512_f64();

}  // namespace ember
