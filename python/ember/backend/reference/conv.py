"""conv2d: x NHWC, w HWIO (KH, KW, C // groups, O), explicit padding ((top, bottom), (left, right)).

All three kernels loop over the KH * KW kernel taps. At tap (i, j) the input pixels it reads form a
strided slice of the padded input, (N, Ho, Wo, C), so each tap is one batched GEMM per group:
    forward          y        += x_tap @ w[i, j]
    backward_input   gx_tap   += gy @ w[i, j]^T       (scattered back into the padded input)
    backward_weight  gw[i, j]  = x_tap^T @ gy         (summed over batch and output positions)
Output channel o belongs to group o // (O // groups), as in Keras and PyTorch.
"""
import numpy as np

from .activation import bias_activation_forward


def _out_size(size, pad, k, stride, dilation):
    return (size + pad[0] + pad[1] - dilation * (k - 1) - 1) // stride + 1


def _tap(i, j, out_hw, strides, dilation):
    """The (rows, cols) slices of the padded input read by kernel tap (i, j)."""
    (ho, wo), (sh, sw), (dh, dw) = out_hw, strides, dilation
    r0, c0 = i * dh, j * dw
    return slice(r0, r0 + sh * (ho - 1) + 1, sh), slice(c0, c0 + sw * (wo - 1) + 1, sw)


def _split_groups(a, groups):
    """(N, Ho, Wo, G * Cg) -> (G, N * Ho * Wo, Cg)."""
    return a.reshape(-1, groups, a.shape[-1] // groups).transpose(1, 0, 2)


def _merge_groups(a, lead_shape):
    """(G, N * Ho * Wo, Cg) -> (N, Ho, Wo, G * Cg)."""
    return a.transpose(1, 0, 2).reshape(*lead_shape, -1)


def _tap_weight(w, i, j, groups):
    """w[i, j] (Cg, O) -> (G, Cg, Og): each group's slice of the kernel at tap (i, j)."""
    cg, o = w.shape[2], w.shape[3]
    return w[i, j].reshape(cg, groups, o // groups).transpose(1, 0, 2)


def conv2d_forward(x, w, strides, padding, dilation, groups, bias=None, activation=None, alpha=0.0):
    y = _convolve(x, w, strides, padding, dilation, groups)
    if bias is None and activation is None:
        return y
    return bias_activation_forward(y, bias, activation, alpha)


def _convolve(x, w, strides, padding, dilation, groups):
    n, h, wd, _ = x.shape
    kh, kw, _, o = w.shape
    (top, bottom), (left, right) = padding
    ho = _out_size(h, padding[0], kh, strides[0], dilation[0])
    wo = _out_size(wd, padding[1], kw, strides[1], dilation[1])
    xp = np.pad(x, ((0, 0), (top, bottom), (left, right), (0, 0)))
    y = np.zeros((groups, n * ho * wo, o // groups), dtype=x.dtype)
    for i in range(kh):
        for j in range(kw):
            rows, cols = _tap(i, j, (ho, wo), strides, dilation)
            y += _split_groups(xp[:, rows, cols, :], groups) @ _tap_weight(w, i, j, groups)
    return _merge_groups(y, (n, ho, wo))


def conv2d_backward_input(grad_y, w, x_shape, strides, padding, dilation, groups):
    n, h, wd, c = x_shape
    kh, kw = w.shape[:2]
    ho, wo = grad_y.shape[1:3]
    (top, bottom), (left, right) = padding
    # Input rows/cols that no window reaches (stride > kernel, or bottom/right rows the last
    # window stops short of) are never written, so their gradient stays zero.
    gxp = np.zeros((n, h + top + bottom, wd + left + right, c), dtype=grad_y.dtype)
    gy = _split_groups(grad_y, groups)
    for i in range(kh):
        for j in range(kw):
            rows, cols = _tap(i, j, (ho, wo), strides, dilation)
            g_tap = gy @ _tap_weight(w, i, j, groups).transpose(0, 2, 1)
            gxp[:, rows, cols, :] += _merge_groups(g_tap, (n, ho, wo))
    return np.ascontiguousarray(gxp[:, top:top + h, left:left + wd, :])


def conv2d_backward_weight(grad_y, x, w_shape, strides, padding, dilation, groups):
    kh, kw, cg, o = w_shape
    ho, wo = grad_y.shape[1:3]
    (top, bottom), (left, right) = padding
    xp = np.pad(x, ((0, 0), (top, bottom), (left, right), (0, 0)))
    gy = _split_groups(grad_y, groups)
    gw = np.empty(w_shape, dtype=x.dtype)
    for i in range(kh):
        for j in range(kw):
            rows, cols = _tap(i, j, (ho, wo), strides, dilation)
            g_tap = _split_groups(xp[:, rows, cols, :], groups).transpose(0, 2, 1) @ gy  # (G, Cg, Og)
            gw[i, j] = g_tap.transpose(1, 0, 2).reshape(cg, o)
    return gw
