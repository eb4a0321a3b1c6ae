// Convolution as an implicit GEMM on the NHWC image: with one group and no column dilation, the window of output
// pixel (oh, ow) is KH runs of KW * C contiguous inputs, and the next pixel's window is the same runs sw * C further
// on. Register-tiled micro-kernels read those runs in place (from a zero-bordered copy of the image when padded):
//   forward          a tile of PR pixels of one output row x NV vectors of output channels, reduced over the window;
//   backward-weight  a tile of KR taps of one kernel row x NV channel vectors, reduced over output rows.
// Against im2col + GEMM this drops the column matrix and the GEMM's packing (at LeNet's and the binary classifier's
// K = 25..150 those cost as much as the products) and splits the weight gradient's long reduction over pixels among
// the threads, where the GEMM only splits its small K x O output; against the direct weight gradient
// (conv2d_direct.h) it loads a vector once per KR * NV FMAs, not twice per FMA. conv2d.cpp chooses per pass.
#pragma once

#include <cstdint>

#include "../common/shapes.h"
#include "conv2d_epilogue.h"

namespace ember {

template <typename T>
struct ConvRowsKernels {
    // y (N, Ho, Wo, O) = epilogue(conv(x, w)); groups == 1, dw == 1.
    void (*forward)(const Conv2dGeom& g, const T* x, const T* w, T* y, const StoreEpilogue<T>& epilogue);
    // gw (KH, KW, Cg, O) = sum over pixels of the x window * gy, in an order fixed by the shape alone.
    void (*backward_weight)(const Conv2dGeom& g, const T* gy, const T* x, T* gw);
};

// The table for this CPU, as the GEMM's choice (for_gemm_isa).
template <typename T>
const ConvRowsKernels<T>& conv_rows_kernels();

ConvRowsKernels<float> conv_rows_generic_f32();
ConvRowsKernels<double> conv_rows_generic_f64();
ConvRowsKernels<float> conv_rows_avx2_f32();
ConvRowsKernels<double> conv_rows_avx2_f64();
ConvRowsKernels<float> conv_rows_avx512_f32();
ConvRowsKernels<double> conv_rows_avx512_f64();

}  // namespace ember
