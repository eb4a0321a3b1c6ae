"""The Layer contract, as Keras: `__init__` validates and stores, `build(input_shape)` makes weights on first
call, `call(inputs, training)` only computes, `get_config()` round-trips through `from_config`."""
import collections
import inspect
import re
import threading

import numpy as np

from .. import autograd, initializers, regularizers
from .. import device as _device
from ..tensor import Tensor

_name_counts = collections.Counter()
_BUILD_LOCK = threading.RLock()  # threads calling an unbuilt layer at once build it once (reentrant: nested builds)
LAYER_CLASSES = {}  # class name -> class, for from_config / load_model (filled by __init_subclass__)


def snake_case(name):
    name = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", name).lower()


def unique_name(base):
    count = _name_counts[base]
    _name_counts[base] += 1
    return base if count == 0 else f"{base}_{count}"


def invalid_argument(name, expected, value):
    """The Keras form of a bad-argument error."""
    return ValueError(f"Invalid value for argument `{name}`. Expected {expected}. Received: {name}={value!r}")


def shape_of(x):
    """The shape of a tensor/array, or a list of shapes for a list of them."""
    if isinstance(x, (list, tuple)):
        return [shape_of(item) for item in x]
    return tuple(x.shape)


def _float_dtype(dtype):
    """A layer computes in a floating dtype (its weights take gradients): float32 unless given."""
    try:
        value = np.dtype(dtype or "float32")
    except TypeError:
        value = None
    if value is None or value.kind != "f":
        raise invalid_argument("dtype", "a floating-point dtype such as 'float32' or 'float64'", dtype)
    return value


def as_tensor(x, dtype, device=None):
    """Tensors as they are; arrays, lists and numbers as new tensors (floats as `dtype`) on `device` (default: the
    CPU), where the layer's weights are: Keras-style calls pass NumPy data to a model on a GPU."""
    if isinstance(x, (list, tuple)):
        return [as_tensor(item, dtype, device) for item in x]
    if isinstance(x, Tensor):
        return x
    array = x if hasattr(x, "__cuda_array_interface__") else np.asarray(x)
    t = Tensor(array, dtype=dtype if array.dtype.kind == "f" else None)
    if device is not None and device != t.device:
        t = Tensor._wrap(_device.move(t._data, device))
    return t


