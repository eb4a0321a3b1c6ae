"""Matrix product with NumPy's matmul semantics (1-D promotion, broadcast batch dims), on the GEMM kernels; and dense,
the product with a bias and an activation as one op."""
import math

import numpy as np

from ._util import (check_broadcast, check_inputs, checked_once, host_signature, kernels, record, require_float,
                    tensor_of, unbroadcast, wrap)
from .activation import check_bias_activation


def matmul(a, b):
    a, b = tensor_of("matmul", a), tensor_of("matmul", b)
    check_inputs("matmul", a, b)
    if a.ndim == 0 or b.ndim == 0:
        raise ValueError(f"matmul: operands must have at least 1 dimension, got shapes {a.shape} and {b.shape}")
    k_a = a.shape[-1]
    k_b = b.shape[0] if b.ndim == 1 else b.shape[-2]
    if k_a != k_b:
        raise ValueError(f"matmul: shapes {a.shape} and {b.shape} are not aligned: expected the last dimension "
                         f"of the first ({k_a}) to equal the {'only' if b.ndim == 1 else 'second-to-last'} "
                         f"dimension of the second ({k_b})")
    check_broadcast("matmul", a.shape[:-2], b.shape[:-2])
    if a.dtype != b.dtype:
        common = np.result_type(a.dtype, b.dtype)
        a, b = a.astype(common), b.astype(common)
    # 1-D operands become matrices and the added axis is dropped again, as in NumPy
    a2 = a.reshape(1, k_a) if a.ndim == 1 else a
    b2 = b.reshape(k_b, 1) if b.ndim == 1 else b
    out = _matmul_nd(a2, b2)
    if b.ndim == 1:
        out = out.reshape(out.shape[:-1])
    if a.ndim == 1:
        row_axis = out.ndim - (2 if b.ndim > 1 else 1)
        out = out.reshape(out.shape[:row_axis] + out.shape[row_axis + 1:])
    return out


def _matmul_nd(a, b):
    backend = kernels(a)
    da, db = a._data, b._data
    out = wrap(backend.matmul(da, db))

    def backward(g):
        ga = unbroadcast(backend.matmul(g, db.swapaxes(-1, -2)), da.shape) if a.requires_grad else None
        gb = unbroadcast(backend.matmul(da.swapaxes(-1, -2), g), db.shape) if b.requires_grad else None
        return [ga, gb]

    return record("matmul", out, [a, b], backward)


def dense(x, kernel, bias=None, activation=None, alpha=0.0):
    """activation(x @ kernel + bias) as one op, what a Dense layer computes: x (..., K), kernel (K, N), bias (N,) or
    None, `activation` as bias_activation takes it (None, "relu", "leaky_relu" with slope `alpha`, "sigmoid",
    "tanh"). One graph node and one set of checks for the product, the bias and the activation (a training step
    repeats them for every layer); the leading axes of x are one batch for the GEMM."""
    name = "dense"
    x, kernel = tensor_of(name, x), tensor_of(name, kernel)
    b = None if bias is None else tensor_of(name, bias)
    alpha = checked_once(_dense_checks, host_signature((x, kernel, b), activation, alpha), x, kernel, b, activation,
                         alpha)
    inputs = [x, kernel] + ([] if b is None else [b])
    backend = kernels(x)
    rows = x._data.reshape(math.prod(x.shape[:-1]), x.shape[-1])  # not -1: K may be 0
    z = backend.matmul(rows, kernel._data)
    y = z if b is None and activation is None else backend.bias_activation_forward(
        z, None if b is None else b._data, activation, alpha)
    out = wrap(y.reshape(x.shape[:-1] + (kernel.shape[1],)))

    def backward(g):
        g = g.reshape(y.shape)
        gb = None
        if b is not None or activation is not None:
            g, gb = backend.bias_activation_backward(activation, y, g, alpha, b is not None)
        gx = backend.matmul(g, kernel._data.T).reshape(x.shape) if x.requires_grad else None
        gk = backend.matmul(rows.T, g) if kernel.requires_grad else None
        return [gx, gk] + ([] if b is None else [gb])

    return record(name, out, inputs, backward)


def _dense_checks(x, kernel, b, activation, alpha):
    """Validates a dense call; returns alpha."""
    require_float("dense", x, kernel, *([] if b is None else [b]))
    if x.ndim < 1 or kernel.ndim != 2:
        raise ValueError(f"dense: expected x of rank >= 1 (..., K) and a kernel of rank 2 (K, N), got shapes "
                         f"{x.shape} and {kernel.shape}")
    if x.shape[-1] != kernel.shape[0]:
        raise ValueError(f"dense: shapes {x.shape} and {kernel.shape} are not aligned: expected the last dimension "
                         f"of x ({x.shape[-1]}) to equal the kernel's first ({kernel.shape[0]})")
    return check_bias_activation("dense", kernel.shape[1], b, activation, alpha, f"kernel {kernel.shape}")
