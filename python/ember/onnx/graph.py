"""The ONNX graph under construction: nodes, initializers, unique names, and tensors that may be held in more than
one axis order.

ember computes images NHWC; ONNX's Conv and pooling read NCHW. Rather than wrap every convolution in a pair of
Transposes, a tensor (`Value`) keeps each layout it has been produced in, as a permutation of ember's axes: the
identity is ember's own layout, (0, 3, 1, 2) is NCHW for an NHWC tensor. A convolution asks for the NCHW form and
produces its output in NCHW; the BatchNormalization, ReLU or Add after it work in whatever form they find; a
Transpose is made only where a layer needs a form that does not exist yet (Flatten, Dense, the model's outputs),
and each form is made once.
"""
import numpy as np

from .. import activations


class ExportError(ValueError):
    """A model (or a layer in it) that ONNX export cannot represent; the message names the layer and its class."""


def identity(rank):
    return tuple(range(rank))


def inverse(perm):
    out = [0] * len(perm)
    for i, p in enumerate(perm):
        out[p] = i
    return tuple(out)


def channels_first(rank):
    """The permutation that takes a channels-last tensor of `rank` to channels-first (NHWC -> NCHW)."""
    return (0, rank - 1) + tuple(range(1, rank - 1))


class Value:
    """One ember tensor in the graph: `shape` in ember's layout (batch None), `forms` {perm: onnx name}, where the
    tensor named under perm p equals ember's tensor transposed by p (its axis i is ember's axis p[i])."""

    def __init__(self, name, shape, perm=None):
        self.shape = tuple(shape)
        self.forms = {tuple(perm) if perm is not None else identity(len(self.shape)): name}

    @property
    def rank(self):
        return len(self.shape)

    def shape_in(self, perm):
        return tuple(self.shape[p] for p in perm)


class GraphBuilder:
    def __init__(self, dtype):
        self.dtype = np.dtype(dtype)
        self.nodes, self.initializers, self._used = [], [], set()
        self._consts = {}  # requested name -> [(array, initializer name)]: a shared layer's weights are stored once

    # -- names ----------------------------------------------------------------------------------------------------
    def reserve(self, name):
        """A name no other tensor or node has yet: `name`, else `name_1`, `name_2`..."""
        candidate, n = name, 0
        while candidate in self._used:
            n += 1
            candidate = f"{name}_{n}"
        self._used.add(candidate)
        return candidate

    # -- constants and nodes --------------------------------------------------------------------------------------
    def const(self, name, array, dtype=None):
        """An initializer holding `array` (in the model's float dtype unless `dtype`); returns its name."""
        from onnx import numpy_helper

        array = np.ascontiguousarray(np.asarray(array, dtype=dtype or self.dtype))
        same_name = self._consts.setdefault(name, [])
        for other, existing in same_name:
            if other.shape == array.shape and other.dtype == array.dtype and np.array_equal(other, array):
                return existing
        unique = self.reserve(name)
        same_name.append((array, unique))
        self.initializers.append(numpy_helper.from_array(array, unique))
        return unique

    def ints(self, name, values):
        return self.const(name, np.asarray(values, dtype=np.int64).reshape(-1), np.int64)

    def node(self, op, inputs, name, outputs=1, **attrs):
        """Append one node; returns its output name (or the list of them when `outputs` > 1)."""
        from onnx import helper

        node_name = self.reserve(name)
        out = [self.reserve(f"{node_name}:{i}" if outputs > 1 else node_name) for i in range(outputs)]
        self.nodes.append(helper.make_node(op, list(inputs), out, name=node_name, **attrs))
        return out if outputs > 1 else out[0]

    # -- layouts --------------------------------------------------------------------------------------------------
    def form(self, value, perm=None):
        """The name of `value` laid out as `perm` of ember's axes (None: ember's own), transposing once if needed."""
        perm = identity(value.rank) if perm is None else tuple(perm)
        if perm not in value.forms:
            have, name = next(iter(value.forms.items()))  # any existing form: every one is a single Transpose away
            step = tuple(inverse(have)[p] for p in perm)
            value.forms[perm] = self.node("Transpose", [name], f"{name}/transpose", perm=list(step))
        return value.forms[perm]

    def some_form(self, value):
        """(perm, name) of a form `value` already has, preferring a permuted one (a conv stack keeps to NCHW)."""
        for perm, name in value.forms.items():
            if perm != identity(value.rank):
                return perm, name
        return next(iter(value.forms.items()))

    def common_form(self, values):
        """(perm, [names]): the values laid out alike, in a form the first already has where the ranks agree."""
        if len({v.rank for v in values}) > 1:
            return identity(values[0].rank), [self.form(v) for v in values]
        perm, _ = self.some_form(values[0])
        if not all(perm in v.forms for v in values):
            shared = [p for p in values[0].forms if all(p in v.forms for v in values)]
            perm = shared[0] if shared else perm
        return perm, [self.form(v, perm) for v in values]

    def elementwise(self, value, emit):
        """Apply `emit(name) -> name` (an op that does not care about axes) to a form `value` already has."""
        perm, name = self.some_form(value)
        return Value(emit(name), value.shape, perm)


# -- activations ----------------------------------------------------------------------------------------------------
def _gelu(g, x, scope):
    """0.5 x (1 + erf(x / sqrt 2)), ember's (exact) gelu; opset 17 has no Gelu op."""
    half, one = g.const(f"{scope}/half", 0.5), g.const(f"{scope}/one", 1.0)
    core = g.node("Erf", [g.node("Mul", [x, g.const(f"{scope}/k", 1 / np.sqrt(2))], f"{scope}/scaled")],
                  f"{scope}/erf")
    return g.node("Mul", [g.node("Mul", [x, half], f"{scope}/half_x"), g.node("Add", [core, one], f"{scope}/1p")],
                  f"{scope}/gelu")


def _pointwise(op, **attrs):
    return lambda g, x, scope: g.node(op, [x], f"{scope}/{op.lower()}", **attrs)


_POINTWISE = {
    activations.relu: _pointwise("Relu"),
    activations.sigmoid: _pointwise("Sigmoid"),
    activations.tanh: _pointwise("Tanh"),
    activations.elu: _pointwise("Elu", alpha=1.0),
    activations.leaky_relu: _pointwise("LeakyRelu", alpha=0.2),
    activations.gelu: _gelu,
    activations.silu: lambda g, x, scope: g.node("Mul", [x, g.node("Sigmoid", [x], f"{scope}/sigmoid")],
                                                 f"{scope}/silu"),
}
_ALONG_LAST_AXIS = {activations.softmax: "Softmax", activations.log_softmax: "LogSoftmax"}


def apply_activation(g, value, fn, layer):
    """`fn` (one of ember.activations) applied to `value`; softmax along ember's last axis."""
    if fn is activations.linear:
        return value
    scope = f"{layer.name}/{getattr(fn, '__name__', 'activation')}"
    if fn in _POINTWISE:
        return g.elementwise(value, lambda name: _POINTWISE[fn](g, name, scope))
    if fn in _ALONG_LAST_AXIS:
        perm, name = g.some_form(value)
        axis = inverse(perm)[value.rank - 1]
        return Value(g.node(_ALONG_LAST_AXIS[fn], [name], scope, axis=axis), value.shape, perm)
    known = sorted(activations.serialize(f) for f in [*_POINTWISE, *_ALONG_LAST_AXIS, activations.linear])
    raise ExportError(f"ONNX export: layer {layer.name!r} ({type(layer).__name__}) uses the activation {fn!r}, "
                      f"which has no ONNX form. Exportable activations: {known}")
