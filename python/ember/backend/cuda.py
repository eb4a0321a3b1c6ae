"""The CUDA backend: ember._cuda's kernels behind the backend API, on CuPy arrays.

Same functions and signatures as ember.backend.cpu (see ember.backend's docstring), with CuPy in NumPy's place: this
module allocates outputs on the current GPU, makes inputs C-contiguous, reshapes matmul's batch dimensions to one,
moves softmax's axis last, and launches every kernel on CuPy's current stream (asynchronously: nothing here waits
for the GPU). The kernels check shapes and dtypes again and raise ValueError / TypeError naming the op, and
ember._cuda.CudaError (CudaOutOfMemoryError) for a failed launch.

Two functions exist only here, for the ops whose CPU path is plain NumPy:
    dropout_mask(shape, dtype, rate)   0 or 1 / (1 - rate) per element, from Philox with a seed drawn from ember's
                                       generator (so `ember.manual_seed` repeats the masks)
    batch_norm_statistics(x)           x (M, C) -> (mean (C,), biased variance (C,)) in a fixed reduction order
"""
import importlib

import cupy
import numpy as np

from .. import determinism
from .. import random as _random

_cuda = importlib.import_module("ember._cuda")  # not `from .. import _cuda`: tests put a stand-in in sys.modules

_FLOAT_TYPES = (np.dtype(np.float32), np.dtype(np.float64))

# kernels that give run-to-run different results (float atomics), as the extension declares them
for _op, _why in dict(getattr(_cuda, "NONDETERMINISTIC", {})).items():
    determinism.register_nondeterministic(_op, "cuda", _why)


def _stream():
    """The stream every kernel runs on: CuPy's current one, so kernels and CuPy's own work stay in order."""
    return cupy.cuda.get_current_stream().ptr


def _launch(name, *args):
    determinism.check(name, "cuda")
    getattr(_cuda, name)(*args, stream=_stream())


def _native(*arrays):
    """Whether the kernels take these arrays: all float32 or all float64."""
    dtype = arrays[0].dtype
    return dtype in _FLOAT_TYPES and all(a.dtype == dtype for a in arrays)


def _contiguous(*arrays):
    return [None if a is None else cupy.ascontiguousarray(a) for a in arrays]


def _batched(a, batch_shape, rows, cols):
    """`a` (..., rows, cols) as (B, rows, cols) for the GEMM, which takes any strides: (1, ...) when it has no batch
    of its own (the kernel broadcasts it), else a view of the broadcast batch (a copy only when its batch
    dimensions cannot be merged into one stride). Transposed operands (matmul's backward) are not copied."""
    if int(np.prod(a.shape[:-2], dtype=np.int64)) == 1:
        return a.reshape(1, rows, cols)
    batch = int(np.prod(batch_shape, dtype=np.int64))
    return cupy.broadcast_to(a, batch_shape + (rows, cols)).reshape(batch, rows, cols)


def matmul(a, b):
    if a.ndim < 2 or b.ndim < 2 or not _native(a, b) or a.shape[-1] != b.shape[-2]:
        return cupy.matmul(a, b)  # integer dtypes, mixed dtypes, 1-D operands, CuPy's own errors
    m, k, n = a.shape[-2], a.shape[-1], b.shape[-1]
    batch_shape = tuple(np.broadcast_shapes(a.shape[:-2], b.shape[:-2]))
    out = cupy.empty(batch_shape + (m, n), dtype=a.dtype)
    batch = int(np.prod(batch_shape, dtype=np.int64))
    if out.size == 0:
        return out
    _launch("gemm", _batched(a, batch_shape, m, k), _batched(b, batch_shape, k, n), out.reshape(batch, m, n))
    return out


def column_sums(a):
    """The sum over the rows of a (M, N) matrix: the extension's kernel when it has one, else the GEMM
    ones (1, M) @ a, whose reduction order is fixed (CuPy's sum would do, but its order is CuPy's to change)."""
    if a.ndim != 2 or not _native(a) or a.shape[0] == 0:
        return a.sum(axis=0)
    a = cupy.ascontiguousarray(a)
    if hasattr(_cuda, "column_sums"):
        out = cupy.empty(a.shape[1], a.dtype)
        _launch("column_sums", a, out)
        return out
    out = cupy.empty((1, 1, a.shape[1]), a.dtype)
    _launch("gemm", cupy.ones((1, 1, a.shape[0]), a.dtype), a[None], out)
    return out.reshape(a.shape[1])


