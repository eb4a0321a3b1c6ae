"""Small helpers shared by the ops: operands, broadcasting, axes, argument checks."""
import numpy as np

from .. import backend
from ..autograd import record  # noqa: F401  (re-exported for the op modules)
from ..tensor import Tensor


def data_of(x):
    """The array or Python scalar behind an operand (Tensor, array, list or scalar)."""
    if isinstance(x, Tensor):
        return x._data
    if isinstance(x, np.generic):
        return x.item()  # NumPy scalars act as Python scalars: float32 * np.float64(2) stays float32, as in torch
    if isinstance(x, (int, float, bool, np.ndarray)):
        return x
    return np.asarray(x)


def wrap(array):
    """A result array as a Tensor (NumPy hands back 0-d results as scalars: made arrays again here)."""
    if isinstance(array, np.generic):
        array = np.asarray(array)
    return Tensor._wrap(array)


def tensors_in(*operands):
    """The operands that are Tensors (only they take part in the graph)."""
    return [x for x in operands if isinstance(x, Tensor)]


def shape_of(x):
    return tuple(np.shape(x._data if isinstance(x, Tensor) else x))


def unbroadcast(grad, shape):
    """Sum `grad` down to `shape`: the inverse of NumPy broadcasting, for gradients of broadcast operands."""
    if grad.shape == shape:
        return grad
    extra = grad.ndim - len(shape)
    axes = tuple(range(extra)) + tuple(i + extra for i, n in enumerate(shape) if n == 1 and grad.shape[i + extra] != 1)
    if axes:
        grad = grad.sum(axis=axes, keepdims=True)
    return grad.reshape(shape)


def check_broadcast(op, *shapes):
    try:
        return np.broadcast_shapes(*shapes)
    except ValueError:
        listed = " and ".join(str(tuple(s)) for s in shapes)
        raise ValueError(f"{op}: cannot broadcast shapes {listed}; aligned from the right, each dimension "
                         f"must be equal or 1") from None


def normalize_axes(op, axis, ndim):
    """`axis` (None, int or sequence) as a sorted tuple of non-negative axes; out-of-range raises ValueError."""
    if axis is None:
        return tuple(range(ndim))
    axes = (axis,) if isinstance(axis, (int, np.integer)) else tuple(axis)
    out = []
    for a in axes:
        if not isinstance(a, (int, np.integer)) or not -ndim <= a < max(ndim, 1):
            raise ValueError(f"{op}: axis {axis!r} is out of range for a tensor with {ndim} dimension(s)")
        out.append(int(a) % max(ndim, 1))
    if len(set(out)) != len(out):
        raise ValueError(f"{op}: repeated axis in {axis!r}")
    return tuple(sorted(out))


def kernels(x):
    """The backend module that computes on tensor `x`."""
    return backend.for_array(x._data)


def require_float(op, *tensors):
    """Kernel ops run in float32/float64 only, with one dtype for all operands."""
    dtypes = [t.dtype for t in tensors]
    for t in tensors:
        if t.dtype not in (np.float32, np.float64):
            shapes = ", ".join(str(t.shape) for t in tensors)
            raise TypeError(f"{op}: expected float32 or float64 inputs, got {t.dtype} (shapes {shapes})")
    if len(set(dtypes)) > 1:
        raise TypeError(f"{op}: inputs must share one dtype, got {', '.join(map(str, dtypes))}")


def require_rank(op, name, x, rank, layout):
    if x.ndim != rank:
        raise ValueError(f"{op}: expected {name} of rank {rank} ({layout}), got shape {x.shape}")


def pair(op, name, value, minimum=1):
    """An int or a pair of ints as a validated pair (strides, dilation, pool sizes)."""
    values = (value, value) if isinstance(value, (int, np.integer)) else tuple(value)
    if len(values) != 2 or not all(isinstance(v, (int, np.integer)) and v >= minimum for v in values):
        raise ValueError(f"{op}: invalid value for argument `{name}`. Expected an int >= {minimum} or a pair "
                         f"of them. Received: {name}={value!r}")
    return tuple(int(v) for v in values)
