"""ember.cuda: is a GPU usable, and if not, exactly why; which GPUs there are; waiting for them.

ember computes on a GPU when three things hold: the extension ember._cuda was built (a CUDA compiler was found
when ember was installed), CuPy imports (it holds GPU tensors' memory), and the CUDA driver reports a device.
`why_unavailable()` names every one that fails, so "GPU not detected" is never a mystery:

    >>> import ember
    >>> ember.cuda.is_available() or print(ember.cuda.why_unavailable())
"""
import importlib
import os

from .. import determinism
from .prefetch import to_device_batches

__all__ = ["is_available", "why_unavailable", "device_count", "current_device", "get_device_name", "synchronize",
           "memory_allocated", "empty_cache", "info", "to_device_batches"]

_INSTALL_CUPY = "pip install 'ember[cuda]' (CuPy for CUDA 13: cupy-cuda13x)"

# ember's CUDA kernels reduce in a fixed order (no atomics); CuPy's scatter-add, which gives fancy indexing its
# gradient (getitem, Embedding), adds with atomics in arrival order
determinism.register_nondeterministic("getitem", "cuda", "the gradient of indexing with integer arrays adds repeated "
                                      "indices with CuPy's atomic scatter-add, in arrival order")


_REBUILD = "reinstall with nvcc on PATH: pip install . -Ccmake.define.EMBER_CUDA=ON"


def _build_info():
    """What CMake recorded when ember was built (ember/_build_info.py), or None for a build that predates it."""
    try:
        return importlib.import_module("ember._build_info")
    except ImportError:
        return None


def _not_built():
    """Why the extension is absent, from the build's own record where there is one."""
    info = _build_info()
    if info is None:
        return ("ember was built without CUDA: the extension ember._cuda is missing (no CUDA compiler was found "
                f"when ember was installed, or EMBER_CUDA=OFF); {_REBUILD}")
    if getattr(info, "CUDA_BUILT", False):
        return (f"the extension ember._cuda is missing from this install, although it was built (with "
                f"{getattr(info, 'CUDA_COMPILER', '?')}): reinstall ember")
    because = getattr(info, "CUDA_SKIPPED_BECAUSE", "") or "not built"
    return f"ember was built without CUDA: the extension ember._cuda is missing ({because}); {_REBUILD}"


def _extension():
    """(ember._cuda, None), or (None, why it cannot be imported)."""
    try:
        return importlib.import_module("ember._cuda"), None
    except ModuleNotFoundError as error:
        if error.name not in ("ember._cuda", None) and "ember._cuda" not in str(error):
            return None, f"the extension ember._cuda failed to import: {error}"
        return None, _not_built()
    except ImportError as error:  # built, but a library it links is missing or does not match
        return None, f"the extension ember._cuda failed to load: {error}"


def _cupy():
    """(cupy, None), or (None, why it cannot be imported)."""
    try:
        return importlib.import_module("cupy"), None
    except ModuleNotFoundError as error:
        if error.name in ("cupy", None):
            return None, f"CuPy is not installed (ember keeps GPU tensors in CuPy arrays): {_INSTALL_CUPY}"
        return None, f"CuPy failed to import: {error}"
    except ImportError as error:  # installed, but its CUDA libraries do not load
        return None, f"CuPy failed to import: {error}"
    except Exception as error:  # anything else CuPy's import may raise
        return None, f"CuPy failed to import: {type(error).__name__}: {error}"


def _visible_devices_note():
    value = os.environ.get("CUDA_VISIBLE_DEVICES")
    if value is None:
        return ""
    return f" (CUDA_VISIBLE_DEVICES={value!r} limits the GPUs this process may see)"


def _cupy_device_count(cupy):
    """(CuPy's device count, None) or (0, the driver's error as CuPy reports it)."""
    try:
        return int(cupy.cuda.runtime.getDeviceCount()), None
    except Exception as error:  # CUDARuntimeError: cudaErrorInsufficientDriver, cudaErrorNoDevice...
        return 0, str(error) or type(error).__name__


