"""Reductions over axes (NumPy's `axis` and `keepdims`)."""
import numpy as np

from ..device import array_module
from ._util import check_inputs, normalize_axes, record, tensor_of, wrap


_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))  # float16's mean accumulates in float32: left to NumPy


def _expand_back(g, shape, axes, keepdims):
    """A gradient of the reduced shape, broadcast back over the input's shape."""
    xp = array_module(g)
    if not keepdims:
        g = xp.expand_dims(g, axes) if axes else g
    return xp.broadcast_to(g, shape)


def _operand(op, x):
    x = tensor_of(op, x)
    check_inputs(op, x)
    return x


def sum(x, axis=None, keepdims=False):
    x = _operand("sum", x)
    axes = normalize_axes("sum", axis, x.ndim, x.shape)
    out = wrap(x._xp.sum(x._data, axis=axes, keepdims=keepdims))
    shape = x.shape
    if len(axes) == x.ndim and not keepdims:  # as mean's: the kernels that take it would each copy a broadcast view
        xp, dtype = x._xp, x.dtype
        return record("sum", out, [x], lambda g: [xp.full(shape, g, dtype)])
    return record("sum", out, [x], lambda g: [_expand_back(g, shape, axes, keepdims)])


def mean(x, axis=None, keepdims=False):
    x = _operand("mean", x)
    axes = normalize_axes("mean", axis, x.ndim, x.shape)
    count = int(np.prod([x.shape[a] for a in axes]))
    if count and x.dtype in _FLOATS:  # the sum over the count, as NumPy's mean computes it, without its wrappers
        out = wrap(x._xp.sum(x._data, axis=axes, keepdims=keepdims) / x.dtype.type(count))
    else:
        out = wrap(x._xp.mean(x._data, axis=axes, keepdims=keepdims))
    shape, dtype = x.shape, x.dtype
    if len(axes) == x.ndim and not keepdims:  # a loss's mean: a filled array costs less than a broadcast view
        xp = x._xp
        return record("mean", out, [x], lambda g: [xp.full(shape, g / count, dtype)])
    return record("mean", out, [x], lambda g: [_expand_back(g / count, shape, axes, keepdims)])


def _extremum(op, reduce, x, axis, keepdims):
    axes = normalize_axes(op, axis, x.ndim, x.shape)
    _check_not_empty(op, x, axes)
    data = x._data
    out = wrap(reduce(data, axis=axes, keepdims=keepdims))
    extreme = out._data  # the array, not `out`: a closure holding the tensor would make a cycle out -> node -> out

    def backward(g):
        # ties share the gradient evenly (as torch's amax/amin)
        winners = data == _expand_back(extreme, data.shape, axes, keepdims)
        winners = winners / winners.sum(axis=axes, keepdims=True)
        return [winners.astype(data.dtype) * _expand_back(g, data.shape, axes, keepdims)]

    return record(op, out, [x], backward)


def _check_not_empty(op, x, axes):
    """As torch: reducing over an axis of size 0 has no answer; other axes of size 0 just stay empty."""
    empty = [a for a in axes if x.shape[a] == 0]
    if empty:
        raise ValueError(f"{op}: cannot reduce an empty tensor of shape {x.shape} over axis {empty[0]} (size 0): "
                         f"the {op} of no values is undefined")


def max(x, axis=None, keepdims=False):
    x = _operand("max", x)
    return _extremum("max", x._xp.max, x, axis, keepdims)


def min(x, axis=None, keepdims=False):
    x = _operand("min", x)
    return _extremum("min", x._xp.min, x, axis, keepdims)


def var(x, axis=None, keepdims=False, ddof=0):
    """Variance (NumPy's default ddof=0), built from differentiable primitives."""
    x = _operand("var", x)
    axes = normalize_axes("var", axis, x.ndim, x.shape)
    count = int(np.prod([x.shape[a] for a in axes]))
    centered = x - mean(x, axes, keepdims=True)
    divisor = count - ddof if count > ddof else float("nan")  # NumPy gives nan (and warns) here too
    return sum(centered * centered, axes, keepdims) / divisor


def std(x, axis=None, keepdims=False, ddof=0):
    x = _operand("std", x)
    return var(x, normalize_axes("std", axis, x.ndim, x.shape), keepdims, ddof) ** 0.5


def _index_reduction(op, x, axis, keepdims):
    x = _operand(op, x)
    if axis is None:
        if x.size == 0:
            raise ValueError(f"{op}: cannot take {op} of an empty tensor of shape {x.shape}")
        result = getattr(x._xp, op)(x._data)
        return wrap(result.reshape((1,) * x.ndim) if keepdims else x._xp.asarray(result))
    (ax,) = normalize_axes(op, axis, x.ndim, x.shape)
    if x.shape[ax] == 0:
        raise ValueError(f"{op}: cannot take {op} over axis {ax} of size 0 (tensor of shape {x.shape})")
    return wrap(getattr(x._xp, op)(x._data, axis=ax, keepdims=keepdims))


def argmax(x, axis=None, keepdims=False):
    """Index of the first maximum (flat when axis is None); an int64 tensor outside autograd."""
    return _index_reduction("argmax", x, axis, keepdims)


def argmin(x, axis=None, keepdims=False):
    return _index_reduction("argmin", x, axis, keepdims)


def any(x, axis=None, keepdims=False):
    x = _operand("any", x)
    return wrap(x._xp.any(x._data, axis=normalize_axes("any", axis, x.ndim, x.shape), keepdims=keepdims))


def all(x, axis=None, keepdims=False):
    x = _operand("all", x)
    return wrap(x._xp.all(x._data, axis=normalize_axes("all", axis, x.ndim, x.shape), keepdims=keepdims))
