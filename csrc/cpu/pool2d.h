// Max and average pooling, NHWC, with explicit padding; forward and backward. Outputs are overwritten.
// Max: padding cells never win; a NaN in the window propagates; the gradient goes to the window's first
// NaN if any, else to its first maximum, in row-major window order.
// Avg: the sum over the window's real cells divided by their count (padding is not counted), as Keras.
// A window of padding only outputs 0 and passes no gradient.
#pragma once

#include "../common/shapes.h"

namespace ember {

template <typename T>
void max_pool2d_forward(const Pool2dGeom& g, const T* x, T* y);
template <typename T>
void max_pool2d_backward(const Pool2dGeom& g, const T* grad_y, const T* x, T* grad_x);
template <typename T>
void avg_pool2d_forward(const Pool2dGeom& g, const T* x, T* y);
template <typename T>
void avg_pool2d_backward(const Pool2dGeom& g, const T* grad_y, T* grad_x);

}  // namespace ember