def why_unavailable():
    """None when ember can compute on a GPU; otherwise every reason it cannot, in one sentence."""
    extension, extension_error = _extension()
    cupy, cupy_error = _cupy()
    reasons = [why for why in (extension_error, cupy_error) if why]
    if reasons:
        return "; ".join(reasons)
    if extension.device_count() == 0:
        why = extension.driver_error() or "no CUDA-capable device was found"
        _, cupy_view = _cupy_device_count(cupy)
        detail = f" (CuPy: {cupy_view})" if cupy_view and cupy_view != why else ""
        return f"no GPU: {why}{detail}{_visible_devices_note()}"
    count, cupy_view = _cupy_device_count(cupy)
    if count == 0:  # ember's kernels see a GPU but CuPy cannot use it: e.g. a CuPy wheel for another CUDA major
        return (f"CuPy cannot use the GPU that ember._cuda sees: {cupy_view or 'CuPy reports no device'} "
                f"(is the CuPy wheel for the installed CUDA driver? {_INSTALL_CUPY})")
    return None


def is_available():
    """Whether ember can compute on a GPU now (the extension, CuPy and a device are all there)."""
    return why_unavailable() is None


def device_count():
    """How many GPUs ember can use: 0 whenever `is_available()` is False."""
    if why_unavailable() is not None:
        return 0
    return int(_extension()[0].device_count())


def _require(what):
    reason = why_unavailable()
    if reason is not None:
        raise RuntimeError(f"ember.cuda.{what}: CUDA is not available: {reason}")
    return _cupy()[0]


def _index(device):
    """A GPU index from None (the current one), an int, or "cuda[:i]"."""
    if device is None:
        return current_device()
    if isinstance(device, int):
        return device
    from .. import device as _device

    name = _device.parse(device)
    if name == "cpu":
        raise ValueError(f"Invalid device {device!r}. Expected a GPU: an index, 'cuda' or 'cuda:<index>'.")
    return _device.index_of(name)


def current_device():
    """The index of the GPU that CuPy allocates on (and ember's kernels run on) in this thread."""
    return int(_require("current_device").cuda.runtime.getDevice())


def get_device_name(device=None):
    """The GPU's name, e.g. "NVIDIA H100 80GB HBM3"."""
    cupy = _require("get_device_name")
    name = cupy.cuda.runtime.getDeviceProperties(_index(device))["name"]
    return name.decode() if isinstance(name, bytes) else str(name)


def synchronize(device=None):
    """Wait until every kernel and copy queued on the GPU (all its streams) has finished."""
    cupy = _require("synchronize")
    with cupy.cuda.Device(_index(device)):
        cupy.cuda.Device().synchronize()


def memory_allocated():
    """Bytes of GPU memory CuPy's pool holds for live arrays (the tensors, gradients and optimizer state)."""
    return int(_require("memory_allocated").get_default_memory_pool().used_bytes())


def empty_cache():
    """Give the GPU memory that CuPy's pool keeps for reuse back to the driver (live arrays stay)."""
    _require("empty_cache").get_default_memory_pool().free_all_blocks()


def info():
    """What ember knows about CUDA here, as a dict: availability and why not, the kernels' CUDA runtime and
    architectures, CuPy's version, the GPUs' names. For bug reports."""
    extension, extension_error = _extension()
    cupy, cupy_error = _cupy()
    out = {"available": False, "why_unavailable": why_unavailable(), "extension": extension_error or "ember._cuda",
           "cupy": cupy_error or getattr(cupy, "__version__", "?"), "devices": []}
    if extension is not None:
        out["runtime_version"] = int(extension.runtime_version())
        out["compiled_architectures"] = list(extension.compiled_architectures())
    out["available"] = out["why_unavailable"] is None
    if out["available"]:
        out["devices"] = [get_device_name(i) for i in range(device_count())]
    return out
