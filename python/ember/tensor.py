"""ember.Tensor: an n-dimensional array (NumPy on the CPU) that records the ops made from it for autograd."""
import numpy as np

from . import autograd
from . import device as _device


def as_dtype(dtype):
    """A NumPy dtype from a dtype, its name ("float32") or a Python type; None stays None."""
    if dtype is None:
        return None
    try:
        return np.dtype(dtype)
    except TypeError:
        raise TypeError(f"Invalid dtype {dtype!r}. Expected a NumPy dtype or its name, e.g. 'float32'.") from None


def to_array(data, dtype=None, copy=False):
    """The array behind `data` (a Tensor, an array, a scalar or nested lists); floating data defaults to float32."""
    if isinstance(data, Tensor):
        data = data._data
    dtype = as_dtype(dtype)
    if hasattr(data, "__cuda_array_interface__"):
        xp = _device.array_module(data)
        array = xp.array(data, dtype=dtype, copy=True) if copy else xp.asarray(data, dtype=dtype)
    else:
        array = np.array(data, dtype=dtype) if copy else np.asarray(data, dtype=dtype)
    if dtype is None and array.dtype.kind == "f" and array.dtype != np.float32:
        array = array.astype(np.float32)
    if array.dtype.kind in "OUSc":
        raise TypeError(f"ember.tensor: unsupported data of dtype {array.dtype}. "
                        f"Expected numbers (float, int or bool).")
    return array


