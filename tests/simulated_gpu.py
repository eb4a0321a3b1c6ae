"""A simulated GPU, so that ember's GPU code paths run and are checked on a machine without one.

Two stand-ins, installed into sys.modules by `install(monkeypatch)`:
- `cupy` (and `cupyx`): arrays that hold NumPy memory but behave as CuPy's where it matters to ember. Like CuPy
  they refuse to become NumPy arrays implicitly (`np.asarray(a)` raises TypeError), refuse host arrays as operands
  of ufuncs and functions (TypeError "Unsupported type"), return 0-d arrays from reductions and scalar indexing,
  answer NumPy functions through `__array_function__`, and carry a device id and `__cuda_array_interface__`.
  `cupy.empty` fills floats with NaN, so a kernel output left unwritten shows. Transfers are counted
  (`TRANSFERS`), so tests can bound the copies between host and device.
- `ember._cuda`: the contract's extension (notes/cuda_contract.md) over `ember._cuda.emulator` where ember._cuda
  was built (the CUDA kernels' own bodies, index math and cell code, run by a host loop over NumPy arrays, with the
  bindings' checks), else over ember._C's CPU kernels (same names and arguments). It refuses host arrays (TypeError
  naming the op) and arrays on another device, and requires `stream=`.

What this proves: the device plumbing, the CUDA backend's shaping and calls, that every op, layer, loss, metric and
optimizer computes on device arrays without NumPy calls that would fail or copy on CuPy and, over the emulator, that
the CUDA kernels' math is right inside whole models. What it cannot: the kernels' shared-memory tiling and grid
mappings, CuPy's own numerics, streams and real memory (tests on a GPU do that).
"""
import contextlib
import itertools
import math
import sys
import types

import numpy as np
import pytest

TRANSFERS = {"to_host": 0, "to_device": 0, "scalars": 0}
_state = {"device": 0, "count": 1, "stream": None}
_HOST_INPUT_OK = frozenset({"array", "asarray", "asanyarray"})  # CuPy's ascontiguousarray takes device arrays only
_HOST_INDICES_OK = frozenset({"split", "array_split"})  # CuPy iterates over the split points: any sequence does


def _reject_host(name, value):
    if isinstance(value, np.ndarray):
        raise TypeError(f"Unsupported type {type(value)} (simulated CuPy: {name} got a host array)")
    if isinstance(value, (list, tuple)):
        for item in value:
            _reject_host(name, item)


def _unwrap(value):
    if isinstance(value, DeviceArray):
        return value._a
    if isinstance(value, list):
        return [_unwrap(v) for v in value]
    if isinstance(value, tuple):
        return tuple(_unwrap(v) for v in value)
    if isinstance(value, dict):
        return {k: _unwrap(v) for k, v in value.items()}
    return value


def _wrap(value):
    if isinstance(value, np.ndarray):
        return DeviceArray(value)
    if isinstance(value, np.generic):  # CuPy's reductions and scalar indexing give 0-d arrays, not scalars
        return DeviceArray(np.asarray(value))
    if isinstance(value, list):
        return [_wrap(v) for v in value]
    if isinstance(value, tuple):
        return tuple(_wrap(v) for v in value)
    return value


def _call(name, fn, args, kwargs):
    """`fn` (a NumPy function) as CuPy's `name`: host arrays refused, device arrays unwrapped, results wrapped."""
    if name in _HOST_INPUT_OK:
        if args and isinstance(args[0], np.ndarray):
            TRANSFERS["to_device"] += 1
            args = (np.array(args[0], copy=True),) + tuple(args[1:])
    elif name in _HOST_INDICES_OK:
        _reject_host(name, args[:1])
    else:
        _reject_host(name, args)
        _reject_host(name, tuple(kwargs.values()))
    out = kwargs.get("out")
    result = fn(*_unwrap(args), **_unwrap(kwargs))
    if out is not None and isinstance(out, DeviceArray):
        return out
    return _wrap(result)


class _Flags:
    def __init__(self, a):
        self.c_contiguous = a.flags.c_contiguous
        self.f_contiguous = a.flags.f_contiguous
        self.owndata = a.flags.owndata  # CuPy's flags have no `writeable`: device memory is never read-only


class _Memory:
    def __init__(self, array):
        self._array = array
        self.ptr = array._a.__array_interface__["data"][0]
        self.device_id = array._device_id

    def copy_from_device(self, source, nbytes):
        destination = self._array._a.reshape(-1).view(np.uint8)
        destination[:nbytes] = source._array._a.reshape(-1).view(np.uint8)[:nbytes]


