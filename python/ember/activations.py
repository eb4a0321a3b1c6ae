"""Activations by name, as Keras: `ember.activations.get("relu")` -> a function of a tensor."""
from . import ops


def linear(x):
    return x


def relu(x):
    return ops.relu(x)


def sigmoid(x):
    return ops.sigmoid(x)


def tanh(x):
    return ops.tanh(x)


def leaky_relu(x, negative_slope=0.2):
    return ops.leaky_relu(x, negative_slope)


def elu(x, alpha=1.0):
    return ops.elu(x, alpha)


def softmax(x, axis=-1):
    return ops.softmax(x, axis)


def log_softmax(x, axis=-1):
    return ops.log_softmax(x, axis)


def gelu(x, approximate=False):
    return ops.gelu(x, approximate)


def silu(x):
    return x * ops.sigmoid(x)


swish = silu

_BY_NAME = {f.__name__: f for f in (linear, relu, sigmoid, tanh, leaky_relu, elu, softmax, log_softmax, gelu, silu)}
_BY_NAME["swish"] = silu


# Activations that ops.bias_activation fuses with a layer's bias: (its name there, alpha).
_WITH_BIAS = {linear: (None, 0.0), relu: ("relu", 0.0), sigmoid: ("sigmoid", 0.0), tanh: ("tanh", 0.0),
              leaky_relu: ("leaky_relu", 0.2)}


def fusable_with_bias(activation):
    """Whether `activation` (as get() returns it) is elementwise and fused with a bias by `with_bias`."""
    return activation in _WITH_BIAS


def fused_args(x, bias, activation):
    """(name, alpha) for ops that fuse activation(x + bias) (ops.bias_activation, ops.conv2d), or None where the
    activation or the dtypes do not allow it."""
    fused = _WITH_BIAS.get(activation)
    if fused is not None and (bias is None or bias.dtype == x.dtype) and x.dtype.kind == "f":
        return fused
    return None


def with_bias(x, bias, activation):
    """activation(x + bias) (bias None: no bias), as a layer applies them after its product: one op
    (ops.bias_activation, one pass and one graph node) where the activation allows, else an add and a call."""
    fused = fused_args(x, bias, activation)
    if fused is not None:
        if fused[0] is None and bias is None:
            return x
        return ops.bias_activation(x, bias, *fused)
    if bias is not None and fused_args(x, bias, linear) is not None:  # softmax after a Dense: the bias still fused
        return activation(ops.bias_activation(x, bias))  # (one native pass; its gradient the bias's column sums)
    return activation(x if bias is None else x + bias)


def get(identifier):
    """A function from a name ("relu"), None (linear) or a callable."""
    if identifier is None:
        return linear
    if callable(identifier):
        return identifier
    if isinstance(identifier, str) and identifier in _BY_NAME:
        return _BY_NAME[identifier]
    raise ValueError(f"Invalid value for argument `activation`. Expected one of {sorted(_BY_NAME)} or a callable. "
                     f"Received: activation={identifier!r}")


def serialize(activation):
    for name, fn in _BY_NAME.items():
        if fn is activation:
            return name
    name = getattr(activation, "__name__", None)
    if name in _BY_NAME:
        return name
    raise ValueError(f"Cannot serialize activation {activation!r}: only named activations round-trip.")
