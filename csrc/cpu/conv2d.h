// 2-D convolution, NHWC input, HWIO kernel; forward, backward-input and backward-weight.
// The caller allocates every output and has validated the geometry (conv2d_geometry); outputs are
// overwritten, not accumulated into. All arrays are C-contiguous.
#pragma once

#include "../common/shapes.h"

namespace ember {

template <typename T>
void conv2d_forward(const Conv2dGeom& g, const T* x, const T* w, T* y);

template <typename T>
void conv2d_backward_input(const Conv2dGeom& g, const T* grad_y, const T* w, T* grad_x);

template <typename T>
void conv2d_backward_weight(const Conv2dGeom& g, const T* grad_y, const T* x, T* grad_w);

}  // namespace ember