class Layer:
    """Base of every layer and model. Subclasses override `build`, `call` and `get_config`.

    Masks (Keras semantics): a layer whose `call` takes `mask` receives the mask attached to its input tensor
    (or one passed as `mask=`); `compute_mask` gives the mask attached to its output (by default the input's,
    when the layer sets `supports_masking`, else none).
    """

    supports_masking = False
    _device = None  # where `to` put this layer; None: where its weights are, else the default device

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        LAYER_CLASSES[cls.__name__] = cls

    def __init__(self, trainable=True, name=None, dtype=None, input_shape=None, input_dim=None, **kwargs):
        if kwargs:
            raise TypeError(f"Unrecognized keyword arguments passed to {type(self).__name__}: {kwargs}")
        object.__setattr__(self, "_layers", [])
        if name is not None and not isinstance(name, str):
            raise invalid_argument("name", "a string", name)
        self.name = name or unique_name(snake_case(type(self).__name__))
        self.trainable = bool(trainable)
        self.dtype = _float_dtype(dtype)
        self.built = False
        self._weights = []            # own weights in creation order
        self._frozen = set()          # ids of own weights that never train (e.g. moving statistics)
        self._regularized = []        # (weight, regularizer)
        if input_dim is not None:
            input_shape = (input_dim,)
        self._input_shape_arg = tuple(input_shape) if input_shape is not None else None
        self._input_rank = None       # (ndim, layout) once check_rank has seen an input
        self.output_shape = None

    def __setattr__(self, name, value):
        # sublayers assigned as attributes (or lists of them) are tracked, as in Keras and torch.nn.Module
        candidates = value if isinstance(value, (list, tuple)) else [value]
        for item in candidates:
            if isinstance(item, Layer) and item is not self and all(item is not l for l in self._layers):
                self._layers.append(item)
        object.__setattr__(self, name, value)

    # -- weights --------------------------------------------------------------------------------------------------
    def add_weight(self, name, shape, initializer="glorot_uniform", trainable=True, regularizer=None, dtype=None):
        dtype = np.dtype(dtype or self.dtype)
        shape = tuple(int(n) for n in shape)
        value = np.asarray(initializers.get(initializer)(shape, dtype), dtype=dtype).reshape(shape)
        if self._device is None:  # built now: on the default device, and it stays this layer's device
            self._device = _device.get_device()
        value = _device.move(value, self._device)  # initializers draw on the host: one seed, one value anywhere
        weight = Tensor(value, dtype=dtype, requires_grad=trainable and self.trainable, name=f"{self.name}/{name}")
        self._weights.append(weight)
        if not trainable:
            self._frozen.add(id(weight))
        if regularizer is not None:
            self._regularized.append((weight, regularizers.get(regularizer)))
        return weight

    @property
    def trainable_weights(self):
        if not self.trainable:
            return []
        own = [w for w in self._weights if id(w) not in self._frozen]
        return own + [w for layer in self._layers for w in layer.trainable_weights]

    @property
    def non_trainable_weights(self):
        trainable = {id(w) for w in self.trainable_weights}
        return [w for w in self.weights if id(w) not in trainable]

    @property
    def weights(self):
        seen, out = set(), []
        for w in self._weights + [w for layer in self._layers for w in layer.weights]:
            if id(w) not in seen:  # a layer shared by two parents counts once
                seen.add(id(w))
                out.append(w)
        return out

    @property
    def trainable(self):
        return self.__dict__.get("_trainable_flag", True)

    @trainable.setter
    def trainable(self, value):
        """Freezing a layer stops its weights' gradients (moving statistics never train anyway)."""
        self.__dict__["_trainable_flag"] = bool(value)
        for w in self.__dict__.get("_weights", []):
            w._requires_grad = bool(value) and id(w) not in self._frozen
        for layer in self.__dict__.get("_layers", []):
            layer.trainable = value

    def parameters(self):
        """The trainable weights, for `optimizer = Adam(model.parameters())` (the PyTorch way)."""
        return list(self.trainable_weights)

    def zero_grad(self):
        for w in self.weights:
            w.grad = None

    def get_weights(self):
        """The weights as NumPy arrays, in Keras order (Dense: kernel (in, out), bias; Conv2D: HWIO kernel, bias)."""
        return [w.numpy().copy() for w in self.weights]

    def set_weights(self, weights):
        current = self.weights
        if len(weights) != len(current):
            raise ValueError(f"Layer {self.name!r} expected {len(current)} weights, received {len(weights)} "
                             f"(shapes expected: {[w.shape for w in current]})")
        for w, value in zip(current, weights):
            value = np.asarray(value)
            if value.shape != w.shape:
                raise ValueError(f"Layer {self.name!r} weight {w.name!r} has shape {w.shape}; received a value of "
                                 f"shape {value.shape}")
            w._data = _device.move(value.astype(w.dtype), w.device)

    # -- device ---------------------------------------------------------------------------------------------------
    @property
    def device(self):
        """Where this layer computes: where `to` put it, else where its (or its sublayers') weights are, else the
        default device (`ember.set_device`). NumPy inputs are moved there."""
        if self._device is not None:
            return self._device
        for layer in self._self_and_sublayers():
            if layer._weights:
                return layer._weights[0].device
        return _device.get_device()

    def _self_and_sublayers(self):
        """This layer, then its sublayers depth first, each once: a generator, so that `device` stops at the first
        layer with weights (every call of a model on NumPy data asks)."""
        seen, stack = set(), [self]
        while stack:
            layer = stack.pop()
            if id(layer) not in seen:
                seen.add(id(layer))
                yield layer
                stack.extend(reversed(layer._layers))

    def _adopt_device(self, inputs):
        """A layer built by its first call, with no device chosen (`to`), builds where its input tensor is: a GPU
        tensor into a new layer gives it GPU weights, as NumPy data into a model on the GPU goes to the GPU."""
        if self._device is None:
            first = inputs[0] if isinstance(inputs, (list, tuple)) and inputs else inputs
            if isinstance(first, Tensor):
                for layer in self._self_and_sublayers():  # a container's build builds its unbuilt layers
                    if layer._device is None and not layer.built:
                        layer._device = first.device

    def to(self, device):
        """Move the weights (and their gradients) of this layer and its sublayers to `device` ("cpu", "cuda",
        "cuda:1"), in place: the weight tensors stay the same objects, so an optimizer holding them keeps working
        (its state follows on its next step). Weights built later are made there too. Returns the layer."""
        name = _device.parse(device)
        _device.require(name, f"{type(self).__name__}.to")
        for layer in self._self_and_sublayers():
            layer._device = name
            for w in layer._weights:
                w._data = _device.move(w._data, name)
                if w.grad is not None:
                    w.grad._data = _device.move(w.grad._data, name)
        return self

    def cuda(self, device=0):
        """`to("cuda:<device>")`."""
        return self.to(f"cuda:{device}" if isinstance(device, int) else device)

    def cpu(self):
        return self.to("cpu")

    def count_params(self):
        return int(sum(w.size for w in self.weights))

    @property
    def losses(self):
        """Regularization penalties of this layer and its sublayers (added to the training loss by fit)."""
        return [reg(w) for layer in self._self_and_sublayers() for w, reg in layer._regularized]

    # -- calling --------------------------------------------------------------------------------------------------
    def build(self, input_shape):
        self.built = True

    def call(self, inputs, training=None):
        raise NotImplementedError(f"{type(self).__name__}.call is not implemented")

    def __call__(self, inputs, training=None, **kwargs):
        if not isinstance(inputs, Tensor):  # a Tensor (every call of a training step) is not symbolic
            from ..models.functional import SymbolicTensor, call_symbolic

            if any(isinstance(x, SymbolicTensor) for x in (inputs if isinstance(inputs, (list, tuple)) else [inputs])):
                return call_symbolic(self, inputs, kwargs)
            inputs = as_tensor(inputs, self.dtype, self.device)
        try:
            if not self.built:
                with _BUILD_LOCK:
                    if not self.built:  # another thread may have built it while this one waited
                        self._adopt_device(inputs)
                        self.build(shape_of(inputs))
                        self.built = True
            elif getattr(self, "_input_rank", None) is not None and isinstance(inputs, Tensor):
                if inputs._data.ndim != self._input_rank[0]:  # the rank build checked holds for every call
                    self.check_rank(inputs.shape, *self._input_rank)
            takes = _CALL_ARGS.get(type(self)) or _call_arguments(type(self))
            if "training" in takes:
                kwargs["training"] = training
            mask = kwargs.pop("mask", None) if kwargs else None
            if mask is None:
                mask = inputs._keras_mask if type(inputs) is Tensor else _mask_of(inputs)
            if mask is not None and "mask" in takes:
                kwargs["mask"] = mask
            out = self.call(inputs, **kwargs)
        except (ValueError, TypeError) as error:
            raise in_layer(self, inputs, error) from None
        if isinstance(out, Tensor):
            object.__setattr__(self, "output_shape", (None,) + out.shape[1:])  # a shape, no sublayer to track
            out._keras_mask = self.compute_mask(inputs, mask)
        return out

    def compute_mask(self, inputs, mask=None):
        return mask if self.supports_masking else None

    def compute_output_shape(self, input_shape):
        """Output shape for an input shape (batch dimension may be None), found by running a batch of one."""
        nested = isinstance(input_shape[0], (tuple, list))

        def dummy(shape):
            return np.zeros(tuple(1 if n is None else n for n in shape), self.dtype)

        with autograd.no_grad():
            out = self([dummy(s) for s in input_shape] if nested else dummy(input_shape))
        batch = input_shape[0][0] if nested else input_shape[0]
        return (batch,) + tuple(out.shape[1:])

    def check_rank(self, input_shape, ndim, layout):
        self._input_rank = (ndim, layout)
        if len(input_shape) != ndim:
            raise ValueError(f"Input 0 of layer {self.name!r} is incompatible with the layer: expected ndim={ndim} "
                             f"({layout}), found ndim={len(input_shape)}. Full shape received: {tuple(input_shape)}")

    # -- config ---------------------------------------------------------------------------------------------------
    def get_config(self):
        config = {"name": self.name, "trainable": self.trainable, "dtype": self.dtype.name}
        if self._input_shape_arg is not None:
            config["input_shape"] = list(self._input_shape_arg)
        return config

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        return f"<{type(self).__name__} name={self.name}, built={self.built}>"


