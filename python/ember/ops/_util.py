"""Small helpers shared by the ops: operands, broadcasting, axes, argument checks."""
import numpy as np

from .. import backend
from .. import device as _device
from ..autograd import record  # noqa: F401  (re-exported for the op modules)
from ..tensor import Tensor


def data_of(x, op="ember"):
    """The array or Python scalar behind an operand (Tensor, array, list or scalar)."""
    if isinstance(x, Tensor):
        return x._data
    if isinstance(x, np.generic):
        return x.item()  # NumPy scalars act as Python scalars: float32 * np.float64(2) stays float32, as in torch
    if isinstance(x, (int, float, bool, np.ndarray)) or hasattr(x, "__cuda_array_interface__"):
        return x  # device arrays pass as they are: check_inputs judges them
    return read_nested(op, x)


def read_nested(op, x):
    """An array from nested sequences, as NumPy reads them; a ragged nesting names the two items that differ."""
    try:
        return np.asarray(x)
    except ValueError:
        raise ValueError(f"{op}: cannot make a tensor of a ragged nested sequence: {_ragged_items(x)}") from None


def _ragged_items(seq, path="x"):
    """Where a nested sequence stops being rectangular: the first two siblings of different shapes (or ranks)."""
    shapes = []
    for i, item in enumerate(seq):
        try:
            shapes.append(np.shape(item))
        except ValueError:
            return _ragged_items(item, f"{path}[{i}]")
    for i, shape in enumerate(shapes[1:], 1):
        if shape != shapes[0]:
            return f"{path}[0] has shape {shapes[0]} but {path}[{i}] has shape {shape}"
    return "its items have different shapes"


def tensor_of(op, x):
    """An operand as a Tensor: Tensors as they are, arrays, numbers and nested lists as NumPy reads them."""
    if isinstance(x, Tensor):
        return x
    return wrap(np.asarray(data_of(x, op)) if not hasattr(x, "__cuda_array_interface__") else x)


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
    kept = grad.ndim - len(axes)
    if axes == tuple(range(len(axes))) and grad.dtype.kind == "f" and grad.size:  # a bias: leading axes summed
        rows = int(np.prod(grad.shape[:len(axes)]))
        return backend.for_array(grad).column_sums(grad.reshape(rows, -1)).reshape(shape) if kept else \
            grad.sum().reshape(shape)
    if axes:
        grad = grad.sum(axis=axes, keepdims=True)
    return grad.reshape(shape)


def check_broadcast(op, *shapes):
    if not any(shapes):  # every shape () (a matmul of matrices): nothing to broadcast
        return ()
    try:
        return np.broadcast_shapes(*shapes)
    except ValueError:
        listed = " and ".join(str(tuple(s)) for s in shapes)
        raise ValueError(f"{op}: cannot broadcast shapes {listed}; aligned from the right, each dimension "
                         f"must be equal or 1") from None


def normalize_axes(op, axis, ndim, shape=None):
    """`axis` (None, int or sequence) as a sorted tuple of non-negative axes; out-of-range raises ValueError
    (naming `shape` when given)."""
    if axis is None:
        return tuple(range(ndim))
    axes = (axis,) if isinstance(axis, (int, np.integer)) else tuple(axis)
    out = []
    for a in axes:
        if not isinstance(a, (int, np.integer)) or not -ndim <= a < max(ndim, 1):
            where = f"shape {tuple(shape)} ({ndim} dimension(s))" if shape is not None else f"{ndim} dimension(s)"
            raise ValueError(f"{op}: axis {axis!r} is out of range for a tensor of {where}")
        out.append(int(a) % max(ndim, 1))
    if len(set(out)) != len(out):
        raise ValueError(f"{op}: repeated axis in {axis!r}")
    return tuple(sorted(out))


def kernels(x):
    """The backend module that computes on tensor `x`."""
    return backend.for_array(x._data)


_COMPUTED_KINDS = frozenset("biuf")  # bool, signed and unsigned int, float: the dtypes ember computes on


def shapes_text(arrays):
    shapes = [str(tuple(np.shape(a))) for a in arrays]
    return f"shape {shapes[0]}" if len(shapes) == 1 else f"shapes {' and '.join(shapes)}"


def check_inputs(op, *operands):
    """Refuse what ember cannot compute on, naming the op and every operand's shape: dtypes other than bool, int
    and float (complex, strings, objects), tensors on different devices, and tensors on a device this process has
    no array library for. Tensors, arrays and Python scalars may be mixed; None is skipped."""
    arrays = [x._data if isinstance(x, Tensor) else x for x in operands if x is not None]
    if all(type(a) is np.ndarray and a.dtype.kind in _COMPUTED_KINDS for a in arrays):
        return  # the common case, kept cheap: every op calls this
    arrays = [a for a in arrays if not isinstance(a, (bool, int, float))]
    _check_devices(op, arrays)
    for a in arrays:
        dtype = np.asarray(a).dtype if isinstance(a, complex) else a.dtype
        if dtype.kind not in _COMPUTED_KINDS:
            raise TypeError(f"{op}: unsupported dtype {dtype} ({shapes_text(arrays)}); expected bool, int or "
                            f"float tensors")


