"""Elementwise math with NumPy broadcasting. Runs on the array module of its operands (NumPy or CuPy).

Each differentiable op gives, per operand, its gradient at the broadcast shape; `_binary` sums it back down.
"""
import numpy as np

from .. import device as _device
from ..tensor import as_dtype
from ._util import (Tensor, check_broadcast, check_inputs, data_of, record, shapes_text, tensor_of, tensors_in,
                    unbroadcast, wrap)


def _xp(*arrays):
    for a in arrays:
        if hasattr(a, "__cuda_array_interface__"):
            return _device.array_module(a)
    return np


def _compute(op, compute, xp, *arrays):
    """Run the ufunc; its own refusals (boolean subtract, integers to negative powers) then name the op."""
    try:
        return compute(xp, *arrays)
    except (TypeError, ValueError) as error:
        raise type(error)(f"{op}: {error} ({shapes_text(arrays)})") from None


def _binary(op, compute, a, b, grad_a=None, grad_b=None):
    da, db = data_of(a, op), data_of(b, op)
    check_inputs(op, da, db)
    sa, sb = np.shape(da), np.shape(db)
    if sa != sb:
        check_broadcast(op, sa, sb)
    out = wrap(_compute(op, compute, _xp(da, db), da, db))
    if grad_a is None:
        return out
    o = out._data  # the array, not the tensor: a closure holding `out` would make a cycle out -> node -> out

    def backward(g):
        ga = unbroadcast(grad_a(g, da, db, o), sa) if isinstance(a, Tensor) and a.requires_grad else None
        gb = unbroadcast(grad_b(g, da, db, o), sb) if isinstance(b, Tensor) and b.requires_grad else None
        return [grad for x, grad in ((a, ga), (b, gb)) if isinstance(x, Tensor)]

    return record(op, out, tensors_in(a, b), backward)


def _unary(op, compute, x, grad=None):
    x = tensor_of(op, x)
    check_inputs(op, x)
    dx = x._data
    out = wrap(_compute(op, compute, x._xp, dx))
    if grad is None:
        return out
    o = out._data  # not `out`: that would make a reference cycle (see _binary)
    return record(op, out, [x], lambda g: [grad(g, dx, o)])


def add(a, b):
    return _binary("add", lambda xp, x, y: xp.add(x, y), a, b, lambda g, x, y, o: g, lambda g, x, y, o: g)


def subtract(a, b):
    return _binary("subtract", lambda xp, x, y: xp.subtract(x, y), a, b, lambda g, x, y, o: g, lambda g, x, y, o: -g)


def multiply(a, b):
    return _binary("multiply", lambda xp, x, y: xp.multiply(x, y), a, b,
                   lambda g, x, y, o: g * y, lambda g, x, y, o: g * x)


def divide(a, b):
    return _binary("divide", lambda xp, x, y: xp.true_divide(x, y), a, b,
                   lambda g, x, y, o: g / y, lambda g, x, y, o: -g * o / y)


def _power_grad_exponent(g, x, y, out):
    # d(x**y)/dy = x**y * log(x), defined for x > 0; elsewhere taken as 0 (as torch does at x == 0)
    xp = _xp(x)
    safe = xp.where(xp.asarray(x) > 0, x, 1)
    return g * out * xp.log(safe)


def power(a, b):
    return _binary("power", lambda xp, x, y: xp.power(x, y), a, b,
                   lambda g, x, y, o: g * y * _xp(x).power(x, y - 1) if not _is_zero(y) else g * 0,
                   _power_grad_exponent)


def _is_zero(y):
    return np.ndim(y) == 0 and y == 0


def maximum(a, b):
    # ties split the gradient evenly, so the rule is symmetric and matches finite differences on average
    return _binary("maximum", lambda xp, x, y: xp.maximum(x, y), a, b,
                   lambda g, x, y, o: g * ((x > y) + 0.5 * (x == y)),
                   lambda g, x, y, o: g * ((y > x) + 0.5 * (x == y)))


def minimum(a, b):
    return _binary("minimum", lambda xp, x, y: xp.minimum(x, y), a, b,
                   lambda g, x, y, o: g * ((x < y) + 0.5 * (x == y)),
                   lambda g, x, y, o: g * ((y < x) + 0.5 * (x == y)))


def negative(x):
    return _unary("negative", lambda xp, v: xp.negative(v), x, lambda g, v, o: -g)


def abs(x):
    return _unary("abs", lambda xp, v: xp.abs(v), x, lambda g, v, o: g * _xp(v).sign(v))


def exp(x):
    return _unary("exp", lambda xp, v: xp.exp(v), x, lambda g, v, o: g * o)


def log(x):
    return _unary("log", lambda xp, v: xp.log(v), x, lambda g, v, o: g / v)


