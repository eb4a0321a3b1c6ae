// 2-D convolution, NHWC input, HWIO kernel; forward, backward-input and backward-weight.
// The caller allocates every output and has validated the geometry (conv2d_geometry); outputs are
// overwritten, not accumulated into. All arrays are C-contiguous.
#pragma once

#include <string>

#include "../common/shapes.h"
#include "activation.h"

namespace ember {

// What a layer applies to the convolution's output: y = act(y + bias), bias (O,) or null, act null for the identity
// (activation.h's bias_activation_forward). The rows path does it in registers for relu and leaky_relu; otherwise
// it is one pass over y after the convolution.
template <typename T>
struct ConvEpilogue {
    const T* bias = nullptr;
    const Activation* act = nullptr;
    T alpha = T(0);
    bool any() const { return bias || act; }
};

template <typename T>
void conv2d_forward(const Conv2dGeom& g, const T* x, const T* w, T* y, const ConvEpilogue<T>& epilogue = {});

template <typename T>
void conv2d_backward_input(const Conv2dGeom& g, const T* grad_y, const T* w, T* grad_x);

template <typename T>
void conv2d_backward_weight(const Conv2dGeom& g, const T* grad_y, const T* x, T* grad_w);

// Force one family where it applies ("gemm": im2col + GEMM, "direct": conv2d_direct.h, "rows": conv2d_rows.h,
// "winograd": conv2d_winograd.h; a pass the family cannot run falls back to the GEMM) or restore the per-shape choice
// ("auto"); for tests and the bench. Throws std::invalid_argument on another name.
void set_conv2d_path(const std::string& name);
std::string conv2d_path();

}  // namespace ember
