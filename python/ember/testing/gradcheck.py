"""Finite-difference gradient checks (central differences, float64), as PyTorch's gradcheck."""
import numpy as np

from .. import autograd
from ..tensor import Tensor


def numerical_gradients(fn, inputs, cotangent, wrt, eps=1e-6):
    """d/d(inputs[i]) of sum(fn(*inputs) * cotangent), by central differences, for each i in `wrt`."""
    grads = []
    for i in wrt:
        base = inputs[i]._data
        grad = np.zeros_like(base)
        flat, gflat = base.reshape(-1), grad.reshape(-1)
        for k in range(flat.size):
            saved = flat[k]
            flat[k] = saved + eps
            with autograd.no_grad():
                plus = float(np.sum(fn(*inputs)._data * cotangent))
            flat[k] = saved - eps
            with autograd.no_grad():
                minus = float(np.sum(fn(*inputs)._data * cotangent))
            flat[k] = saved
            gflat[k] = (plus - minus) / (2 * eps)
        grads.append(grad)
    return grads


def gradcheck(fn, arrays, wrt=None, eps=1e-6, atol=1e-5, rtol=1e-4, seed=0):
    """Compare autograd's gradients of `fn` with central differences; raises AssertionError on mismatch.

    `arrays` are float64 NumPy arrays (or other values passed through as they are); `wrt` lists the
    positions to differentiate (default: every float64 array). A random cotangent checks the whole Jacobian
    transposed against a vector, so each input costs two forward calls per element.
    """
    if wrt is None:
        wrt = [i for i, a in enumerate(arrays) if isinstance(a, np.ndarray) and a.dtype == np.float64]
    inputs = [Tensor._wrap(np.array(a, dtype=np.float64)) if i in wrt else a for i, a in enumerate(arrays)]
    for i in wrt:
        inputs[i].requires_grad = True
    out = fn(*inputs)
    cotangent = np.random.default_rng(seed).standard_normal(out.shape)
    out.backward(Tensor._wrap(cotangent))
    analytic = [inputs[i].grad._data if inputs[i].grad is not None else np.zeros(inputs[i].shape) for i in wrt]
    numeric = numerical_gradients(fn, inputs, cotangent, wrt, eps)
    for i, a, n in zip(wrt, analytic, numeric):
        if not np.allclose(a, n, atol=atol, rtol=rtol):
            worst = np.unravel_index(np.argmax(np.abs(a - n)), a.shape) if a.size else ()
            raise AssertionError(f"gradient of input {i} (shape {a.shape}) differs from finite differences: "
                                 f"max |analytic - numeric| = {np.max(np.abs(a - n)):.3e} at {worst} "
                                 f"(analytic {a[worst]:.6g}, numeric {n[worst]:.6g})")
    return True