def log1p(x):
    """log(1 + x), accurate for small x."""
    return _unary("log1p", lambda xp, v: xp.log1p(v), x, lambda g, v, o: g / (1 + v))


def softplus(x):
    """log(1 + exp(x)) as max(x, 0) + log1p(exp(-|x|)): finite for any x; the gradient is sigmoid(x),
    taken as exp(x - softplus(x)) so it neither overflows nor loses the tail."""
    return _unary("softplus", lambda xp, v: xp.maximum(v, 0) + xp.log1p(xp.exp(-xp.abs(v))), x,
                  lambda g, v, o: g * _xp(v).exp(v - o))


def sqrt(x):
    return _unary("sqrt", lambda xp, v: xp.sqrt(v), x, lambda g, v, o: g / (2 * o))


def square(x):
    return _unary("square", lambda xp, v: xp.square(v), x, lambda g, v, o: 2 * g * v)


def _broadcasts_to(shape, target):
    try:
        return np.broadcast_shapes(shape, target) == tuple(target)
    except ValueError:
        return False


def clip(x, min=None, max=None):
    """Limit values to [min, max]; the gradient passes where the input lies inside (bounds included)."""
    if min is None and max is None:
        raise ValueError("clip: at least one of `min` and `max` must be given")
    x = tensor_of("clip", x)
    lo, hi = data_of(min, "clip") if min is not None else None, data_of(max, "clip") if max is not None else None
    check_inputs("clip", x, lo, hi)
    for name, bound in (("min", lo), ("max", hi)):
        # a bound may broadcast over the input but not grow it: the result (and its gradient) keep x's shape
        shape = np.shape(bound)
        if shape and not _broadcasts_to(shape, x.shape):
            raise ValueError(f"clip: `{name}` of shape {shape} does not broadcast to the input's shape {x.shape}")

    def inside(v):
        mask = np.ones_like(v, dtype=bool) if lo is None else (v >= lo)
        return mask if hi is None else mask & (v <= hi)

    return _unary("clip", lambda xp, v: xp.clip(v, lo, hi), x, lambda g, v, o: g * inside(v))


def where(condition, a, b):
    """`a` where `condition` holds, else `b` (broadcast); the gradient follows the branch taken."""
    cond = data_of(condition, "where")
    check_inputs("where", cond, data_of(a, "where"), data_of(b, "where"))
    cond = cond.astype(bool) if hasattr(cond, "astype") else bool(cond)
    check_broadcast("where", np.shape(cond), np.shape(data_of(a)), np.shape(data_of(b)))
    return _binary("where", lambda xp, x, y: xp.where(cond, x, y), a, b,
                   lambda g, x, y, o: _xp(g).where(cond, g, 0), lambda g, x, y, o: _xp(g).where(cond, 0, g))


def cast(x, dtype):
    """`x` as `dtype`; differentiable between floating dtypes (the gradient is cast back)."""
    dtype = as_dtype(dtype)
    if x.dtype == dtype:
        return x
    source = x.dtype
    out = wrap(x._data.astype(dtype))
    if dtype.kind != "f":
        return out
    return record("cast", out, [x], lambda g: [g.astype(source)])


def copy(x):
    return _unary("copy", lambda xp, v: v.copy(), x, lambda g, v, o: g)


def to_device(x, device):
    source = x.device
    out = wrap(_device.move(x._data, device))
    return record("to_device", out, [x], lambda g: [_device.move(g, source)])


# -- no gradient: comparisons, logic, integer division -----------------------------------------------------------
def _comparison(op, ufunc_name):
    def compare(a, b):
        return _binary(op, lambda xp, x, y: getattr(xp, ufunc_name)(x, y), a, b)

    compare.__name__ = op
    compare.__doc__ = f"Elementwise `{ufunc_name}` with broadcasting; a bool tensor, outside autograd."
    return compare


equal = _comparison("equal", "equal")
not_equal = _comparison("not_equal", "not_equal")
less = _comparison("less", "less")
less_equal = _comparison("less_equal", "less_equal")
greater = _comparison("greater", "greater")
greater_equal = _comparison("greater_equal", "greater_equal")
logical_and = _comparison("logical_and", "logical_and")
logical_or = _comparison("logical_or", "logical_or")
floor_divide = _comparison("floor_divide", "floor_divide")
mod = _comparison("mod", "mod")


def logical_not(x):
    return _unary("logical_not", lambda xp, v: xp.logical_not(v), x)


def sign(x):
    return _unary("sign", lambda xp, v: xp.sign(v), x)


def isnan(x):
    return _unary("isnan", lambda xp, v: xp.isnan(v), x)


def isfinite(x):
    return _unary("isfinite", lambda xp, v: xp.isfinite(v), x)
