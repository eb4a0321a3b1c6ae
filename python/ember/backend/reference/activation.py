"""Elementwise activations: relu, leaky_relu, elu, sigmoid, tanh.

activation_backward takes x, y (the forward's output) and grad_y; each rule uses whichever of x
and y gives the more accurate derivative. NaN propagates through every forward. The derivative at
a kink follows PyTorch: relu'(0) = 0, leaky_relu'(0) = alpha, elu'(0) = alpha. So do the branch
tests, which decide where a NaN input's gradient goes: relu and elu pass grad_y through
(x <= 0 is false), leaky_relu scales it by alpha (x > 0 is false), sigmoid and tanh give NaN.
"""
import numpy as np

NAMES = ("relu", "leaky_relu", "elu", "sigmoid", "tanh")


def _sigmoid(x):
    # exp(-|x|) never overflows: for x >= 0 use 1 / (1 + e^-x), for x < 0 use e^x / (1 + e^x).
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e))


def activation_forward(name, x, alpha=0.0):
    a = x.dtype.type(alpha)  # keeps float32 in float32 whatever type alpha arrives as
    if name == "relu":
        y = np.where(x <= 0, 0, x)  # '<=' rather than '>' so that NaN falls through as NaN
    elif name == "leaky_relu":
        y = np.where(x > 0, x, a * x)
    elif name == "elu":
        # expm1 only of min(x, 0): accurate near 0 and no overflow for large positive x.
        y = np.where(x > 0, x, a * np.expm1(np.minimum(x, 0)))
    elif name == "sigmoid":
        y = _sigmoid(x)
    elif name == "tanh":
        y = np.tanh(x)
    else:
        raise ValueError(f"activation: unknown activation {name!r}. Expected one of {list(NAMES)}.")
    return y.astype(x.dtype, copy=False)


def activation_backward(name, x, y, grad_y, alpha=0.0):
    a = x.dtype.type(alpha)
    g = grad_y
    if name == "relu":
        gx = np.where(x <= 0, 0, g)  # as PyTorch: a NaN input passes its gradient through
    elif name == "leaky_relu":
        gx = np.where(x > 0, g, a * g)
    elif name == "elu":
        gx = np.where(x <= 0, g * (a * np.exp(np.minimum(x, 0))), g)
    elif name == "sigmoid":
        gx = g * (y * (1 - y))
    elif name == "tanh":
        gx = g * (1 - y * y)
    else:
        raise ValueError(f"activation: unknown activation {name!r}. Expected one of {list(NAMES)}.")
    return gx.astype(x.dtype, copy=False)


# Activations whose derivative follows from the output alone (with alpha >= 0 for leaky_relu: y > 0 exactly where
# x > 0, and a NaN output marks a NaN input), so that a fused bias + activation keeps no pre-activation array.
FROM_OUTPUT = ("relu", "leaky_relu", "sigmoid", "tanh")


def bias_activation_forward(x, bias, name, alpha=0.0):
    """act(x + bias) over the last axis: a layer's bias and activation. `bias` None adds nothing, `name` None
    applies no activation; `name` one of FROM_OUTPUT."""
    z = x + bias if bias is not None else x.copy()
    return activation_forward(name, z, alpha) if name is not None else z


def bias_activation_backward(name, y, grad_y, alpha=0.0, bias=True):
    """(grad_x, grad_bias or None) from the forward's output y: activation_backward's rules with y standing for x,
    exact for FROM_OUTPUT; grad_bias sums grad_x over every axis but the last."""
    gz = activation_backward(name, y, y, grad_y, alpha) if name is not None else grad_y.copy()
    return gz, (gz.sum(axis=tuple(range(gz.ndim - 1))) if bias else None)
