"""Gradient clipping: Keras's three optimizer arguments (on arrays, returning new ones) and torch's in-place
`clip_grad_norm_` / `clip_grad_value_` on parameters' `.grad`."""
import math

import numpy as np

from .. import device as _device
from ..tensor import Tensor


def _sum_of_squares(g):
    xp = _device.array_module(g)
    return float(xp.sum(xp.square(g)))


def clip_by_value(grads, clipvalue):
    """Each gradient clipped elementwise to [-clipvalue, clipvalue] (Keras `clipvalue`)."""
    return [_device.array_module(g).clip(g, -clipvalue, clipvalue) for g in grads]


def clip_by_norm(grads, clipnorm):
    """Each gradient scaled by `clipnorm / max(norm(g), clipnorm)`: its own L2 norm at most `clipnorm`
    (Keras `clipnorm`)."""
    clipped = []
    for g in grads:
        norm = math.sqrt(_sum_of_squares(g))
        clipped.append(g * (clipnorm / norm) if norm > clipnorm else g)
    return clipped


def global_norm(grads):
    """The L2 norm of all gradients joined into one vector."""
    return math.sqrt(sum(_sum_of_squares(g) for g in grads))


def clip_by_global_norm(grads, clipnorm):
    """All gradients scaled by `clipnorm / max(global_norm, clipnorm)` (Keras `global_clipnorm`); a non-finite
    global norm makes every gradient NaN, as Keras does, so the failure shows instead of a silent skip."""
    norm = global_norm(grads)
    if not math.isfinite(norm):
        return [g * math.nan for g in grads]
    if norm <= clipnorm:
        return list(grads)
    return [g * (clipnorm / norm) for g in grads]


def _with_grads(params):
    if isinstance(params, Tensor):
        params = [params]
    return [p for p in params if p.grad is not None]


def clip_grad_norm(params, max_norm, norm_type=2.0, error_if_nonfinite=False):
    """torch's `clip_grad_norm_`: scale every `p.grad` in place by `max_norm / (total_norm + 1e-6)` when that is
    below 1, where `total_norm` is the `norm_type` norm of all gradients joined. Returns `total_norm` as a 0-d
    tensor. A NaN or infinite norm raises RuntimeError when `error_if_nonfinite` (otherwise the grads are
    scaled by it, as torch does)."""
    params = _with_grads(params)
    max_norm, norm_type = float(max_norm), float(norm_type)
    if not params:
        return Tensor(0.0)
    grads = [p.grad._data for p in params]
    xp = _device.array_module(grads[0])
    if norm_type == math.inf:
        # np.max, not Python's max: max(2.0, nan) is 2.0, which would hide a NaN gradient after the first one
        total = float(np.max([float(xp.max(xp.abs(g))) if g.size else 0.0 for g in grads]))
    else:
        total = sum(float(xp.sum(xp.abs(g) ** norm_type)) for g in grads) ** (1.0 / norm_type)
    if error_if_nonfinite and not math.isfinite(total):
        raise RuntimeError(f"The total norm of order {norm_type} for gradients from `parameters` is non-finite, so "
                           f"it cannot be clipped. To disable this error and scale the gradients by the non-finite "
                           f"norm anyway, set `error_if_nonfinite=False`")
    coef = max_norm / (total + 1e-6)
    if not coef >= 1.0:  # NaN scales too, as in torch
        for p in params:
            p.grad._data *= coef
    return Tensor(xp.asarray(total, dtype=grads[0].dtype), dtype=grads[0].dtype)


def clip_grad_value(params, clip_value):
    """torch's `clip_grad_value_`: clip every `p.grad` in place to [-clip_value, clip_value]."""
    clip_value = float(clip_value)
    for p in _with_grads(params):
        g = p.grad._data  # reassigned, not clipped with out=: a 0-d gradient may be a NumPy scalar
        p.grad._data = _device.array_module(g).clip(g, -clip_value, clip_value)


clip_grad_norm_ = clip_grad_norm
clip_grad_value_ = clip_grad_value
