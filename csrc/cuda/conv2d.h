// CUDA conv2d on NHWC input and HWIO kernels, forward, backward-input and backward-weight, as cpu/conv2d.h: the
// caller allocates every output and has validated the geometry (conv2d_geometry); outputs are overwritten.
// All arrays are C-contiguous. Implicit GEMMs (the image gathered on the fly, one product per group); a separate
// direct kernel for depthwise convolutions (groups == C).
#pragma once

#include "activation.h"
#include "common/shapes.h"
#include "exec.h"

namespace ember {
namespace cuda {

// What the forward does to each output as it stores it: y = act(conv + bias[o]); no bias, no activation by default.
template <typename T>
struct ConvEpilogue {
    const T* bias = nullptr;  // (O,) on the device
    bool activate = false;
    Act act = Act::relu;
    T alpha = T(0);
};

template <class X, typename T>
void conv2d_forward(const Ctx& ctx, const Conv2dGeom& g, const T* x, const T* w, T* y, const ConvEpilogue<T>& e);

template <class X, typename T>
void conv2d_backward_input(const Ctx& ctx, const Conv2dGeom& g, const T* grad_y, const T* w, T* grad_x);

template <class X, typename T>
void conv2d_backward_weight(const Ctx& ctx, const Conv2dGeom& g, const T* grad_y, const T* x, T* grad_w);

}  // namespace cuda
}  // namespace ember
