"""Where a tensor's storage lives. CPU storage is a NumPy array; GPU storage a CuPy array (CuPy owns device memory,
streams and the memory pool; ember owns the kernels).

The default device (`ember.set_device`) is where new tensors (`ember.tensor`, `zeros`, `randn`...) and new layer
weights go when no device is named. It is process-wide, as `ember.set_backend`.
"""
import numpy as np

_default = "cpu"


def parse(device):
    """Normalize "cpu", "cuda", "cuda:0" (any case, or a Device-like object whose str() is one) to a canonical name:
    "cpu" or "cuda:<index>"."""
    name = str(device).strip().lower()
    if name == "cpu":
        return "cpu"
    if name == "cuda":
        return "cuda:0"
    if name.startswith("cuda:") and name[5:].isdigit():
        return f"cuda:{int(name[5:])}"
    raise ValueError(f"Invalid device {device!r}. Expected 'cpu' or 'cuda[:index]' (e.g. 'cuda:0').")


def index_of(device):
    """The GPU index of a canonical "cuda:<index>" name."""
    return int(device.split(":")[1])


def is_host(array):
    return isinstance(array, (np.ndarray, np.generic))


def of_array(array):
    """The device an array lives on."""
    return "cpu" if is_host(array) else f"cuda:{array.device.id}"


def array_module(array):
    """NumPy for CPU arrays, CuPy for GPU arrays: the `xp` that elementwise math runs on."""
    if is_host(array):
        return np
    import cupy

    return cupy


def require(device, what):
    """Raise RuntimeError naming `what` and why, unless ember can compute on `device` (a canonical name)."""
    if device == "cpu":
        return
    from . import cuda

    reason = cuda.why_unavailable()
    if reason is not None:
        raise RuntimeError(f"{what}: cannot use {device}: CUDA is not available: {reason}")
    count = cuda.device_count()
    if index_of(device) >= count:
        raise RuntimeError(f"{what}: cannot use {device}: this machine has {count} CUDA device(s) "
                           f"(indices 0 to {count - 1})")


def move(array, device):
    """`array` on `device` (the same array when it is there already; else a copy)."""
    target = parse(device)
    source = of_array(array)
    if target == source:
        return array
    if target == "cpu":
        return array.get()
    require(target, f"moving a tensor of shape {tuple(array.shape)} from {source} to {target}")
    import cupy

    with cupy.cuda.Device(index_of(target)):
        if is_host(array):
            return cupy.asarray(array)
        source_array = cupy.ascontiguousarray(array)  # another GPU's memory: a peer copy into this one's
        out = cupy.empty(source_array.shape, source_array.dtype)
        out.data.copy_from_device(source_array.data, source_array.nbytes)
        return out


def set_device(device):
    """Make `device` ("cpu", "cuda", "cuda:1") the default for new tensors and new layer weights, in every thread.
    A GPU that ember cannot use raises RuntimeError saying why (see `ember.cuda.why_unavailable()`)."""
    global _default
    name = parse(device)
    require(name, "ember.set_device")
    if name != "cpu":
        import cupy

        cupy.cuda.Device(index_of(name)).use()  # CuPy allocates (and ember's kernels run) on the current device
    _default = name


def get_device():
    """The default device: where `ember.tensor(...)` and new layer weights go ("cpu" unless `set_device` said)."""
    return _default


def resolve(device):
    """A constructor's `device=` argument as a canonical name: the default device when None."""
    return _default if device is None else parse(device)
