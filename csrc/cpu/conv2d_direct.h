// Direct convolution for narrow layers (few input and output channels: LeNet's 1->6 and 6->16 5x5), where the
// im2col GEMM wastes most of its register tile on a 6- or 16-wide N and the column matrix costs more than the
// products. Stride 1, no dilation, one group; conv2d.cpp chooses it per pass (the *_applies rules) and keeps the GEMM
// path for everything else.
//
// The trick: an NHWC output row is OW * O contiguous floats, y[ow * O + o]. Replicate every input value O times
// (xe[c][w * O + o] = x[w, c]) and the tap (kh, kw, c) becomes, for the whole flattened row,
//     y[i] += xe[c][i + kw * O] * w[kh, kw, c, i % O]
// a full-width vector FMA whatever O is: the weight vector for lanes i.. repeats every P = lcm(O, lanes) / lanes
// vectors, so a few patterns per tap hold all of them. The weight gradient is the same sum read the other way
// (gw[kh, kw, c, i % O] += xe[c][i + kw * O] * gy[i]), and the input gradient is a forward direct convolution of
// gy with the flipped, transposed kernel.
#pragma once

#include <cstdint>

#include "../common/shapes.h"
#include "conv2d_epilogue.h"

namespace ember {

// Channels at most this many (input and output) may take the direct path.
constexpr int64_t kDirectMaxChannels = 32;

// Whether the direct path is the faster one for this layer's forward (and, on the transposed geometry, its input
// gradient), or for its weight gradient.
bool conv2d_direct_forward_applies(const Conv2dGeom& g);
bool conv2d_direct_weight_applies(const Conv2dGeom& g);
// Whether its weight gradient takes the pixel-vector form and is ahead of the others there (one input channel, few
// outputs): conv2d.cpp then chooses it over the rows path.
bool conv2d_direct_pixel_weight_ahead(const Conv2dGeom& g);
// Whether the dot-product input gradient takes the layer: stride 1, no dilation, one group, at most 8 inputs, outputs
// a multiple of 16.
bool conv2d_dot_backward_input_supported(const Conv2dGeom& g);

template <typename T>
struct ConvDirectKernels {
    // y (N, Ho, Wo, O) = epilogue(conv(x, w)); stride 1, no dilation, one group.
    void (*forward)(const Conv2dGeom& g, const T* x, const T* w, T* y, const StoreEpilogue<T>& epilogue);
    // gw (KH, KW, C, O) = sum over pixels of x window * gy, in a fixed order whatever the thread count.
    void (*backward_weight)(const Conv2dGeom& g, const T* gy, const T* x, T* gw);
    // Depthwise (groups == C, any stride, padding, dilation): conv2d_depthwise_impl.h.
    void (*depthwise_forward)(const Conv2dGeom& g, const T* x, const T* w, T* y);
    void (*depthwise_backward_input)(const Conv2dGeom& g, const T* gy, const T* w, T* gx);
    void (*depthwise_backward_weight)(const Conv2dGeom& g, const T* gy, const T* x, T* gw);
    // The input gradient as dot products over the output channels (conv2d_dot_impl.h), where
    // conv2d_dot_backward_input_supported.
    void (*dot_backward_input)(const Conv2dGeom& g, const T* gy, const T* w, T* gx);
};

// The table for this CPU ("avx512", "avx2" or "generic", as the GEMM's choice).
template <typename T>
const ConvDirectKernels<T>& conv_direct_kernels();

ConvDirectKernels<float> conv_direct_generic_f32();
ConvDirectKernels<double> conv_direct_generic_f64();
ConvDirectKernels<float> conv_direct_avx2_f32();
ConvDirectKernels<double> conv_direct_avx2_f64();
ConvDirectKernels<float> conv_direct_avx512_f32();
ConvDirectKernels<double> conv_direct_avx512_f64();

}  // namespace ember
