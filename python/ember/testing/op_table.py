"""The op table: one entry per op drives the forward, gradient, error and bench runs.

An entry (OpInfo) holds the ember op, an independent NumPy reference of its forward, sample inputs (float64
NumPy arrays; tests cast them to float32 where they compare in float32), bad inputs with the exception they
must raise (one of each kind: rank, shape, dtype, device; op_table_errors.py), a hypothesis strategy of valid
inputs of any size (op_table_strategies.py), tolerances and bench shapes. Adding an op means adding an entry
here (or in op_table_nn.py, op_table_shape.py, op_table_rnn.py).
"""
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

import numpy as np

import ember
from ember import ops

from .op_table_errors import (ErrorCase, axis_out_of_range, binary_errors, esc, mixed_devices, on_device,
                              on_other_device, ragged_errors, single_input_errors, unsupported_dtype)


@dataclass
class Sample:
    args: tuple
    kwargs: dict = field(default_factory=dict)
    error: Optional[str] = None   # property tests: the op must raise ValueError matching this (an input torch refuses)

    def __repr__(self):
        shapes = ", ".join(str(np.shape(a)) if isinstance(a, np.ndarray) else repr(a) for a in self.args)
        return f"({shapes}){'' if not self.kwargs else ' ' + str(_short(self.kwargs))}"


def _short(kwargs):
    return {k: (np.shape(v) if isinstance(v, np.ndarray) else v) for k, v in kwargs.items()}


@dataclass
class OpInfo:
    name: str
    op: Callable                      # ember op, called with Tensors in place of the float arrays
    reference: Callable               # NumPy forward, called with the arrays
    samples: Callable                 # rng -> [Sample]
    errors: list = field(default_factory=list)   # [ErrorCase]: at least one of each kind in op_table_errors.KINDS
    differentiable: bool = True
    kernel: bool = False              # runs on a native kernel: checked on every backend
    propagates_nan: bool = True       # a NaN in the first input shows up in the output
    rtol: float = 1e-5                # float32 forward against the float64 reference
    atol: float = 1e-5
    grad_atol: float = 1e-6           # float64 gradcheck
    grad_rtol: float = 1e-5
    bench: list = field(default_factory=list)   # [(label, Sample of input shapes)] at realistic sizes
    flops: Optional[Callable] = None  # Sample -> floating-point operations of one forward
    bytes: Optional[Callable] = None  # Sample -> bytes one forward reads and writes (default: inputs, twice)
    bench_backward: bool = False      # the bench also times forward + backward (sum of the output)
    note: Any = None
    strategy: Optional[Callable] = None  # () -> hypothesis strategy of Samples of any size (see `strategy` below)


def strategy(name, **kwargs):
    """An OpInfo.strategy: op_table_strategies.<name>(**kwargs), imported only when called (hypothesis is a test
    dependency, not a run-time one)."""
    def make():
        from . import op_table_strategies

        return getattr(op_table_strategies, name)(**kwargs)

    make.__name__ = name
    return make


# -- sample makers --------------------------------------------------------------------------------------------
def normal(rng, *shape):
    return np.asarray(rng.standard_normal(shape))


def away_from_zero(rng, *shape, gap=0.1):
    """Random values with |x| >= gap, so kinks at 0 stay farther than any finite-difference step."""
    u = rng.standard_normal(shape)
    return np.asarray(np.sign(u + (u == 0)) * (gap + np.abs(u)))


def positive(rng, *shape):
    return np.asarray(0.5 + np.abs(rng.standard_normal(shape)))


BROADCAST_PAIRS = [((3, 4), (3, 4)), ((2, 1, 5), (4, 1)), ((1,), (7,)), ((), (3,)), ((5, 1), (1, 6))]


def _random_broadcast_pair(rng):
    """A random shape and a broadcast-compatible partner (some axes 1, some leading axes dropped)."""
    a = tuple(int(n) for n in rng.integers(1, 6, size=int(rng.integers(1, 4))))
    b = tuple(1 if rng.random() < 0.4 else n for n in a)[int(rng.integers(0, len(a))):]
    return a, b


def binary_samples(make_a=normal, make_b=normal):
    def samples(rng):
        pairs = BROADCAST_PAIRS + [_random_broadcast_pair(rng), _random_broadcast_pair(rng)[::-1]]
        return [Sample((make_a(rng, *sa), make_b(rng, *sb))) for sa, sb in pairs]

    return samples


def unary_samples(make=normal, shapes=((3, 4), (1,), (2, 3, 5), ())):
    return lambda rng: [Sample((make(rng, *s),)) for s in shapes] + [
        Sample((make(rng, *(int(n) for n in rng.integers(1, 8, size=3))),))]