def in_layer(layer, inputs, error):
    """An error from building or calling `layer`, naming the layer and the shapes it was called on (Keras'
    "Exception encountered when calling ..."), unless the message names this layer already. Errors from inner
    layers nest, as Keras': the model's name, then the layer's that raised."""
    message = str(error)
    if type(error) not in (ValueError, TypeError) or re.search(rf"\b[Ll]ayer {re.escape(repr(layer.name))}", message):
        return error
    named = type(error)(f"Exception encountered when calling layer {layer.name!r} ({type(layer).__name__}) on "
                        f"input shape {shape_of(inputs)}: {message}")
    return named.with_traceback(error.__traceback__)


_CALL_ARGS = {}


def _call_arguments(cls):
    """The names `cls.call` takes ("training", "mask", ...); cached per class."""
    if cls not in _CALL_ARGS:
        _CALL_ARGS[cls] = frozenset(inspect.signature(cls.call).parameters)
    return _CALL_ARGS[cls]


def _accepts(cls, argument):
    """Whether `cls.call` takes `argument` ("training", "mask")."""
    return argument in _call_arguments(cls)


def _mask_of(inputs):
    if isinstance(inputs, (list, tuple)):
        masks = [getattr(x, "_keras_mask", None) for x in inputs]
        return None if all(m is None for m in masks) else masks
    return getattr(inputs, "_keras_mask", None)