class DeviceArray:
    """The simulated cupy.ndarray."""

    __slots__ = ("_a", "_device_id", "__weakref__")
    __array_priority__ = 100

    def __init__(self, array, device_id=None):
        self._a = array
        self._device_id = _state["device"] if device_id is None else device_id

    # -- attributes ----------------------------------------------------------------------------------------------
    shape = property(lambda self: self._a.shape)
    dtype = property(lambda self: self._a.dtype)
    ndim = property(lambda self: self._a.ndim)
    size = property(lambda self: self._a.size)
    strides = property(lambda self: self._a.strides)
    itemsize = property(lambda self: self._a.itemsize)
    nbytes = property(lambda self: self._a.nbytes)
    flags = property(lambda self: _Flags(self._a))
    data = property(lambda self: _Memory(self))
    device = property(lambda self: Device(self._device_id))
    T = property(lambda self: DeviceArray(self._a.T, self._device_id))

    @property
    def __cuda_array_interface__(self):
        a = self._a
        return {"shape": a.shape, "typestr": a.dtype.str, "descr": a.dtype.descr, "version": 3,
                "data": (a.__array_interface__["data"][0], False),
                "strides": None if a.flags.c_contiguous else a.strides, "stream": 1}

    def __dlpack_device__(self):
        return (2, self._device_id)

    # -- conversion ----------------------------------------------------------------------------------------------
    def __array__(self, dtype=None, copy=None):
        raise TypeError("Implicit conversion to a NumPy array is not allowed. Please use `.get()` to construct a "
                        "NumPy array explicitly. (simulated CuPy)")

    def get(self, stream=None, out=None):
        TRANSFERS["to_host"] += 1
        return np.array(self._a, copy=True)

    def set(self, array, stream=None):
        if not isinstance(array, np.ndarray):
            raise TypeError("Only numpy.ndarray can be set to cupy.ndarray")
        if array.dtype != self.dtype or array.shape != self.shape:
            raise ValueError(f"set: {array.dtype}{array.shape} into {self.dtype}{self.shape}")
        TRANSFERS["to_device"] += 1
        self._a[...] = array

    def item(self):
        TRANSFERS["scalars"] += 1
        return self._a.item()

    def tolist(self):
        TRANSFERS["to_host"] += 1
        return self._a.tolist()

    def __float__(self):
        return float(self.item())

    def __int__(self):
        return int(self.item())

    def __bool__(self):
        return bool(self.item())

    def __len__(self):
        return len(self._a)

    def __iter__(self):
        return (DeviceArray(row, self._device_id) for row in self._a)

    def __repr__(self):
        return f"array({self._a!r}, device=simulated cuda:{self._device_id})"

    # -- indexing ------------------------------------------------------------------------------------------------
    def __getitem__(self, index):
        return _wrap(self._a[_unwrap(index)])

    def __setitem__(self, index, value):
        if isinstance(value, np.ndarray) and value.ndim:
            raise TypeError("Unsupported type <class 'numpy.ndarray'> (simulated CuPy refuses assignment from host "
                            "arrays, see cupy gh-2079)")
        self._a[_unwrap(index)] = _unwrap(value)

    # -- methods: NumPy's, on the device ----------------------------------------------------------------------
    def __getattr__(self, name):
        if name.startswith("__") or name in ("_a", "_device_id"):  # no NumPy protocols (__dlpack__...) leak out
            raise AttributeError(name)
        method = getattr(self._a, name)
        if not callable(method):
            return method

        def call(*args, **kwargs):
            return _call(f"ndarray.{name}", method, args, kwargs)

        return call

    def copy(self, order="C"):
        return DeviceArray(self._a.copy(order=order), self._device_id)

    # -- NumPy protocols: as CuPy's ----------------------------------------------------------------------------
    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        if ufunc.__name__ in ("greater", "greater_equal", "less", "less_equal", "equal", "not_equal"):
            inputs = tuple(x.item() if isinstance(x, np.ndarray) and x.ndim == 0 else x for x in inputs)
        return _call(ufunc.__name__, getattr(ufunc, method) if method != "__call__" else ufunc, inputs, kwargs)

    def __array_function__(self, func, types_, args, kwargs):
        return _call(func.__name__, func, args, kwargs)

    # -- operators -------------------------------------------------------------------------------------------
    def _binary(ufunc, reflected=False):
        def op(self, other):
            return self.__array_ufunc__(ufunc, "__call__", *((other, self) if reflected else (self, other)))

        return op

    def _inplace(ufunc):
        def op(self, other):
            _reject_host(ufunc.__name__, other)
            ufunc(self._a, _unwrap(other), out=self._a)
            return self

        return op

    __add__, __radd__, __iadd__ = _binary(np.add), _binary(np.add, True), _inplace(np.add)
    __sub__, __rsub__, __isub__ = _binary(np.subtract), _binary(np.subtract, True), _inplace(np.subtract)
    __mul__, __rmul__, __imul__ = _binary(np.multiply), _binary(np.multiply, True), _inplace(np.multiply)
    __truediv__, __rtruediv__ = _binary(np.true_divide), _binary(np.true_divide, True)
    __itruediv__ = _inplace(np.true_divide)
    __floordiv__, __rfloordiv__ = _binary(np.floor_divide), _binary(np.floor_divide, True)
    __mod__, __rmod__ = _binary(np.mod), _binary(np.mod, True)
    __pow__, __rpow__ = _binary(np.power), _binary(np.power, True)
    __matmul__, __rmatmul__ = _binary(np.matmul), _binary(np.matmul, True)
    __and__, __rand__ = _binary(np.bitwise_and), _binary(np.bitwise_and, True)
    __or__, __ror__ = _binary(np.bitwise_or), _binary(np.bitwise_or, True)
    __xor__ = _binary(np.bitwise_xor)
    __eq__, __ne__ = _binary(np.equal), _binary(np.not_equal)
    __lt__, __le__ = _binary(np.less), _binary(np.less_equal)
    __gt__, __ge__ = _binary(np.greater), _binary(np.greater_equal)
    __hash__ = None

    def __neg__(self):
        return self.__array_ufunc__(np.negative, "__call__", self)

    def __pos__(self):
        return self

    def __abs__(self):
        return self.__array_ufunc__(np.absolute, "__call__", self)

    def __invert__(self):
        return self.__array_ufunc__(np.invert, "__call__", self)

    del _binary, _inplace


