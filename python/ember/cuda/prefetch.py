"""Batches to the GPU one at a time, the next one's copy overlapping the current one's compute.

Each host array is copied into page-locked (pinned) memory, then to the device on a side stream, so the copy runs
while the kernels of the previous batch do; the compute stream waits on the copy's event before it uses the
batch. Only two batches are on the device at once: the one in use and the one arriving.
"""
import numpy as np

from .. import device as _device
from ..tensor import Tensor


class _Staged:
    """One batch on its way: its device tensors (same nesting as the batch), the copy's event, and the pinned
    buffers, kept alive until the copy has read them."""

    def __init__(self, tensors, event, pinned):
        self.tensors, self.event, self.pinned = tensors, event, pinned


def _host_array(value, dtype):
    array = value.numpy() if isinstance(value, Tensor) else np.asarray(value)
    if dtype is not None and array.dtype.kind == "f" and array.dtype != dtype:
        array = array.astype(dtype)  # cast on the host: float64 data then crosses the bus at half the size
    return np.ascontiguousarray(array)


def _stage(value, cupy, cupyx, copy_stream, device, dtype, pinned):
    """Queue the copy of `value` (an array, a Tensor, None, or a list/tuple of them) onto the copy stream."""
    if value is None:
        return None
    if isinstance(value, (list, tuple)):
        return type(value)(_stage(v, cupy, cupyx, copy_stream, device, dtype, pinned) for v in value)
    data = value._data if isinstance(value, Tensor) else value
    if hasattr(data, "__cuda_array_interface__"):  # on a GPU already (e.g. slices of a dataset kept there)
        data = _device.move(data, device)
        if dtype is not None and data.dtype.kind == "f" and data.dtype != dtype:
            data = data.astype(dtype)
        return value if data is getattr(value, "_data", None) else Tensor._wrap(data)
    host = _host_array(value, dtype)
    buffer = cupyx.empty_pinned(host.shape, host.dtype)
    buffer[...] = host
    pinned.append(buffer)
    # allocated from the compute stream's pool, so the memory is not handed to another stream's allocation while
    # this one's kernels may still use it; the copy waits for the compute stream's earlier work on that memory
    out = cupy.empty(host.shape, host.dtype)
    copy_stream.wait_event(cupy.cuda.get_current_stream().record())
    out.set(buffer, stream=copy_stream)
    return Tensor._wrap(out)


def to_device_batches(batches, device="cuda", dtype=None):
    """Yield every batch of `batches` (arrays, Tensors, None, or lists/tuples of them; e.g. (x, y) pairs) as
    Tensors on `device`, copying batch k + 1 while batch k is in use. Floating arrays become `dtype` when given."""
    device = _device.parse(device)
    _device.require(device, "ember.cuda.to_device_batches")
    import cupy
    import cupyx

    dtype = None if dtype is None else np.dtype(dtype)
    with cupy.cuda.Device(_device.index_of(device)):
        copy_stream = cupy.cuda.Stream(non_blocking=True)
        pending = None
        for batch in batches:
            pinned = []
            tensors = _stage(batch, cupy, cupyx, copy_stream, device, dtype, pinned)
            staged = _Staged(tensors, copy_stream.record(), pinned)
            if pending is not None:
                yield _ready(pending, cupy)
            pending = staged
        if pending is not None:
            yield _ready(pending, cupy)


def _ready(staged, cupy):
    cupy.cuda.get_current_stream().wait_event(staged.event)
    tensors = staged.tensors
    staged.event.synchronize()  # the pinned buffers may go once the copy has read them
    staged.pinned.clear()
    return tensors
