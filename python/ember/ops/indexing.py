"""Indexing and slicing (basic, integer arrays, boolean masks) and assignment into tensors."""
import numpy as np

from .. import autograd, determinism
from ._util import Tensor, check_inputs, data_of, record, tensor_of, unbroadcast, wrap


def _normalize_index(index):
    """Tensors inside an index become their arrays; lists become arrays (NumPy's fancy indexing)."""
    if isinstance(index, tuple):
        return tuple(_normalize_index(i) for i in index)
    if isinstance(index, Tensor):
        return index._data
    if isinstance(index, list):
        return np.asarray(index)
    return index


def _index_on_device_of(x, index):
    """Index arrays on the host (lists, NumPy) go to the indexed tensor's GPU: `gpu_tensor[[0, 2]]` works, as in
    torch; index tensors on another device are still refused by the device check."""
    if x.device == "cpu":
        return index
    if isinstance(index, tuple):
        return tuple(_index_on_device_of(x, i) for i in index)
    return x._xp.asarray(index) if isinstance(index, np.ndarray) else index


def _is_basic(index):
    parts = index if isinstance(index, tuple) else (index,)
    return all(p is None or p is Ellipsis or isinstance(p, (slice, int, np.integer)) for p in parts)


def _index_error(op, x, index, error):
    return IndexError(f"{op}: index {index!r} is invalid for a tensor of shape {x.shape}: {error}")


def _index_arrays(index):
    parts = index if isinstance(index, tuple) else (index,)
    return [p for p in parts if hasattr(p, "shape")]


def getitem(x, index):
    x = tensor_of("getitem", x)
    index = _index_on_device_of(x, _normalize_index(index))
    check_inputs("getitem", x, *_index_arrays(index))
    try:
        out = wrap(x._data[index])
    except (IndexError, TypeError, ValueError) as error:
        raise _index_error("getitem", x, index, error) from None
    shape, basic, xp, device = x.shape, _is_basic(index), x._xp, x.device

    def backward(g):
        grad = xp.zeros(shape, dtype=g.dtype)
        if basic:
            grad[index] = g
        else:
            determinism.check("getitem", device)  # on a GPU the scatter-add below adds in arrival order
            xp.add.at(grad, index, g)  # repeated integer indices each add their share
        return [grad]

    return record("getitem", out, [x], backward)


def setitem(x, index, value):
    """`x[index] = value`. In place outside autograd; in a graph, `x` becomes the result of the assignment."""
    index = _index_on_device_of(x, _normalize_index(index))
    tracked = autograd.is_grad_enabled() and (x.requires_grad or (isinstance(value, Tensor) and value.requires_grad))
    if tracked and x.is_leaf and x.requires_grad:
        raise RuntimeError(f"setitem: a leaf tensor that requires grad (shape {x.shape}) cannot be assigned to "
                           f"in place; assign under `with ember.no_grad():` or to a copy (x.clone()).")
    v = data_of(value)
    if not tracked:
        try:
            x._data[index] = v
        except (IndexError, TypeError, ValueError) as error:
            raise _index_error("setitem", x, index, error) from None
        return
    # copy on write: arrays that earlier ops saved for their backward stay as they were
    new = x._data.copy()
    try:
        new[index] = v
    except (IndexError, TypeError, ValueError) as error:
        raise _index_error("setitem", x, index, error) from None
    old = Tensor._wrap(x._data)
    old._requires_grad, old._node, old._output_index = x._requires_grad, x._node, x._output_index
    value_shape = np.shape(v)

    def backward(g):
        g_old = g.copy()
        g_old[index] = 0
        g_value = unbroadcast(g[index], value_shape) if isinstance(value, Tensor) else None
        return [g_old, g_value] if isinstance(value, Tensor) else [g_old]

    inputs = [old, value] if isinstance(value, Tensor) else [old]
    x._data, x._node = new, None
    record("setitem", x, inputs, backward)