class _Ufunc:
    """cupy.add and friends: callable, with .at / .reduce."""

    def __init__(self, ufunc):
        self._ufunc = ufunc
        self.__name__ = ufunc.__name__

    def __call__(self, *args, **kwargs):
        return _call(self.__name__, self._ufunc, args, kwargs)

    def at(self, a, indices, b=None):
        _reject_host(f"{self.__name__}.at", (a, b))
        args = (_unwrap(indices),) if b is None else (_unwrap(indices), _unwrap(b))
        self._ufunc.at(a._a, *args)

    def __getattr__(self, name):
        method = getattr(self._ufunc, name)
        return lambda *args, **kwargs: _call(f"{self.__name__}.{name}", method, args, kwargs)


# -- cupy.cuda --------------------------------------------------------------------------------------------------
class Device:
    def __init__(self, device=None):
        self.id = _state["device"] if device is None else int(device)
        self._previous = []

    def use(self):
        _check_device(self.id)
        _state["device"] = self.id

    def synchronize(self):
        pass

    def __enter__(self):
        self._previous.append(_state["device"])
        self.use()
        return self

    def __exit__(self, *exc):
        _state["device"] = self._previous.pop()

    def __eq__(self, other):
        return isinstance(other, Device) and other.id == self.id

    def __hash__(self):
        return hash(self.id)


def _check_device(index):
    if not 0 <= index < _state["count"]:
        raise _runtime.CUDARuntimeError(f"cudaErrorInvalidDevice: invalid device ordinal {index} (simulated)")


class Event:
    def __init__(self, block=False, disable_timing=False, interprocess=False):
        self.done = True

    def record(self, stream=None):
        pass

    def synchronize(self):
        pass


_stream_ids = itertools.count(0x1000)


class Stream:
    def __init__(self, null=False, non_blocking=False, ptds=False):
        self.ptr = 0 if null else next(_stream_ids)
        self._previous = []

    def record(self, event=None):
        event = event or Event()
        event.record(self)
        return event

    def wait_event(self, event):
        pass

    def synchronize(self):
        pass

    def use(self):
        _state["stream"] = self
        return self

    def __enter__(self):
        self._previous.append(_state["stream"])
        _state["stream"] = self
        return self

    def __exit__(self, *exc):
        _state["stream"] = self._previous.pop()


_null_stream = Stream(null=True)


def get_current_stream(device=None):
    return _state["stream"] or _null_stream


class _CUDARuntimeError(RuntimeError):
    pass


_runtime = types.SimpleNamespace(
    CUDARuntimeError=_CUDARuntimeError,
    getDeviceCount=lambda: _state["count"],
    getDevice=lambda: _state["device"],
    getDeviceProperties=lambda i: {"name": f"Simulated GPU {i}".encode(), "major": 9, "minor": 0},
    deviceSynchronize=lambda: None,
    runtimeGetVersion=lambda: 13000,
)