def _cupy():
    try:
        import cupy
    except ImportError:
        return None
    return cupy


def _check_devices(op, arrays):
    devices = [_device.of_array(a) if hasattr(a, "__cuda_array_interface__") else "cpu" for a in arrays]
    if len(set(devices)) > 1:
        first = {}  # the first operand on each device, in order
        for d, a in zip(devices, arrays):
            first.setdefault(d, a)
        listed = " and ".join(f"{d} (shape {tuple(a.shape)})" for d, a in first.items())
        raise RuntimeError(f"{op}: expected all tensors on one device, got {listed}")
    for a, device in zip(arrays, devices):
        if device == "cpu":
            continue
        cupy = _cupy()
        if cupy is None or not isinstance(a, cupy.ndarray):
            why = "CuPy is not installed" if cupy is None else f"its storage is a {type(a).__name__}, not a CuPy array"
            raise RuntimeError(f"{op}: the tensor of shape {tuple(a.shape)} is on {device}, but ember cannot "
                               f"compute on {device} in this process: {why}")


_KERNEL_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def require_float(op, *tensors):
    """Kernel ops run in float32/float64 only, with one dtype for all operands (on one device)."""
    check_inputs(op, *tensors)
    dtype = tensors[0]._data.dtype
    if dtype in _KERNEL_DTYPES and all(t._data.dtype == dtype for t in tensors):
        return  # the common case: dtype objects compared (a dtype against np.float32, a type, converts it first)
    dtypes = [t.dtype for t in tensors]
    for t in tensors:
        if t.dtype not in _KERNEL_DTYPES:
            shapes = ", ".join(str(t.shape) for t in tensors)
            raise TypeError(f"{op}: expected float32 or float64 inputs, got {t.dtype} (shapes {shapes})")
    if len(set(dtypes)) > 1:
        raise TypeError(f"{op}: inputs must share one dtype, got {', '.join(map(str, dtypes))}")


def empty_result(op, shape, inputs):
    """An op's result over an empty batch, computed without a backend: an empty output of `shape` and zero
    gradients for every input (nothing reached the weights). As in torch; no kernel needs to handle size 0."""
    x = inputs[0]
    out = wrap(x._xp.zeros(shape, x.dtype))
    return record(op, out, inputs, lambda g: [t._xp.zeros(t.shape, t.dtype) for t in inputs])


def require_rank(op, name, x, rank, layout):
    if x.ndim != rank:
        raise ValueError(f"{op}: expected {name} of rank {rank} ({layout}), got shape {x.shape}")


def pair(op, name, value, minimum=1):
    """An int or a pair of ints as a validated pair (strides, dilation, pool sizes)."""
    if type(value) is tuple and len(value) == 2 and type(value[0]) is int and type(value[1]) is int and \
            value[0] >= minimum and value[1] >= minimum:
        return value  # a layer's own pair, every call
    values = (value, value) if isinstance(value, (int, np.integer)) else tuple(value)
    if len(values) != 2 or not all(isinstance(v, (int, np.integer)) and v >= minimum for v in values):
        raise ValueError(f"{op}: invalid value for argument `{name}`. Expected an int >= {minimum} or a pair "
                         f"of them. Received: {name}={value!r}")
    return tuple(int(v) for v in values)


_CHECKED = {}  # (check, signature) -> what the check returned, for calls on host arrays that passed it


def checked_once(check, signature, *args):
    """`check(*args)` (an op's argument checks, returning what the op needs of them: resolved padding, output sizes)
    run once per `signature` (a tuple of everything the checks read: shapes, dtypes, arguments) and remembered. A
    training step repeats the same calls, and their checks cost more Python than the kernels' calls. Only for host
    arrays (a device array's device is not in the signature): pass signature None to check every time."""
    if signature is None:
        return check(*args)
    key = (check, signature)
    try:
        return _CHECKED[key]
    except KeyError:
        pass
    except TypeError:  # an unhashable argument (padding as a list): checked every time
        return check(*args)
    result = check(*args)
    if len(_CHECKED) >= 4096:  # shapes that change every call (variable batch sizes, sequence lengths) stay bounded
        _CHECKED.clear()
    _CHECKED[key] = result
    return result


def host_signature(tensors, *arguments):
    """The signature `checked_once` keys on for `tensors` (Tensors or None), or None unless all are host arrays. The
    arguments' types are part of it (and a tuple's items' types): 1.0 == 1, but a float is refused where an int is
    expected, and a remembered int must not let it through."""
    parts = []
    for t in tensors:
        if t is None:
            parts.append(None)
            continue
        data = t._data
        if type(data) is not np.ndarray:
            return None
        parts.append((data.shape, data.dtype))
    types = tuple(map(type, arguments))
    inner = tuple([tuple(map(type, a)) for a in arguments if type(a) is tuple]) if tuple in types else ()
    return (*parts, *arguments, types, inner)

