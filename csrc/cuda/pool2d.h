// CUDA max and average pooling, NHWC, explicit padding, forward and backward, with cpu/pool2d.h's semantics:
// max: padding never wins, the first NaN of a window propagates and takes the gradient, else the first maximum
// (row-major); avg: divides by the window's real (non-padding) cells; a window of padding only gives 0 and no
// gradient. Outputs are overwritten; the backward passes gather (one thread per input cell, windows in order), so
// overlapping windows add in a fixed order, with no atomics.
#pragma once

#include "common/shapes.h"
#include "exec.h"

namespace ember {
namespace cuda {

template <class X, typename T>
void max_pool2d_forward(const Ctx& ctx, const Pool2dGeom& g, const T* x, T* y);
template <class X, typename T>
void max_pool2d_backward(const Ctx& ctx, const Pool2dGeom& g, const T* grad_y, const T* x, T* grad_x);
template <class X, typename T>
void avg_pool2d_forward(const Ctx& ctx, const Pool2dGeom& g, const T* x, T* y);
template <class X, typename T>
void avg_pool2d_backward(const Ctx& ctx, const Pool2dGeom& g, const T* grad_y, T* grad_x);

}  // namespace cuda
}  // namespace ember
