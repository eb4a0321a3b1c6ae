"""The native CPU backend: ember._C's kernels (OpenMP, AVX2/AVX-512) behind the backend API.

Same functions and signatures as ember.backend.reference (see ember.backend's docstring). This module
only shapes arrays for the kernels: it allocates outputs, makes inputs contiguous where a kernel needs
it, reshapes matmul's batch dimensions to one, and moves softmax's axis last. The kernels check shapes
and dtypes again and raise ValueError / TypeError naming the op.
"""
import math

import numpy as np

from .. import _C
from . import reference as _reference

_FLOAT_TYPES = (np.dtype(np.float32), np.dtype(np.float64))

# Outputs over glibc's 32 MiB mmap ceiling come from ember's host block cache (_C.empty): glibc maps such blocks
# afresh on each allocation (page faults and zeroing on first touch: relu on 64x112x112x32 floats took 13.9 ms into a
# new array, 8.0 ms into one already mapped), where smaller ones are reused from its heap (see _C.allocator_tuned).
_CACHED_BYTES = 32 << 20


def _empty(shape, dtype):
    """An uninitialized output array (np.empty's contract) of a shape tuple and a np.dtype, from the host block cache
    when large. Every op's outputs come through here: no conversions, so that small ones cost what np.empty does."""
    if math.prod(shape) * dtype.itemsize > _CACHED_BYTES:
        return _C.empty(shape, dtype)
    return np.empty(shape, dtype)


def _empty_like(a):
    return _C.empty(a.shape, a.dtype) if a.nbytes > _CACHED_BYTES else np.empty_like(a)


def _native(*arrays):
    """Whether the kernels take these arrays: all float32 or all float64."""
    dtype = arrays[0].dtype
    if dtype not in _FLOAT_TYPES:
        return False
    for a in arrays:  # a loop: all() over a generator costs more than the test on two or three arrays
        if a.dtype != dtype:
            return False
    return True


def _batched(a, batch_shape, rows, cols):
    """`a` (..., rows, cols) as (B, rows, cols) for the GEMM: (1, ...) when it has no batch of its own (the
    kernel broadcasts it with batch stride 0), else a view of the broadcast batch (a copy only when its
    batch dimensions cannot be merged into one stride)."""
    if int(np.prod(a.shape[:-2], dtype=np.int64)) == 1:
        return a.reshape(1, rows, cols)
    batch = int(np.prod(batch_shape, dtype=np.int64))
    return np.broadcast_to(a, batch_shape + (rows, cols)).reshape(batch, rows, cols)


def matmul(a, b):
    if type(a) is not np.ndarray or type(b) is not np.ndarray:
        a, b = np.asarray(a), np.asarray(b)
    if a.ndim < 2 or b.ndim < 2 or not _native(a, b) or a.shape[-1] != b.shape[-2]:
        return _reference.matmul(a, b)  # integer dtypes, mixed dtypes, 1-D operands, NumPy's own errors
    m, k, n = a.shape[-2], a.shape[-1], b.shape[-1]
    if a.ndim == 2 and b.ndim == 2:  # a layer's product: no batch shapes to work out (NumPy's prod and
        out = _empty((m, n), a.dtype)  # broadcast_shapes cost more than a small GEMM's call)
        _C.gemm(a[None], b[None], out[None])
        return out
    batch_shape = tuple(np.broadcast_shapes(a.shape[:-2], b.shape[:-2]))
    out = _empty(batch_shape + (m, n), dtype=a.dtype)
    batch = int(np.prod(batch_shape, dtype=np.int64))
    _C.gemm(_batched(a, batch_shape, m, k), _batched(b, batch_shape, k, n), out.reshape(batch, m, n))
    return out


def column_sums(a):
    """The native strip-summing kernel: NumPy's sum over the rows of a narrow matrix walks it row by row, 12x
    slower at (36864, 6); the kernel's order is fixed, so the result does not depend on the thread count."""
    a = np.asarray(a)
    if a.ndim != 2 or not _native(a):
        return _reference.column_sums(a)
    out = _empty(a.shape[1:], a.dtype)
    _C.column_sums(np.ascontiguousarray(a), out)
    return out


