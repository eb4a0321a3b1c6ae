"""Making tensors: from data, filled, ranges, random (from ember's seeded generator), and from DLPack.

`device=None` means the default device (`ember.set_device`, "cpu" unless changed); `*_like` follow their input.
Random values are drawn on the host from ember's one generator, so a seed gives the same tensor on every device.
"""
import numpy as np

from . import device as _device
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
    t = Tensor._wrap(_device.move(array, _device.resolve(device)))
    t.requires_grad = requires_grad
    return t


def tensor(data, dtype=None, requires_grad=False, device=None):
    """A new tensor holding a copy of `data`; floating data is float32 unless `dtype` says otherwise. A GPU array
    (CuPy, or anything with __cuda_array_interface__) stays on its GPU unless `device` names another place."""
    array = to_array(data, dtype, copy=True)
    if device is None and not _device.is_host(array):
        device = _device.of_array(array)
    return _made(array, requires_grad, device)


def _filled(name, shape, dtype, device, *fill):
    """np.zeros / ones / full, or CuPy's on a GPU: filled where it lives, with no copy from the host."""
    device = _device.resolve(device)
    if device == "cpu":
        return getattr(np, name)(shape, *fill, dtype=dtype)
    _device.require(device, f"ember.{name}")
    import cupy

    with cupy.cuda.Device(_device.index_of(device)):
        return getattr(cupy, name)(shape, *fill, dtype=dtype)


def zeros(*shape, dtype=None, requires_grad=False, device=None):
    return _made(_filled("zeros", _shape(shape), _float_default(dtype), device), requires_grad, device)


def ones(*shape, dtype=None, requires_grad=False, device=None):
    return _made(_filled("ones", _shape(shape), _float_default(dtype), device), requires_grad, device)


def full(shape, fill_value, dtype=None, requires_grad=False, device=None):
    shape = _shape((shape,) if isinstance(shape, (int, np.integer)) else (tuple(shape),))
    dtype = as_dtype(dtype) or (np.float32 if isinstance(fill_value, float) else None)
    return _made(_filled("full", shape, np.result_type(fill_value) if dtype is None else dtype, device, fill_value),
                 requires_grad, device)


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
    def like(t, dtype=None, requires_grad=False, device=None):
        array = t._data if isinstance(t, Tensor) else t
        if not hasattr(array, "shape"):
            array = np.asarray(array)
        return _made(fill(tuple(array.shape), as_dtype(dtype) or array.dtype), requires_grad,
                     device or _device.of_array(array))

    return like


zeros_like = _like(np.zeros)
ones_like = _like(np.ones)
rand_like = _like(lambda shape, dtype: _random.generator().random(shape).astype(dtype))
randn_like = _like(lambda shape, dtype: _random.generator().standard_normal(shape).astype(dtype))


def full_like(t, fill_value, dtype=None, requires_grad=False, device=None):
    return _made(np.full(t.shape, fill_value, as_dtype(dtype) or t.dtype), requires_grad, device or t.device)


def from_numpy(array):
    """A tensor sharing memory with `array` (its dtype kept)."""
    return Tensor._wrap(np.asarray(array))


_DLPACK_CPU, _DLPACK_CUDA = 1, 2


def from_dlpack(obj):
    """A tensor sharing memory with any DLPack producer (NumPy, PyTorch, CuPy, JAX...): a CPU tensor over host
    memory, a GPU tensor (CuPy array) over CUDA device memory; no copy either way."""
    device_type, device_id = obj.__dlpack_device__() if hasattr(obj, "__dlpack_device__") else (_DLPACK_CPU, 0)
    if device_type == _DLPACK_CPU:
        return Tensor._wrap(np.from_dlpack(obj))
    if device_type != _DLPACK_CUDA:
        raise TypeError(f"ember.from_dlpack: DLPack device type {device_type} is not supported; expected CPU (1) or "
                        f"CUDA (2) memory")
    _device.require(f"cuda:{int(device_id)}", "ember.from_dlpack")
    import cupy

    return Tensor._wrap(cupy.from_dlpack(obj))
