"""Bad inputs shared by the op table: every op gets one of each kind (rank, shape, dtype, device).

ember's CPU storage is a NumPy array; a tensor on another device holds an array that exposes
`__cuda_array_interface__` (a CuPy array). `ForeignDeviceArray` claims such a device without holding memory,
so the device checks are tested on a machine with no GPU and no CuPy: an op must refuse it, naming the op, the
devices and the shapes, before it touches the data.
"""
import types
from dataclasses import dataclass

import numpy as np

KINDS = ("rank", "shape", "dtype", "device")  # every op has an error case of each; "argument" for the others


@dataclass
class ErrorCase:
    args: tuple     # float arrays become float32 tensors, other arrays and ForeignDeviceArrays tensors too
    kwargs: dict    # passed as they are
    error: type
    match: str      # a regex the message must match: it names the op and the shapes
    kind: str = "argument"   # one of KINDS, or "argument" (a bad keyword: strides, axes, rate...)


class ForeignDeviceArray:
    """A stand-in for a CuPy array on cuda:`device_id`: shape, dtype, device and the CUDA array interface, no data.
    Like CuPy, it refuses to become a NumPy array implicitly."""

    def __init__(self, shape, dtype=np.float32, device_id=0):
        self.shape = tuple(int(n) for n in shape)
        self.dtype = np.dtype(dtype)
        self.ndim = len(self.shape)
        self.size = int(np.prod(self.shape, dtype=np.int64))
        self.device = types.SimpleNamespace(id=device_id)

    @property
    def __cuda_array_interface__(self):
        return {"shape": self.shape, "typestr": self.dtype.str, "data": (0, False), "version": 3}

    def __array__(self, dtype=None, copy=None):
        raise TypeError("Implicit conversion to a NumPy array is not allowed (a ForeignDeviceArray stands for "
                        "device memory)")

    def __repr__(self):
        return f"ForeignDeviceArray(shape={self.shape}, dtype={self.dtype}, device='cuda:{self.device.id}')"


def on_device(shape, dtype=np.float32):
    return ForeignDeviceArray(shape, dtype)


def esc(shape):
    """A shape as a regex: (2, 3) -> \\(2, 3\\)."""
    return str(tuple(shape)).replace("(", r"\(").replace(")", r"\)")


RAGGED_RANK = [[1.0, 2.0], 3.0]        # items of ranks 1 and 0: no single rank
RAGGED_SHAPE = [[1.0, 2.0], [3.0]]     # rows of lengths 2 and 1: no single shape
_RAGGED = r"{}: cannot make a tensor of a ragged nested sequence: x\[0\] has shape \(2,\) but x\[1\] has shape "


def ragged_errors(name, kwargs=None, before=(), after=()):
    """Rank and shape cases of an op that takes any shape: a nested list with no single rank, and one with no
    single shape. `before`/`after`: the op's other positional arguments."""
    kwargs = kwargs or {}
    return [ErrorCase((*before, RAGGED_RANK, *after), kwargs, ValueError, _RAGGED.format(name) + r"\(\)", "rank"),
            ErrorCase((*before, RAGGED_SHAPE, *after), kwargs, ValueError, _RAGGED.format(name) + r"\(1,\)", "shape")]


def unsupported_dtype(name, *shapes, kwargs=None, dtype=complex):
    """A complex (or other non-real) first input: ember computes on bool, int and float only."""
    args = (np.ones(shapes[0], dtype),) + tuple(np.ones(s) for s in shapes[1:])
    listed = " and ".join(esc(s) for s in shapes)
    return ErrorCase(args, kwargs or {}, TypeError,
                     rf"{name}: unsupported dtype {np.dtype(dtype)} \(shapes? {listed}\)", "dtype")


def not_float(name, *shapes, kwargs=None):
    """An int64 first input to an op that computes in float32/float64 only."""
    args = (np.arange(int(np.prod(shapes[0]))).reshape(shapes[0]),) + tuple(np.ones(s) for s in shapes[1:])
    listed = ", ".join(esc(s) for s in shapes)
    return ErrorCase(args, kwargs or {}, TypeError,
                     rf"{name}: expected float32 or float64 inputs, got int64 \(shapes {listed}\)", "dtype")


def on_other_device(name, shape, kwargs=None):
    """The only tensor lives on a device this process cannot compute on."""
    return ErrorCase((on_device(shape),), kwargs or {}, RuntimeError,
                     rf"{name}: the tensor of shape {esc(shape)} is on cuda:0, but ember cannot compute on cuda:0",
                     "device")


def mixed_devices(name, args, kwargs=None):
    """Tensors on two devices: arrays (cpu) and ForeignDeviceArrays (cuda:0) among `args` and `kwargs`; the message
    names both devices with the shape of the first tensor on each."""
    kwargs = kwargs or {}
    arrays = [a for a in (*args, *kwargs.values()) if isinstance(a, (np.ndarray, ForeignDeviceArray))]
    cpu = next(a.shape for a in arrays if isinstance(a, np.ndarray))
    cuda = next(a.shape for a in arrays if isinstance(a, ForeignDeviceArray))
    return ErrorCase(tuple(args), kwargs or {}, RuntimeError,
                     rf"{name}: expected all tensors on one device, got cpu \(shape {esc(cpu)}\) and cuda:0 "
                     rf"\(shape {esc(cuda)}\)", "device")


def single_input_errors(name, kwargs=None, float_only=False):
    """The four kinds for an op of one tensor that takes any shape (elementwise, activations)."""
    dtype = not_float(name, (2, 3), kwargs=kwargs) if float_only else unsupported_dtype(name, (2, 3), kwargs=kwargs)
    return ragged_errors(name, kwargs) + [dtype, on_other_device(name, (2, 3), kwargs)]


def binary_errors(name):
    """The four kinds for an elementwise op of two tensors with NumPy broadcasting."""
    return [
        ErrorCase((np.ones(4), np.ones((4, 3))), {}, ValueError,
                  rf"{name}: cannot broadcast shapes \(4,\) and \(4, 3\)", "rank"),
        ErrorCase((np.ones((2, 3)), np.ones(4)), {}, ValueError,
                  rf"{name}: cannot broadcast shapes \(2, 3\) and \(4,\)", "shape"),
        unsupported_dtype(name, (2, 3), (2, 3)),
        mixed_devices(name, (np.ones((2, 3)), on_device((2, 3)))),
    ]


def axis_out_of_range(name, shape=(2, 3), axis=2, key="axis", kwargs=None):
    return ErrorCase((np.ones(shape),), {key: axis, **(kwargs or {})}, ValueError,
                     rf"{name}: axis {axis} is out of range for a tensor of shape {esc(shape)}", "rank")