class Tensor:
    """An array plus its autograd record. Create with `ember.tensor(data, dtype=None, requires_grad=False)`."""

    __slots__ = ("_data", "_requires_grad", "_node", "_output_index", "grad", "name", "_keras_mask", "__weakref__")
    __array_ufunc__ = None  # NumPy defers `ndarray + Tensor` to Tensor.__radd__ instead of looping over it

    def __init__(self, data, dtype=None, requires_grad=False, name=None):
        self._data = to_array(data, dtype)
        self._node = None
        self._output_index = 0  # which output of its node (an op may make several)
        self.grad = None
        self.name = name
        self._keras_mask = None  # (batch, time) bool array a layer attached for the layers after it
        self._requires_grad = False
        self.requires_grad = requires_grad

    @classmethod
    def _wrap(cls, array):
        """A tensor over `array` without conversion or copy (the ops' fast path)."""
        t = object.__new__(cls)
        t._data = array
        t._requires_grad = False
        t._node = None
        t._output_index = 0
        t.grad = None
        t.name = None
        t._keras_mask = None
        return t

    # -- attributes ---------------------------------------------------------------------------------------------
    shape = property(lambda self: self._data.shape)  # a tuple already (NumPy's and CuPy's)
    ndim = property(lambda self: self._data.ndim)
    dtype = property(lambda self: self._data.dtype)
    size = property(lambda self: int(self._data.size))
    device = property(lambda self: _device.of_array(self._data))
    is_leaf = property(lambda self: self._node is None)
    _xp = property(lambda self: _device.array_module(self._data))

    @property
    def requires_grad(self):
        return self._requires_grad

    @requires_grad.setter
    def requires_grad(self, flag):
        flag = bool(flag)
        if flag and self._data.dtype.kind not in "f":
            raise TypeError(f"Only floating-point tensors can require gradients; this one is {self.dtype}.")
        if not flag and self._node is not None:
            raise RuntimeError("requires_grad can only be changed on leaf tensors; use .detach() instead.")
        self._requires_grad = flag

    def requires_grad_(self, flag=True):
        self.requires_grad = flag
        return self

    @property
    def data(self):
        """A tensor sharing this one's storage, outside the graph (for in-place weight updates)."""
        return Tensor._wrap(self._data)

    @data.setter
    def data(self, value):
        value = _device.move(to_array(value, dtype=self.dtype), self.device)  # the tensor stays where it is
        if value.shape != self._data.shape:
            raise ValueError(f"Tensor.data: new value has shape {value.shape}, expected {self.shape}")
        self._data = value

    def _accumulate_grad(self, g):
        if g.dtype != self._data.dtype:
            g = g.astype(self._data.dtype)
        if self.grad is None and type(g) is np.ndarray:  # every parameter of a step (a copy: g may be shared)
            self.grad = Tensor._wrap(g.copy())
            return
        xp = self._xp
        if self.grad is None:
            self.grad = Tensor._wrap(xp.array(g, copy=True))  # 0-d results come back as scalars: arrays again
            return
        held = self.grad._data
        if (type(held) is np.ndarray and type(g) is np.ndarray and held.shape == g.shape and held.dtype == g.dtype
                and held.ndim and held.flags.writeable and held.flags.c_contiguous):
            # in place, as torch accumulates: a new array each time was a fresh mapping of memory faulted in page by
            # page (relu fwd+bwd on 64x112x112x32 repeated: 18 of its 33 ms). GPU arrays come from CuPy's pool.
            np.add(held, g, out=held)
        else:
            self.grad._data = xp.asarray(held + g)

    # -- conversion ---------------------------------------------------------------------------------------------
    def numpy(self):
        """The NumPy array behind this tensor (a copy from the GPU)."""
        return _device.move(self._data, "cpu")

    def __array__(self, dtype=None, copy=None):
        array = self.numpy()
        return array if dtype is None else array.astype(dtype, copy=False)

    def __dlpack__(self, *args, **kwargs):
        """DLPack export (zero-copy): `torch.from_dlpack(t)`, `cupy.from_dlpack(t)`, `np.from_dlpack(t)` (CPU)."""
        return self._data.__dlpack__(*args, **kwargs)

    def __dlpack_device__(self):
        return self._data.__dlpack_device__()

    @property
    def __cuda_array_interface__(self):
        """The CUDA array interface of a GPU tensor's storage (zero-copy into CuPy, PyTorch, Numba...); a CPU tensor
        has none (AttributeError, so `hasattr` tells the two apart)."""
        if _device.is_host(self._data):
            raise AttributeError("a CPU tensor has no __cuda_array_interface__ (use __array_interface__ via "
                                 "np.asarray, or DLPack)")
        return self._data.__cuda_array_interface__

    def item(self):
        if self.size != 1:
            raise ValueError(f"item: only a one-element tensor converts to a Python scalar; shape is {self.shape}")
        return self._data.item()

    def tolist(self):
        return self.numpy().tolist()

    def __float__(self):
        return float(self.item())

    def __int__(self):
        return int(self.item())

    def __bool__(self):
        if self.size != 1:
            raise ValueError(f"The truth value of a tensor of shape {self.shape} is ambiguous; use .any() or .all().")
        return bool(self.item())

    def __len__(self):
        if self.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self._data.shape[0]

    def __iter__(self):
        return (self[i] for i in range(len(self)))

    def __repr__(self):
        body = np.array2string(self.numpy(), separator=", ", prefix="tensor(")
        extras = f", dtype={self.dtype}"
        if self.device != "cpu":
            extras += f", device='{self.device}'"
        if self.requires_grad:
            extras += ", requires_grad=True" if self.is_leaf else f", grad_fn=<{self._node.op}>"
        return f"tensor({body}{extras})"

    __hash__ = object.__hash__  # tensors are identities (dict keys, sets of parameters); == is elementwise

    # -- graph --------------------------------------------------------------------------------------------------
    def backward(self, gradient=None, retain_graph=False):
        """Accumulate the gradient of this tensor into `.grad` of every leaf it depends on."""
        autograd.backward(self, gradient, retain_graph)

    def detach(self):
        """The same values, cut from the graph (shares storage)."""
        return Tensor._wrap(self._data)

    def clone(self):
        return ops.copy(self)

    def to(self, device=None, dtype=None):
        """This tensor on `device` ("cpu", "cuda", "cuda:1") and/or as `dtype`; differentiable, and self when nothing
        changes. A GPU that ember cannot use raises RuntimeError saying why (`ember.cuda.why_unavailable()`)."""
        out = self
        if dtype is not None:
            out = ops.cast(out, dtype)
        if device is not None and _device.parse(device) != self.device:
            out = ops.to_device(out, device)
        return out

    def cpu(self):
        return self.to("cpu")

    def cuda(self, device=0):
        """This tensor on GPU `device` (an index or "cuda:<index>"; the first GPU by default)."""
        return self.to(f"cuda:{device}" if isinstance(device, int) else device)

    is_cuda = property(lambda self: not _device.is_host(self._data))

    def astype(self, dtype):
        return ops.cast(self, dtype)

    def float(self):
        return ops.cast(self, np.float32)

    def double(self):
        return ops.cast(self, np.float64)

    # -- operators ------------------------------------------------------------------------------------------
    def __add__(self, other): return ops.add(self, other)
    def __radd__(self, other): return ops.add(other, self)
    def __sub__(self, other): return ops.subtract(self, other)
    def __rsub__(self, other): return ops.subtract(other, self)
    def __mul__(self, other): return ops.multiply(self, other)
    def __rmul__(self, other): return ops.multiply(other, self)
    def __truediv__(self, other): return ops.divide(self, other)
    def __rtruediv__(self, other): return ops.divide(other, self)
    def __pow__(self, other): return ops.power(self, other)
    def __rpow__(self, other): return ops.power(other, self)
    def __matmul__(self, other): return ops.matmul(self, other)
    def __rmatmul__(self, other): return ops.matmul(other, self)
    def __floordiv__(self, other): return ops.floor_divide(self, other)
    def __rfloordiv__(self, other): return ops.floor_divide(other, self)
    def __mod__(self, other): return ops.mod(self, other)
    def __neg__(self): return ops.negative(self)
    def __pos__(self): return self
    def __abs__(self): return ops.abs(self)
    def __eq__(self, other): return ops.equal(self, other)
    def __ne__(self, other): return ops.not_equal(self, other)
    def __lt__(self, other): return ops.less(self, other)
    def __le__(self, other): return ops.less_equal(self, other)
    def __gt__(self, other): return ops.greater(self, other)
    def __ge__(self, other): return ops.greater_equal(self, other)
    def __invert__(self): return ops.logical_not(self)
    def __and__(self, other): return ops.logical_and(self, other)
    def __or__(self, other): return ops.logical_or(self, other)
    def __getitem__(self, index): return ops.getitem(self, index)
    def __setitem__(self, index, value): ops.setitem(self, index, value)

    # -- methods: thin wrappers over ember.ops ------------------------------------------------------------------
    T = property(lambda self: ops.transpose(self))

    def reshape(self, *shape): return ops.reshape(self, shape[0] if len(shape) == 1 else shape)
    view = reshape
    def flatten(self, start_axis=0): return ops.flatten(self, start_axis)
    def permute(self, *axes): return ops.permute(self, axes[0] if len(axes) == 1 else axes)
    def expand(self, *shape): return ops.expand(self, shape[0] if len(shape) == 1 else shape)
    def squeeze(self, axis=None): return ops.squeeze(self, axis)
    def unsqueeze(self, axis): return ops.expand_dims(self, axis)

    def transpose(self, *axes):
        """NumPy's transpose (all axes, or a full permutation); two axes of a >2-D tensor swap them, as torch."""
        if len(axes) == 1 and isinstance(axes[0], (tuple, list)):
            axes = tuple(axes[0])
        if len(axes) == 2 and self.ndim != 2:
            return ops.swapaxes(self, *axes)
        return ops.transpose(self, axes or None)

    def sum(self, axis=None, keepdims=False): return ops.sum(self, axis, keepdims)
    def mean(self, axis=None, keepdims=False): return ops.mean(self, axis, keepdims)
    def max(self, axis=None, keepdims=False): return ops.max(self, axis, keepdims)
    def min(self, axis=None, keepdims=False): return ops.min(self, axis, keepdims)
    def var(self, axis=None, keepdims=False, ddof=0): return ops.var(self, axis, keepdims, ddof)
    def std(self, axis=None, keepdims=False, ddof=0): return ops.std(self, axis, keepdims, ddof)
    def argmax(self, axis=None, keepdims=False): return ops.argmax(self, axis, keepdims)
    def argmin(self, axis=None, keepdims=False): return ops.argmin(self, axis, keepdims)
    def any(self, axis=None, keepdims=False): return ops.any(self, axis, keepdims)
    def all(self, axis=None, keepdims=False): return ops.all(self, axis, keepdims)

    def exp(self): return ops.exp(self)
    def log(self): return ops.log(self)
    def sqrt(self): return ops.sqrt(self)
    def abs(self): return ops.abs(self)
    def clip(self, min=None, max=None): return ops.clip(self, min, max)
    clamp = clip
    def matmul(self, other): return ops.matmul(self, other)
    def relu(self): return ops.relu(self)
    def sigmoid(self): return ops.sigmoid(self)
    def tanh(self): return ops.tanh(self)
    def softmax(self, axis=-1): return ops.softmax(self, axis)
    def log_softmax(self, axis=-1): return ops.log_softmax(self, axis)


from . import ops  # noqa: E402  (ops builds on Tensor; imported last to break the cycle)
