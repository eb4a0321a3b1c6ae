"""The functional API: `ember.Input(shape)` gives a symbolic tensor; calling layers on symbolic tensors
records a graph that `ember.Model(inputs, outputs)` replays on real data."""
import numpy as np

from .. import autograd


class SymbolicTensor:
    """A placeholder with a shape (batch dimension None) and the layer call that produces it."""

    def __init__(self, shape, dtype, layer=None, inputs=None, kwargs=None, name=None, index=None):
        self.shape = tuple(shape)
        self.dtype = np.dtype(dtype)
        self.layer, self.inputs, self.kwargs = layer, inputs, kwargs or {}
        self.name = name
        self.index = index  # position among the outputs of a multi-output layer call

    @property
    def ndim(self):
        return len(self.shape)

    def __repr__(self):
        source = f"input {self.name!r}" if self.layer is None else f"layer {self.layer.name!r}"
        return f"<SymbolicTensor shape={self.shape}, dtype={self.dtype}, from {source}>"


def Input(shape, batch_size=None, dtype="float32", name=None):
    """A model input of `shape` (without the batch dimension), as `keras.Input`."""
    if isinstance(shape, int):
        shape = (shape,)
    if not all(n is None or (isinstance(n, (int, np.integer)) and n > 0) for n in shape):
        raise ValueError(f"Invalid value for argument `shape`. Expected a tuple of positive ints (or None). "
                         f"Received: shape={shape!r}")
    from ..layers.base import snake_case, unique_name

    return SymbolicTensor((batch_size,) + tuple(shape), dtype, name=name or unique_name(snake_case("InputLayer")))


def _flatten(inputs):
    return list(inputs) if isinstance(inputs, (list, tuple)) else [inputs]


def symbols_in(obj):
    """The symbolic tensors inside nested lists, tuples and dicts (e.g. `initial_state=[h, c]`)."""
    if isinstance(obj, SymbolicTensor):
        return [obj]
    if isinstance(obj, (list, tuple)):
        return [s for item in obj for s in symbols_in(item)]
    if isinstance(obj, dict):
        return [s for item in obj.values() for s in symbols_in(item)]
    return []


def substitute(obj, replace):
    """`obj` with each symbolic tensor inside it replaced by `replace(symbol)`."""
    if isinstance(obj, SymbolicTensor):
        return replace(obj)
    if isinstance(obj, (list, tuple)):
        return type(obj)(substitute(item, replace) for item in obj)
    if isinstance(obj, dict):
        return {key: substitute(item, replace) for key, item in obj.items()}
    return obj


def _concrete(symbolic, fill=1):
    """Zeros standing in for a symbolic tensor: a batch of one, other unknown dimensions of size `fill`."""
    return np.zeros(tuple((1 if axis == 0 else fill) if n is None else n for axis, n in enumerate(symbolic.shape)),
                    symbolic.dtype)


# Stand-in sizes for unknown non-batch dimensions (Input((None, None, 3)), variable-length sequences): large
# enough for any usual kernel or pooling window, and two of them, so that the output dimensions that follow an
# unknown input dimension are found (they differ between the runs) and recorded as None.
_FILLS = (29, 31)


def _run_stand_in(layer, inputs, kwargs, fill):
    concrete = [_concrete(s, fill) for s in _flatten(inputs)]
    with autograd.no_grad():
        out = layer(concrete if isinstance(inputs, (list, tuple)) else concrete[0],
                    **substitute(kwargs, lambda s: _concrete(s, fill)))
    return out if isinstance(out, (list, tuple)) else [out], isinstance(out, (list, tuple))


def call_symbolic(layer, inputs, kwargs):
    """Run `layer` on stand-in data (this builds it and finds its output shape) and record the call."""
    symbols = _flatten(inputs) + symbols_in(kwargs)
    unknown = any(n is None for s in symbols for n in s.shape[1:])
    outputs, nested = _run_stand_in(layer, inputs, kwargs, _FILLS[0] if unknown else 1)
    shapes = [tuple(o.shape[1:]) for o in outputs]
    if unknown:
        again, _ = _run_stand_in(layer, inputs, kwargs, _FILLS[1])
        shapes = [tuple(n if n == m else None for n, m in zip(shape, o.shape[1:])) for shape, o in zip(shapes, again)]
    batch = _flatten(inputs)[0].shape[0]
    made = [SymbolicTensor((batch,) + shape, o.dtype, layer, inputs, kwargs, index=i if nested else None)
            for i, (shape, o) in enumerate(zip(shapes, outputs))]
    return made if nested else made[0]


class Graph:
    """The layer calls between `inputs` and `outputs`, in an order where each call follows its inputs."""

    def __init__(self, inputs, outputs):
        self.inputs, self.outputs = _flatten(inputs), _flatten(outputs)
        for s in self.inputs + self.outputs:
            if not isinstance(s, SymbolicTensor):
                raise TypeError(f"Model inputs and outputs must be symbolic tensors from ember.Input and layer "
                                f"calls; received {s!r}")
        self.calls = self._order()

    def _order(self):
        input_ids = {id(s) for s in self.inputs}
        order, seen, stack = [], set(), [(s, False) for s in reversed(self.outputs)]
        while stack:
            symbol, ready = stack.pop()
            if ready:
                order.append(symbol)
                continue
            if id(symbol) in seen or id(symbol) in input_ids:
                continue
            seen.add(id(symbol))
            if symbol.layer is None:
                raise ValueError(f"Graph disconnected: {symbol!r} is needed to compute the outputs but is not "
                                 f"among the model's inputs")
            stack.append((symbol, True))
            stack.extend((s, False) for s in reversed(_flatten(symbol.inputs) + symbols_in(symbol.kwargs)))
        return order

    def layers(self):
        unique = []
        for symbol in self.calls:
            if all(symbol.layer is not l for l in unique):
                unique.append(symbol.layer)
        return unique

    def run(self, inputs, training=None):
        values = dict(zip(map(id, self.inputs), _flatten(inputs)))
        done = {}  # a multi-output layer call runs once for all of its outputs
        for symbol in self.calls:
            if id(symbol) in values:
                continue
            key = (id(symbol.layer), tuple(map(id, _flatten(symbol.inputs) + symbols_in(symbol.kwargs))))
            if key not in done:
                args = [values[id(s)] for s in _flatten(symbol.inputs)]
                args = args if isinstance(symbol.inputs, (list, tuple)) else args[0]
                kwargs = substitute(symbol.kwargs, lambda s: values[id(s)])
                done[key] = symbol.layer(args, training=training, **kwargs)
            out = done[key]
            values[id(symbol)] = out if symbol.index is None else out[symbol.index]
        return [values[id(s)] for s in self.outputs]