def _safe_binary(a, b):
    """Break exact ties so max/min gradients are taken away from their kinks."""
    b = b + 0.25 * (np.abs(a - b) < 0.1)
    return a, b


def _tie_free_binary(rng):
    return [Sample(_safe_binary(*s.args)) for s in binary_samples()(rng)]


def _binary(name, fn, np_fn, samples=None, **kw):
    return OpInfo(name, fn, np_fn, samples or binary_samples(), errors=binary_errors(name) + kw.pop("errors", []),
                  strategy=strategy("broadcasting"), **kw)


def _unary(name, fn, np_fn, make=normal, **kw):
    return OpInfo(name, fn, np_fn, unary_samples(make), errors=single_input_errors(name) + kw.pop("errors", []),
                  strategy=strategy("unary"), **kw)


def _axes_samples(rng):
    x = normal(rng, 3, 4, 5)
    return [Sample((x,), {}), Sample((x,), {"axis": 1}), Sample((x,), {"axis": (0, 2), "keepdims": True}),
            Sample((x,), {"axis": -1, "keepdims": False}), Sample((normal(rng, 6),), {"axis": 0}),
            Sample((normal(rng, 1, 1),), {"axis": None, "keepdims": True})]


def _single_axis_samples(rng):
    return [s for s in _axes_samples(rng) if not isinstance(s.kwargs.get("axis"), tuple)]


def _spread_samples(rng):
    return [s for s in _axes_samples(rng) if s.args[0].size > 1]


def _reduction(name, fn, np_fn, samples=_axes_samples, errors=None, hypothesis=None, **kw):
    """Rank: an axis the tensor lacks; shape: a ragged list (an empty axis for the ops with no identity)."""
    errors = [axis_out_of_range(name)] + (errors or ragged_errors(name)[1:]) + [
        unsupported_dtype(name, (2, 3)), on_other_device(name, (2, 3))]
    return OpInfo(name, lambda x, **k: fn(x, **k), lambda x, **k: np_fn(x, **k), samples, errors=errors,
                  strategy=hypothesis or strategy("reduction"), **kw)


def _empty_axis(name, shape, kwargs, axis):
    """As torch: max/min over an axis of size 0 have no value (other empty axes just stay empty)."""
    return ErrorCase((np.ones(shape),), kwargs, ValueError,
                     rf"{name}: cannot reduce an empty tensor of shape {esc(shape)} over axis {axis} \(size 0\)", "shape")


def _tie_free(rng):
    # distinct values: max/min gradients are checked away from ties
    return [Sample((rng.permutation(60).reshape(3, 4, 5) * 0.1 + 0.01 * normal(rng, 3, 4, 5),), s.kwargs)
            for s in _axes_samples(rng) if s.args[0].shape == (3, 4, 5)]


def _softplus_reference(x):
    with np.errstate(invalid="ignore"):  # logaddexp warns on NaN input; the NaN test feeds it one
        return np.logaddexp(0.0, x)


