"""Activations and softmax, on the native activation kernels (forward and backward)."""
import numpy as np

from ._util import empty_result, kernels, normalize_axes, record, require_float, tensor_of, wrap


def _activation(name, x, alpha=0.0):
    x = tensor_of(name, x)
    require_float(name, x)
    backend, shape = kernels(x), x.shape
    # reshaped back: the native backend's ascontiguousarray makes a 0-d array 1-d
    out = wrap(backend.activation_forward(name, x._data, alpha).reshape(shape))
    y = out._data  # the array, not `out`: a closure holding the tensor would make a cycle out -> node -> out
    return record(name, out, [x],
                  lambda g: [backend.activation_backward(name, x._data, y, g, alpha).reshape(shape)])


def relu(x):
    """max(x, 0); the gradient at 0 is 0; NaN stays NaN."""
    return _activation("relu", x)


def leaky_relu(x, negative_slope=0.2):
    """x for x > 0, negative_slope * x otherwise (Keras' default slope 0.2)."""
    return _activation("leaky_relu", x, float(negative_slope))


def elu(x, alpha=1.0):
    """x for x > 0, alpha * (exp(x) - 1) otherwise."""
    return _activation("elu", x, float(alpha))


def sigmoid(x):
    return _activation("sigmoid", x)


def tanh(x):
    return _activation("tanh", x)


BIAS_ACTIVATIONS = (None, "relu", "leaky_relu", "sigmoid", "tanh")


def check_bias_activation(op, channels, bias, activation, alpha, owner):
    """Validates a fused bias (a Tensor of shape (channels,), or None), activation and slope; returns alpha."""
    if activation not in BIAS_ACTIVATIONS:
        raise ValueError(f"{op}: invalid value for argument `activation`. Expected one of {list(BIAS_ACTIVATIONS)}. "
                         f"Received: activation={activation!r}")
    alpha = float(alpha)
    if not alpha >= 0:
        raise ValueError(f"{op}: invalid value for argument `alpha`. Expected a slope >= 0 (the gradient is read "
                         f"from the output). Received: alpha={alpha}")
    if bias is not None and bias.shape != (channels,):
        raise ValueError(f"{op}: {owner} and bias {bias.shape}: expected bias ({channels},), one value per channel "
                         f"of the last axis")
    return alpha


def bias_activation(x, bias=None, activation=None, alpha=0.0):
    """activation(x + bias) as one op, `bias` along the last axis: what a Dense or Conv2D layer does after its
    product, in one pass over memory and one graph node (instead of an add and an activation). `activation`: None
    (the identity), "relu", "leaky_relu" (slope `alpha` >= 0), "sigmoid" or "tanh": the activations whose gradient
    follows from the output, so no pre-activation array is kept."""
    name = "bias_activation"
    x = tensor_of(name, x)
    tensors = [x] if bias is None else [x, tensor_of(name, bias)]
    require_float(name, *tensors)
    if bias is not None and x.ndim == 0:
        raise ValueError(f"{name}: input {x.shape} and bias {tensors[1].shape}: expected bias an input of rank >= 1, "
                         f"one value per channel of the last axis")
    alpha = check_bias_activation(name, x.shape[-1] if x.ndim else 0, tensors[1] if bias is not None else None,
                                  activation, alpha, f"input {x.shape}")
    backend = kernels(x)
    b = None if bias is None else tensors[1]
    out = wrap(backend.bias_activation_forward(x._data, None if b is None else b._data, activation, alpha)
               .reshape(x.shape))
    y = out._data  # not `out` (a reference cycle, see _activation)

    def backward(g):
        gx, gb = backend.bias_activation_backward(activation, y, g, alpha, b is not None)
        return [gx.reshape(x.shape)] + ([] if b is None else [gb])

    return record(name, out, tensors, backward)


def _softmax_family(name, x, axis):
    x = tensor_of(name, x)
    require_float(name, x)
    (ax,) = normalize_axes(name, axis, x.ndim, x.shape)
    if x.size == 0:
        return empty_result(name, x.shape, [x])  # as torch; the reference's max has no identity for empty rows
    backend = kernels(x)
    forward = getattr(backend, f"{name}_forward")
    backward = getattr(backend, f"{name}_backward")
    out = wrap(forward(x._data, ax))
    y = out._data  # not `out` (a reference cycle, see _activation)
    return record(name, out, [x], lambda g: [backward(y, g, ax)])


def softmax(x, axis=-1):
    """exp(x) / sum(exp(x)) along `axis`, computed stably (the maximum is subtracted first)."""
    return _softmax_family("softmax", x, axis)


def log_softmax(x, axis=-1):
    """x - logsumexp(x) along `axis`, finite for logits of any size."""
    return _softmax_family("log_softmax", x, axis)


def gelu(x, approximate=False):
    """Gaussian error linear unit; `approximate=True` is the tanh form. Composite: autograd gives its gradient."""
    x = tensor_of("gelu", x)
    require_float("gelu", x)  # erf below computes in the input's dtype: an integer one would truncate it
    if approximate:
        inner = (x + 0.044715 * x * x * x) * float(np.sqrt(2.0 / np.pi))
        return 0.5 * x * (1.0 + tanh(inner))
    return 0.5 * x * (1.0 + erf(x * float(1.0 / np.sqrt(2.0))))


def erf(x):
    """The error function, elementwise through math.erf (NumPy has none); d/dx erf = 2/sqrt(pi) exp(-x^2)."""
    from math import erf as scalar_erf

    x = tensor_of("erf", x)
    require_float("erf", x)
    if x.device == "cpu":
        values = np.vectorize(scalar_erf, otypes=[x.dtype])(x._data)
    else:
        from cupyx.scipy.special import erf as device_erf  # CuPy's elementwise kernel

        values = device_erf(x._data)
    out = wrap(values)
    data, xp = x._data, x._xp
    return record("erf", out, [x], lambda g: [g * (2.0 / np.sqrt(np.pi)) * xp.exp(-data * data)])