class _MemoryPool:
    def used_bytes(self):
        return 0

    def free_all_blocks(self):
        pass


_pool = _MemoryPool()


def _empty(shape, dtype=float, order="C"):
    array = np.empty(shape, dtype, order=order)
    if array.dtype.kind == "f":
        array.fill(np.nan)  # what a kernel does not write shows up
    return DeviceArray(array)


def _empty_like(a, dtype=None, order="K", shape=None):
    return _empty(a.shape if shape is None else shape, a.dtype if dtype is None else dtype)


def _make_cupy():
    cupy = types.ModuleType("cupy")
    cupy.__version__ = "simulated"
    cupy.ndarray = DeviceArray
    cupy.cuda = types.SimpleNamespace(Device=Device, Stream=Stream, Event=Event, runtime=_runtime,
                                      get_current_stream=get_current_stream,
                                      CUDARuntimeError=_CUDARuntimeError)
    cupy.get_default_memory_pool = lambda: _pool
    cupy.empty = _empty
    cupy.empty_like = _empty_like
    cupy.asnumpy = lambda a, stream=None: a.get() if isinstance(a, DeviceArray) else np.asarray(a)
    cupy.get_array_module = lambda *args: cupy if any(isinstance(a, DeviceArray) for a in args) else np

    def from_dlpack(obj):
        raise TypeError("simulated CuPy has no DLPack (a real GPU test covers it)")

    cupy.from_dlpack = from_dlpack

    def module_getattr(name):
        attr = getattr(np, name)
        if isinstance(attr, np.ufunc):
            return _Ufunc(attr)
        if isinstance(attr, type) or not callable(attr):
            return attr
        return lambda *args, **kwargs: _call(name, attr, args, kwargs)

    cupy.__getattr__ = module_getattr
    return cupy


def _make_cupyx():
    cupyx = types.ModuleType("cupyx")
    scipy = types.ModuleType("cupyx.scipy")
    special = types.ModuleType("cupyx.scipy.special")
    erf = np.vectorize(math.erf, otypes=[float])
    special.erf = lambda x: DeviceArray(erf(x._a).astype(x.dtype))
    scipy.special = special
    cupyx.scipy = scipy
    cupyx.empty_pinned = lambda shape, dtype=float: np.empty(shape, dtype)
    return cupyx, scipy, special


# -- ember._cuda ------------------------------------------------------------------------------------------------
_KERNELS = ("gemm", "conv2d_forward", "conv2d_backward_input", "conv2d_backward_weight", "max_pool2d_forward",
            "max_pool2d_backward", "avg_pool2d_forward", "avg_pool2d_backward", "activation_forward",
            "activation_backward", "softmax_forward", "softmax_backward", "log_softmax_forward",
            "log_softmax_backward", "simple_rnn_forward", "simple_rnn_backward", "lstm_forward", "lstm_backward",
            "gru_forward", "gru_backward")
LAUNCHES = []  # (kernel name, stream) of every launch since install()


def _device_operand(op, value):
    if isinstance(value, np.ndarray):
        raise TypeError(f"{op}: expected CUDA device arrays (CuPy), got a host numpy.ndarray of shape {value.shape}")
    if isinstance(value, DeviceArray):  # layouts (contiguity, strides) are the kernels' bindings' to check
        if value._device_id != _state["device"]:
            raise ValueError(f"{op}: an array lives on cuda:{value._device_id}, the current device is "
                             f"cuda:{_state['device']}")
        return value._a
    return value


def kernels_module():
    """What the simulated extension computes with: ember._cuda.emulator (the CUDA kernels' bodies on the CPU) where
    ember._cuda was built, else ember._C."""
    try:
        from ember._cuda import emulator
    except ImportError:
        from ember import _C

        return _C
    return emulator


def _kernel(name, module):
    native = getattr(module, name)
    takes_stream = module.__name__.endswith("emulator")

    def launch(*args, stream=None):
        if not isinstance(stream, int):
            raise TypeError(f"{name}: the simulated extension requires stream=<int> (cupy's current stream), "
                            f"got {stream!r}")
        LAUNCHES.append((name, stream))
        operands = [_device_operand(name, a) for a in args]
        native(*operands, stream=stream) if takes_stream else native(*operands)

    launch.__name__ = name
    return launch


def _batch_norm_statistics(x, mean, var, *, stream=None):  # for builds without ember._cuda
    data = _device_operand("batch_norm_statistics", x)
    _device_operand("batch_norm_statistics", mean)[...] = data.mean(axis=0)
    _device_operand("batch_norm_statistics", var)[...] = data.var(axis=0)
    LAUNCHES.append(("batch_norm_statistics", stream))