MATH_OPS = [
    _binary("add", ops.add, np.add),
    _binary("subtract", ops.subtract, np.subtract, errors=[  # as torch: x - y of bools is refused (use xor)
        ErrorCase((np.ones(3, bool), np.ones(3, bool)), {}, TypeError,
                  r"subtract: numpy boolean subtract.* is not supported.*\(shapes \(3,\) and \(3,\)\)", "dtype")]),
    _binary("multiply", ops.multiply, np.multiply),
    _binary("divide", ops.divide, np.divide, binary_samples(normal, lambda r, *s: away_from_zero(r, *s, gap=0.5))),
    _binary("power", ops.power, np.power, binary_samples(positive, normal), rtol=1e-4, errors=[
        ErrorCase((np.arange(3), -np.ones(3, np.int64)), {}, ValueError,
                  r"power: Integers to negative integer powers are not allowed.*\(shapes \(3,\) and \(3,\)\)", "dtype")]),
    _binary("maximum", ops.maximum, np.maximum, _tie_free_binary),
    _binary("minimum", ops.minimum, np.minimum, _tie_free_binary),
    _unary("negative", ops.negative, np.negative, errors=[
        ErrorCase((np.ones(3, bool),), {}, TypeError, r"negative: .*boolean negative.* is not supported.*\(shape \(3,\)\)",
                  "dtype")]),
    _unary("abs", ops.abs, np.abs, away_from_zero),
    _unary("exp", ops.exp, np.exp),
    _unary("log", ops.log, np.log, positive),
    _unary("log1p", ops.log1p, np.log1p, lambda rng, *s: np.asarray(positive(rng, *s) - 0.9)),
    OpInfo("softplus", ops.softplus, _softplus_reference,
           lambda rng: unary_samples()(rng) + [Sample((np.array([-1e4, -50.0, -1.0, 0.0, 1.0, 50.0, 1e4]),))],
           errors=single_input_errors("softplus"), strategy=strategy("unary")),
    _unary("sqrt", ops.sqrt, np.sqrt, positive),
    _unary("square", ops.square, np.square),
    OpInfo("clip", lambda x, **k: ops.clip(x, **k), lambda x, **k: np.clip(x, k.get("min"), k.get("max")),
           lambda rng: [Sample((np.linspace(-2, 2, 12).reshape(3, 4) + 0.05,), {"min": -1.0, "max": 1.0}),
                        Sample((normal(rng, 5),), {"min": 0.0})],
           errors=[ErrorCase((np.ones(3),), {}, ValueError, r"clip: at least one of `min` and `max`"),
                   # a bound may broadcast over the input, not grow it
                   ErrorCase((np.ones(3),), {"min": np.zeros((2, 3))}, ValueError,
                             r"clip: `min` of shape \(2, 3\) does not broadcast to the input's shape \(3,\)", "rank"),
                   ErrorCase((np.ones((2, 3)),), {"max": np.ones(4)}, ValueError,
                             r"clip: `max` of shape \(4,\) does not broadcast to the input's shape \(2, 3\)", "shape"),
                   unsupported_dtype("clip", (2, 3), kwargs={"min": 0.0}),
                   mixed_devices("clip", (np.ones(3),), {"min": on_device((3,))})],
           strategy=strategy("clip")),
    OpInfo("where", lambda c, a, b: ops.where(c, a, b), np.where,
           lambda rng: [Sample((normal(rng, 3, 4) > 0, normal(rng, 3, 4), normal(rng, 4))),
                        Sample((np.array([True, False, True]), normal(rng, 2, 3), normal(rng, 1)))],
           errors=[ErrorCase((np.ones(4) > 0, np.ones((4, 3)), np.ones((4, 3))), {}, ValueError,
                             r"where: cannot broadcast shapes \(4,\) and \(4, 3\) and \(4, 3\)", "rank"),
                   ErrorCase((np.ones((2, 3)) > 0, np.ones((4,)), np.ones((2, 3))), {}, ValueError,
                             r"where: cannot broadcast shapes \(2, 3\) and \(4,\)", "shape"),
                   ErrorCase((np.ones((2, 3)) > 0, np.ones((2, 3), complex), np.ones((2, 3))), {}, TypeError,
                             r"where: unsupported dtype complex128 \(shapes \(2, 3\) and \(2, 3\) and \(2, 3\)\)", "dtype"),
                   mixed_devices("where", (np.ones((2, 3)) > 0, np.ones((2, 3)), on_device((2, 3))))],
           strategy=strategy("broadcasting", n=3, condition=True),
           propagates_nan=False),
    _binary("less", ops.less, np.less, differentiable=False, propagates_nan=False),
    _binary("greater_equal", ops.greater_equal, np.greater_equal, differentiable=False, propagates_nan=False),
    _binary("equal", ops.equal, np.equal, differentiable=False, propagates_nan=False),
    _reduction("sum", ops.sum, np.sum),
    _reduction("mean", ops.mean, np.mean),
    _reduction("max", ops.max, np.max, _tie_free, errors=[_empty_axis("max", (0, 3), {}, 0)],
               hypothesis=strategy("reduction", extremum="max")),
    _reduction("min", ops.min, np.min, _tie_free, errors=[_empty_axis("min", (2, 0), {"axis": 1}, 1)],
               hypothesis=strategy("reduction", extremum="min")),
    _reduction("var", ops.var, np.var),
    _reduction("std", ops.std, np.std, _spread_samples),  # sqrt has no derivative at a zero spread
    _reduction("argmax", ops.argmax, np.argmax, _single_axis_samples, differentiable=False, propagates_nan=False,
               errors=[ErrorCase((np.ones((2, 0)),), {"axis": 1}, ValueError,
                                 r"argmax: cannot take argmax over axis 1 of size 0 \(tensor of shape \(2, 0\)\)", "shape")],
               hypothesis=strategy("reduction", many=False, index="argmax")),
    _reduction("argmin", ops.argmin, np.argmin, _single_axis_samples, differentiable=False, propagates_nan=False,
               errors=[ErrorCase((np.ones((0,)),), {}, ValueError,
                                 r"argmin: cannot take argmin of an empty tensor of shape \(0,\)", "shape")],
               hypothesis=strategy("reduction", many=False, index="argmin")),
]