def _conv_out(size, pad, k, stride, dilation):
    return max((size + pad[0] + pad[1] - dilation * (k - 1) - 1) // stride + 1, 0)


def _conv_args(strides, padding, dilation, groups):
    (top, bottom), (left, right) = padding
    return (int(strides[0]), int(strides[1]), int(top), int(bottom), int(left), int(right), int(dilation[0]),
            int(dilation[1]), int(groups))


def conv2d_forward(x, w, strides, padding, dilation, groups, bias=None, activation=None, alpha=0.0):
    x, w = _contiguous(x, w)
    n, h, wd, _ = x.shape
    kh, kw, _, o = w.shape
    ho = _conv_out(h, padding[0], kh, strides[0], dilation[0])
    wo = _conv_out(wd, padding[1], kw, strides[1], dilation[1])
    out = cupy.empty((n, ho, wo, o), dtype=x.dtype)
    (bias,) = _contiguous(bias)
    _launch("conv2d_forward", x, w, out, *_conv_args(strides, padding, dilation, groups), bias, activation,
            float(alpha))
    return out


def conv2d_backward_input(grad_y, w, x_shape, strides, padding, dilation, groups):
    grad_y, w = _contiguous(grad_y, w)
    grad_x = cupy.empty(tuple(x_shape), dtype=grad_y.dtype)
    _launch("conv2d_backward_input", grad_y, w, grad_x, *_conv_args(strides, padding, dilation, groups))
    return grad_x


def conv2d_backward_weight(grad_y, x, w_shape, strides, padding, dilation, groups):
    grad_y, x = _contiguous(grad_y, x)
    grad_w = cupy.empty(tuple(w_shape), dtype=x.dtype)
    _launch("conv2d_backward_weight", grad_y, x, grad_w, *_conv_args(strides, padding, dilation, groups))
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
    (x,) = _contiguous(x)
    out = cupy.empty(_pool_out_shape(x.shape, pool, strides, padding), dtype=x.dtype)
    _launch("max_pool2d_forward", x, out, *_pool_args(pool, strides, padding))
    return out


def max_pool2d_backward(grad_y, x, pool, strides, padding):
    grad_y, x = _contiguous(grad_y, x)
    grad_x = cupy.empty(x.shape, dtype=grad_y.dtype)
    _launch("max_pool2d_backward", grad_y, x, grad_x, *_pool_args(pool, strides, padding))
    return grad_x


def avg_pool2d_forward(x, pool, strides, padding):
    (x,) = _contiguous(x)
    out = cupy.empty(_pool_out_shape(x.shape, pool, strides, padding), dtype=x.dtype)
    _launch("avg_pool2d_forward", x, out, *_pool_args(pool, strides, padding))
    return out


def avg_pool2d_backward(grad_y, x_shape, pool, strides, padding):
    (grad_y,) = _contiguous(grad_y)
    grad_x = cupy.empty(tuple(x_shape), dtype=grad_y.dtype)
    _launch("avg_pool2d_backward", grad_y, grad_x, *_pool_args(pool, strides, padding))
    return grad_x


def activation_forward(name, x, alpha=0.0):
    (x,) = _contiguous(x)
    out = cupy.empty_like(x)
    _launch("activation_forward", name, x, out, float(alpha))
    return out


def activation_backward(name, x, y, grad_y, alpha=0.0):
    x, y, grad_y = _contiguous(x, y, grad_y)
    grad_x = cupy.empty_like(x)
    _launch("activation_backward", name, x, y, grad_y, grad_x, float(alpha))
    return grad_x


def bias_activation_forward(x, bias, name, alpha=0.0):
    """Two passes here (CuPy's add, then the activation kernel): the CPU's one-pass kernel has no CUDA twin yet."""
    (x,) = _contiguous(x)
    z = x + bias if bias is not None else x.copy()
    return z if name is None else activation_forward(name, z, alpha)


def bias_activation_backward(name, y, grad_y, alpha=0.0, bias=True):
    """The activation's backward with y standing for x (exact for the fused op's activations), then the bias sums."""
    grad_x = activation_backward(name, y, y, grad_y, alpha) if name is not None else cupy.array(grad_y, copy=True)
    return grad_x, (column_sums(grad_x.reshape(grad_x.size // max(grad_x.shape[-1], 1), grad_x.shape[-1]))
                    if bias else None)


def _last_axis(kernel, arrays, axis):
    """Run a last-axis kernel along `axis`: move it last, make contiguous, run, move it back."""
    moved = [cupy.ascontiguousarray(cupy.moveaxis(a, axis, -1)) for a in arrays]
    out = cupy.empty_like(moved[0])
    _launch(kernel, *moved, out)
    return cupy.ascontiguousarray(cupy.moveaxis(out, -1, axis))


def softmax_forward(x, axis=-1):
    return _last_axis("softmax_forward", [x], axis)


def softmax_backward(y, grad_y, axis=-1):
    return _last_axis("softmax_backward", [y, grad_y], axis)


def log_softmax_forward(x, axis=-1):
    return _last_axis("log_softmax_forward", [x], axis)


def log_softmax_backward(y, grad_y, axis=-1):
    return _last_axis("log_softmax_backward", [y, grad_y], axis)


# -- recurrent sequences (time-major; see ember.backend's docstring) --------------------------------------------
def _mask(mask):
    return None if mask is None else cupy.ascontiguousarray(mask, dtype=bool)


def simple_rnn_forward(x, h0, kernel, recurrent_kernel, bias, activation, mask):
    x, h0, kernel, recurrent_kernel, bias = _contiguous(x, h0, kernel, recurrent_kernel, bias)
    h = cupy.empty(x.shape[:2] + h0.shape[1:], dtype=x.dtype)
    _launch("simple_rnn_forward", x, h0, kernel, recurrent_kernel, bias, activation, _mask(mask), h)
    return h


def simple_rnn_backward(grad_h, x, h0, kernel, recurrent_kernel, activation, mask, h):
    grad_h, x, h0, kernel, recurrent_kernel, h = _contiguous(grad_h, x, h0, kernel, recurrent_kernel, h)
    grads = (cupy.empty_like(x), cupy.empty_like(h0), cupy.empty_like(kernel), cupy.empty_like(recurrent_kernel),
             cupy.empty(h0.shape[1:], dtype=x.dtype))
    _launch("simple_rnn_backward", grad_h, x, h0, kernel, recurrent_kernel, activation, _mask(mask), h, *grads)
    return grads


def lstm_forward(x, h0, c0, kernel, recurrent_kernel, bias, mask):
    x, h0, c0, kernel, recurrent_kernel, bias = _contiguous(x, h0, c0, kernel, recurrent_kernel, bias)
    h = cupy.empty(x.shape[:2] + h0.shape[1:], dtype=x.dtype)
    c = cupy.empty_like(h)
    gates = cupy.empty(x.shape[:2] + (4 * h0.shape[1],), dtype=x.dtype)
    _launch("lstm_forward", x, h0, c0, kernel, recurrent_kernel, bias, _mask(mask), h, c, gates)
    return h, c, gates


def lstm_backward(grad_h, grad_c, x, h0, c0, kernel, recurrent_kernel, mask, h, c, gates):
    arrays = _contiguous(grad_h, grad_c, x, h0, c0, kernel, recurrent_kernel)
    h, c, gates = _contiguous(h, c, gates)
    x, h0, c0, kernel = arrays[2], arrays[3], arrays[4], arrays[5]
    grads = (cupy.empty_like(x), cupy.empty_like(h0), cupy.empty_like(c0), cupy.empty_like(kernel),
             cupy.empty_like(arrays[6]), cupy.empty(kernel.shape[1:], dtype=x.dtype))
    _launch("lstm_backward", *arrays, _mask(mask), h, c, gates, *grads)
    return grads


def gru_forward(x, h0, kernel, recurrent_kernel, bias, reset_after, mask):
    x, h0, kernel, recurrent_kernel, bias = _contiguous(x, h0, kernel, recurrent_kernel, bias)
    h = cupy.empty(x.shape[:2] + h0.shape[1:], dtype=x.dtype)
    gates = cupy.empty(x.shape[:2] + (4 * h0.shape[1],), dtype=x.dtype)
    _launch("gru_forward", x, h0, kernel, recurrent_kernel, bias, bool(reset_after), _mask(mask), h, gates)
    return h, gates


def gru_backward(grad_h, x, h0, kernel, recurrent_kernel, bias, reset_after, mask, h, gates):
    grad_h, x, h0, kernel, recurrent_kernel, h, gates = _contiguous(grad_h, x, h0, kernel, recurrent_kernel, h,
                                                                    gates)
    units3 = 3 * h0.shape[1]
    grads = (cupy.empty_like(x), cupy.empty_like(h0), cupy.empty_like(kernel), cupy.empty_like(recurrent_kernel),
             cupy.empty((2, units3) if reset_after else (units3,), dtype=x.dtype))
    _launch("gru_backward", grad_h, x, h0, kernel, recurrent_kernel, bool(reset_after), _mask(mask), h, gates,
            *grads)
    return grads


# -- CUDA-only helpers of ops whose CPU path is NumPy ------------------------------------------------------------
def dropout_mask(shape, dtype, rate):
    """A (shape) array of 0 and 1 / (1 - rate), Philox-generated on the GPU from a seed drawn from ember's seeded
    generator: the host draws one integer per mask instead of copying a whole mask to the device."""
    out = cupy.empty(int(np.prod(shape, dtype=np.int64)), dtype=dtype)
    if out.size:
        seed = int(_random.generator().integers(0, 2 ** 63 - 1))
        _launch("dropout_mask", out, float(rate), seed, 0)
    return out.reshape(shape)


def batch_norm_statistics(x):
    """x (M, C) -> (mean (C,), biased variance (C,)), in x's dtype."""
    (x,) = _contiguous(x)
    mean = cupy.empty(x.shape[1], dtype=x.dtype)
    variance = cupy.empty(x.shape[1], dtype=x.dtype)
    _launch("batch_norm_statistics", x, mean, variance)
    return mean, variance
