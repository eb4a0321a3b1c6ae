"""Making tensors: from data, filled, ranges, random (from ember's seeded generator), and from DLPack."""
import numpy as np

from . import random as _random
from .tensor import Tensor, as_dtype, to_array


def _float_default(dtype):
    return np.float32 if dtype is None else as_dtype(dtype)


def _shape(shape):
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = tuple(shape[0])
    if not all(isinstance(n, (int, np.integer)) and n >= 0 for n in shape):
        raise ValueError(f"Invalid shape {shape!r}. Expected non-negative ints.")
    return tuple(int(n) for n in shape)


def _made(array, requires_grad, device):
    t = Tensor._wrap(array)
    if device is not None:
        t = t.to(device)
    t.requires_grad = requires_grad
    return t


def tensor(data, dtype=None, requires_grad=False, device=None):
    """A new tensor holding a copy of `data`; floating data is float32 unless `dtype` says otherwise."""
    return _made(to_array(data, dtype, copy=True), requires_grad, device)


def zeros(*shape, dtype=None, requires_grad=False, device=None):
    return _made(np.zeros(_shape(shape), _float_default(dtype)), requires_grad, device)


def ones(*shape, dtype=None, requires_grad=False, device=None):
    return _made(np.ones(_shape(shape), _float_default(dtype)), requires_grad, device)


def full(shape, fill_value, dtype=None, requires_grad=False, device=None):
    shape = _shape((shape,) if isinstance(shape, (int, np.integer)) else (tuple(shape),))
    dtype = as_dtype(dtype) or (np.float32 if isinstance(fill_value, float) else None)
    return _made(np.full(shape, fill_value, dtype), requires_grad, device)


def arange(start, stop=None, step=1, dtype=None, requires_grad=False, device=None):
    array = np.arange(start, stop, step, dtype=as_dtype(dtype)) if stop is not None else np.arange(start, dtype=as_dtype(dtype))
    if dtype is None and array.dtype.kind == "f":
        array = array.astype(np.float32)
    return _made(array, requires_grad, device)


def rand(*shape, dtype=None, requires_grad=False, device=None):
    """Uniform on [0, 1)."""
    dtype = _float_default(dtype)
    return _made(_random.generator().random(_shape(shape)).astype(dtype), requires_grad, device)


def randn(*shape, dtype=None, requires_grad=False, device=None):
    """Standard normal."""
    dtype = _float_default(dtype)
    return _made(_random.generator().standard_normal(_shape(shape)).astype(dtype), requires_grad, device)


def randint(low, high=None, size=(), dtype=np.int64, device=None):
    return _made(_random.generator().integers(low, high, size=size, dtype=as_dtype(dtype)), False, device)


def _like(fill):
    def like(t, dtype=None, requires_grad=False):
        return _made(fill(np.shape(t._data if isinstance(t, Tensor) else t), as_dtype(dtype) or t.dtype),
                     requires_grad, getattr(t, "device", None))

    return like


zeros_like = _like(np.zeros)
ones_like = _like(np.ones)
rand_like = _like(lambda shape, dtype: _random.generator().random(shape).astype(dtype))
randn_like = _like(lambda shape, dtype: _random.generator().standard_normal(shape).astype(dtype))


def full_like(t, fill_value, dtype=None, requires_grad=False):
    return _made(np.full(t.shape, fill_value, as_dtype(dtype) or t.dtype), requires_grad, t.device)


def from_numpy(array):
    """A tensor sharing memory with `array` (its dtype kept)."""
    return Tensor._wrap(np.asarray(array))


def from_dlpack(obj):
    """A tensor sharing memory with any DLPack producer (NumPy, PyTorch, CuPy, JAX...)."""
    device_type = obj.__dlpack_device__()[0] if hasattr(obj, "__dlpack_device__") else 1
    if device_type == 1:  # kDLCPU
        return Tensor._wrap(np.from_dlpack(obj))
    import cupy

    return Tensor._wrap(cupy.from_dlpack(obj))