def _conv_out(size, pad, k, stride, dilation):
    return max((size + pad[0] + pad[1] - dilation * (k - 1) - 1) // stride + 1, 0)


def _conv_args(strides, padding, dilation, groups):
    (top, bottom), (left, right) = padding
    return (int(strides[0]), int(strides[1]), int(top), int(bottom), int(left), int(right), int(dilation[0]),
            int(dilation[1]), int(groups))


def conv2d_forward(x, w, strides, padding, dilation, groups, bias=None, activation=None, alpha=0.0):
    x, w = np.ascontiguousarray(x), np.ascontiguousarray(w)
    n, h, wd, _ = x.shape
    kh, kw, _, o = w.shape
    ho = _conv_out(h, padding[0], kh, strides[0], dilation[0])
    wo = _conv_out(wd, padding[1], kw, strides[1], dilation[1])
    out = _empty((n, ho, wo, o), dtype=x.dtype)
    _C.conv2d_forward(x, w, out, *_conv_args(strides, padding, dilation, groups),
                      bias=None if bias is None else np.ascontiguousarray(bias), activation=activation,
                      alpha=float(alpha))
    return out


def conv2d_backward_input(grad_y, w, x_shape, strides, padding, dilation, groups):
    grad_y, w = np.ascontiguousarray(grad_y), np.ascontiguousarray(w)
    grad_x = _empty(tuple(x_shape), dtype=grad_y.dtype)
    _C.conv2d_backward_input(grad_y, w, grad_x, *_conv_args(strides, padding, dilation, groups))
    return grad_x


def conv2d_backward_weight(grad_y, x, w_shape, strides, padding, dilation, groups):
    grad_y, x = np.ascontiguousarray(grad_y), np.ascontiguousarray(x)
    grad_w = _empty(tuple(w_shape), dtype=x.dtype)
    _C.conv2d_backward_weight(grad_y, x, grad_w, *_conv_args(strides, padding, dilation, groups))
    return grad_w


def _pool_out(size, pad, k, stride):
    return max((size + pad[0] + pad[1] - k) // stride + 1, 0)


def _pool_args(pool, strides, padding):
    (top, bottom), (left, right) = padding
    return (int(pool[0]), int(pool[1]), int(strides[0]), int(strides[1]), int(top), int(bottom), int(left),
            int(right))


def _pool_out_shape(x_shape, pool, strides, padding):
    n, h, w, c = x_shape
    return (n, _pool_out(h, padding[0], pool[0], strides[0]), _pool_out(w, padding[1], pool[1], strides[1]), c)


def max_pool2d_forward(x, pool, strides, padding):
    x = np.ascontiguousarray(x)
    out = _empty(_pool_out_shape(x.shape, pool, strides, padding), dtype=x.dtype)
    _C.max_pool2d_forward(x, out, *_pool_args(pool, strides, padding))
    return out


def max_pool2d_backward(grad_y, x, pool, strides, padding):
    grad_y, x = np.ascontiguousarray(grad_y), np.ascontiguousarray(x)
    grad_x = _empty(x.shape, dtype=grad_y.dtype)
    _C.max_pool2d_backward(grad_y, x, grad_x, *_pool_args(pool, strides, padding))
    return grad_x


def avg_pool2d_forward(x, pool, strides, padding):
    x = np.ascontiguousarray(x)
    out = _empty(_pool_out_shape(x.shape, pool, strides, padding), dtype=x.dtype)
    _C.avg_pool2d_forward(x, out, *_pool_args(pool, strides, padding))
    return out


def avg_pool2d_backward(grad_y, x_shape, pool, strides, padding):
    grad_y = np.ascontiguousarray(grad_y)
    grad_x = _empty(tuple(x_shape), dtype=grad_y.dtype)
    _C.avg_pool2d_backward(grad_y, grad_x, *_pool_args(pool, strides, padding))
    return grad_x


def activation_forward(name, x, alpha=0.0):
    x = np.ascontiguousarray(x)
    out = _empty_like(x)
    _C.activation_forward(name, x, out, float(alpha))
    return out


def activation_backward(name, x, y, grad_y, alpha=0.0):
    x, y, grad_y = np.ascontiguousarray(x), np.ascontiguousarray(y), np.ascontiguousarray(grad_y)
    grad_x = _empty_like(x)
    _C.activation_backward(name, x, y, grad_y, grad_x, float(alpha))
    return grad_x


def _rows(a):
    """`a` (..., C) as (rows, C), for C = 0 too."""
    return a.reshape(a.size // max(a.shape[-1], 1), a.shape[-1])


def bias_activation_forward(x, bias, name, alpha=0.0):
    x = np.ascontiguousarray(x)
    if x.ndim == 0 or not _native(x, *([] if bias is None else [bias])):
        return _reference.bias_activation_forward(x, bias, name, alpha)
    out = _empty_like(x)
    _C.bias_activation_forward(name, x, None if bias is None else np.ascontiguousarray(bias), out, float(alpha))
    return out


def bias_activation_backward(name, y, grad_y, alpha=0.0, bias=True):
    """The activation's backward with y standing for x (exact for the activations the fused op takes), and the bias
    gradient: its column sums, taken in the same pass (one kernel) when both are native arrays."""
    if bias and y.ndim and type(grad_y) is np.ndarray and _native(y, grad_y) and y.shape == grad_y.shape:
        y, grad_y = np.ascontiguousarray(y), np.ascontiguousarray(grad_y)
        grad_x, grad_b = _empty_like(y), np.empty(y.shape[-1:], y.dtype)
        _C.bias_activation_backward(name, y, grad_y, grad_x, grad_b, float(alpha))
        return grad_x, grad_b
    grad_x = activation_backward(name, y, y, grad_y, alpha) if name is not None else np.array(grad_y, copy=True)
    return grad_x, (column_sums(_rows(grad_x)) if bias else None)


def _last_axis(kernel, arrays, axis):
    """Run a last-axis kernel along `axis`: move it last, make contiguous, run, move it back."""
    last = axis in (-1, arrays[0].ndim - 1)  # already last (a classifier's softmax): no moves
    moved = [np.ascontiguousarray(a if last else np.moveaxis(a, axis, -1)) for a in arrays]
    out = _empty_like(moved[0])
    kernel(*moved, out)
    return out if last else np.ascontiguousarray(np.moveaxis(out, -1, axis))


def softmax_forward(x, axis=-1):
    return _last_axis(_C.softmax_forward, [x], axis)


def softmax_backward(y, grad_y, axis=-1):
    return _last_axis(_C.softmax_backward, [y, grad_y], axis)


def log_softmax_forward(x, axis=-1):
    return _last_axis(_C.log_softmax_forward, [x], axis)


def log_softmax_backward(y, grad_y, axis=-1):
    return _last_axis(_C.log_softmax_backward, [y, grad_y], axis)


# -- recurrent sequences (time-major; see ember.backend's docstring) --------------------------------------------
def _contiguous(*arrays):
    return [None if a is None else np.ascontiguousarray(a) for a in arrays]


def _mask(mask):
    return None if mask is None else np.ascontiguousarray(mask, dtype=bool)


def simple_rnn_forward(x, h0, kernel, recurrent_kernel, bias, activation, mask):
    x, h0, kernel, recurrent_kernel, bias = _contiguous(x, h0, kernel, recurrent_kernel, bias)
    h = _empty(x.shape[:2] + h0.shape[1:], dtype=x.dtype)
    _C.simple_rnn_forward(x, h0, kernel, recurrent_kernel, bias, activation, _mask(mask), h)
    return h


def simple_rnn_backward(grad_h, x, h0, kernel, recurrent_kernel, activation, mask, h):
    grad_h, x, h0, kernel, recurrent_kernel, h = _contiguous(grad_h, x, h0, kernel, recurrent_kernel, h)
    grads = (_empty_like(x), _empty_like(h0)) + _stacked_weight_grads(kernel, recurrent_kernel)
    _C.simple_rnn_backward(grad_h, x, h0, kernel, recurrent_kernel, activation, _mask(mask), h, *grads)
    return grads


def _stacked_weight_grads(kernel, recurrent_kernel):
    """Gradients of kernel (I, N), recurrent_kernel (H, N) and bias (N,) as views of one (I + H + 1, N) array:
    the native backward's single weight-gradient GEMM then writes them in place instead of copying 4(I+H+1)N
    bytes out of a workspace."""
    i, n = kernel.shape
    stacked = _empty((i + recurrent_kernel.shape[0] + 1, n), dtype=kernel.dtype)
    return stacked[:i], stacked[i:-1], stacked[-1]


def lstm_forward(x, h0, c0, kernel, recurrent_kernel, bias, mask):
    x, h0, c0, kernel, recurrent_kernel, bias = _contiguous(x, h0, c0, kernel, recurrent_kernel, bias)
    h = _empty(x.shape[:2] + h0.shape[1:], dtype=x.dtype)
    c = _empty_like(h)
    gates = _empty(x.shape[:2] + (4 * h0.shape[1],), dtype=x.dtype)
    _C.lstm_forward(x, h0, c0, kernel, recurrent_kernel, bias, _mask(mask), h, c, gates)
    return h, c, gates


def lstm_inference(x, h0, c0, kernel, recurrent_kernel, bias, mask):
    """lstm_forward's h and final cell state, keeping nothing for a backward pass (no gates, no c history)."""
    x, h0, c0, kernel, recurrent_kernel, bias = _contiguous(x, h0, c0, kernel, recurrent_kernel, bias)
    h = _empty(x.shape[:2] + h0.shape[1:], dtype=x.dtype)
    c_last = _empty_like(h0)
    _C.lstm_forward(x, h0, c0, kernel, recurrent_kernel, bias, _mask(mask), h, c_last, None)
    return h, c_last


def lstm_backward(grad_h, grad_c, x, h0, c0, kernel, recurrent_kernel, mask, h, c, gates):
    arrays = _contiguous(grad_h, grad_c, x, h0, c0, kernel, recurrent_kernel)
    h, c, gates = _contiguous(h, c, gates)
    x, h0, c0, kernel = arrays[2], arrays[3], arrays[4], arrays[5]
    grads = (_empty_like(x), _empty_like(h0), _empty_like(c0)) + _stacked_weight_grads(kernel, arrays[6])
    _C.lstm_backward(*arrays, _mask(mask), h, c, gates, *grads)
    return grads


def gru_forward(x, h0, kernel, recurrent_kernel, bias, reset_after, mask):
    x, h0, kernel, recurrent_kernel, bias = _contiguous(x, h0, kernel, recurrent_kernel, bias)
    h = _empty(x.shape[:2] + h0.shape[1:], dtype=x.dtype)
    gates = _empty(x.shape[:2] + (4 * h0.shape[1],), dtype=x.dtype)
    _C.gru_forward(x, h0, kernel, recurrent_kernel, bias, bool(reset_after), _mask(mask), h, gates)
    return h, gates


def gru_backward(grad_h, x, h0, kernel, recurrent_kernel, bias, reset_after, mask, h, gates):
    grad_h, x, h0, kernel, recurrent_kernel, h, gates = _contiguous(grad_h, x, h0, kernel, recurrent_kernel, h,
                                                                    gates)
    units3 = 3 * h0.shape[1]
    grads = (_empty_like(x), _empty_like(h0), _empty_like(kernel), _empty_like(recurrent_kernel),
             _empty((2, units3) if reset_after else (units3,), dtype=x.dtype))
    _C.gru_backward(grad_h, x, h0, kernel, recurrent_kernel, bool(reset_after), _mask(mask), h, gates, *grads)
    return grads