def _dropout_mask(out, rate, seed, offset, *, stream=None):  # for builds without ember._cuda
    target = _device_operand("dropout_mask", out)
    generator = np.random.Generator(np.random.Philox(key=seed))
    generator.bit_generator.advance(offset)
    keep = generator.random(target.shape) >= rate
    target[...] = keep / (1.0 - rate) if rate < 1 else 0.0
    LAUNCHES.append(("dropout_mask", stream))


def _make_extension():
    ext = types.ModuleType("ember._cuda")

    class CudaError(RuntimeError):
        pass

    class CudaOutOfMemoryError(CudaError, MemoryError):
        pass

    ext.CudaError, ext.CudaOutOfMemoryError = CudaError, CudaOutOfMemoryError
    ext.device_count = lambda: _state["count"]
    ext.driver_error = lambda: ""
    ext.runtime_version = lambda: 13000
    ext.compiled_architectures = lambda: ["sm_80", "sm_90", "compute_90"]
    ext.synchronize = lambda: None
    module = kernels_module()
    for name in _KERNELS:
        setattr(ext, name, _kernel(name, module))
    ext.batch_norm_statistics = _batch_norm_statistics
    ext.dropout_mask = _dropout_mask
    if hasattr(module, "dropout_mask"):  # the emulator: the real Philox mask and Welford statistics
        ext.batch_norm_statistics = _kernel("batch_norm_statistics", module)
        ext.dropout_mask = _kernel("dropout_mask", module)
    return ext


def install(monkeypatch, device_count=1):
    """Put the simulated CuPy and ember._cuda in place for one test (monkeypatch undoes it) and forget any CUDA
    backend module imported against the real ones."""
    import ember
    import ember.backend as backend

    _state.update(device=0, count=device_count, stream=None)
    for key in TRANSFERS:
        TRANSFERS[key] = 0
    LAUNCHES.clear()
    cupyx, scipy, special = _make_cupyx()
    extension = _make_extension()
    for name, module in (("cupy", _make_cupy()), ("cupyx", cupyx), ("cupyx.scipy", scipy),
                         ("cupyx.scipy.special", special), ("ember._cuda", extension)):
        monkeypatch.setitem(sys.modules, name, module)
    monkeypatch.setattr(ember, "_cuda", extension, raising=False)
    monkeypatch.delitem(sys.modules, "ember.backend.cuda", raising=False)
    monkeypatch.setattr(backend, "_loaded", {k: v for k, v in backend._loaded.items() if k != "cuda"})
    monkeypatch.setattr(ember.device, "_default", "cpu")
    return extension


def uninstall_leftovers():
    """At the end of a test that installed the stand-ins (before monkeypatch undoes the rest): the CUDA backend
    module imported against them goes, from sys.modules and from its package, so that a later test on a real GPU
    imports it afresh (monkeypatch only puts back what was there before, it removes nothing it did not set)."""
    import ember.backend as backend

    module = sys.modules.get("ember.backend.cuda")
    if module is not None and getattr(getattr(module, "cupy", None), "__version__", "") == "simulated":
        del sys.modules["ember.backend.cuda"]
        if getattr(backend, "cuda", None) is module:
            delattr(backend, "cuda")


@contextlib.contextmanager
def transfers_counted():
    """TRANSFERS as they change inside the block (a dict of differences, filled on exit)."""
    before = dict(TRANSFERS)
    delta = {}
    yield delta
    delta.update({k: TRANSFERS[k] - before[k] for k in TRANSFERS})


# -- pytest fixtures (imported by the test modules) -------------------------------------------------------------
def _gpu_reason():
    import ember

    return ember.cuda.why_unavailable()


REAL_GPU_REASON = _gpu_reason()


@pytest.fixture(params=[pytest.param("cuda", id="cuda", marks=pytest.mark.skipif(
    REAL_GPU_REASON is not None, reason=f"needs a GPU: {REAL_GPU_REASON}")), pytest.param("simulated", id="simulated")])
def gpu(request, monkeypatch):
    """Which GPU the test runs on: "cuda" (a real one; skipped with the reason where there is none) or "simulated"."""
    import ember

    if request.param == "simulated":
        install(monkeypatch)
    else:
        monkeypatch.setattr(ember.device, "_default", "cpu")
    yield request.param
    uninstall_leftovers()


@pytest.fixture
def real_gpu():
    if REAL_GPU_REASON is not None:
        pytest.skip(f"needs a GPU: {REAL_GPU_REASON}")


@pytest.fixture
def simulated(monkeypatch):
    install(monkeypatch)
    yield
    uninstall_leftovers()
