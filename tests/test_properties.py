"""Property tests: every op in the op table, on every backend it runs on, against its NumPy reference for inputs
hypothesis draws (OpInfo.strategy: any valid size, size-0 and size-1 dimensions, broadcasting, non-contiguous
and negative-stride views, huge, subnormal, infinite and NaN values).

Forward: the same shape, the same NaN and infinity pattern (a NaN or inf in the input is propagated, not
hidden) and float32-close finite values. Differentiable ops: backward runs and gives each input a gradient of its
shape; for kernel ops, the native backend's gradients match the reference backend's on finite inputs.

100 examples per op and backend by default (tests/conftest.py); `HYPOTHESIS_PROFILE=slow` runs 1000.
"""
import warnings

import numpy as np
import pytest
from hypothesis import find, given, settings

import ember
from ember.testing import OPS

BACKENDS = ("reference", "cpu")

# ops whose float32 rounding error grows with the sum of |terms| (a reduction or a dot product), not with the
# result: their tolerance is scaled by the reference evaluated on |inputs|, the textbook error bound
LINEAR = {"sum", "mean", "matmul", "conv2d", "conv2d_transpose", "avg_pool2d"}
# ops that multiply inputs together before summing: a scalar scale of max|input| squared
QUADRATIC = {"var", "simple_rnn", "lstm", "gru"}


def _backends(info):
    return BACKENDS if info.kernel else ("reference",)


def _is_float(a):
    return isinstance(a, np.ndarray) and a.dtype.kind == "f"


def _quiet(fn, *args, **kwargs):
    """Overflow to inf, 0/0 and empty means are part of the properties checked: no warnings about them."""
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(*args, **kwargs)


def _reference(info, sample, dtype):
    args = [a.astype(dtype) if _is_float(a) else a for a in sample.args]
    kwargs = {k: v.astype(dtype) if _is_float(v) else v for k, v in sample.kwargs.items()}
    return np.asarray(_quiet(info.reference, *args, **kwargs))


def _mismatch(actual, expected, rtol, atol):
    """Why `actual` is not `expected` (None when it is): shapes, the NaN pattern, the infinities, then the finite
    values within rtol * |expected| + atol (atol a scalar or one bound per element)."""
    if actual.shape != expected.shape:
        return f"shape {actual.shape}, reference {expected.shape}"
    if expected.dtype.kind != "f":
        return None if np.array_equal(actual, expected) else f"values differ:\n{actual}\nreference\n{expected}"
    if actual.dtype != np.float32:
        return f"dtype {actual.dtype}, expected float32"
    expected = _quiet(expected.astype, np.float32)
    nan = np.isnan(expected)
    if not np.array_equal(np.isnan(actual), nan):
        return f"NaN at {np.argwhere(np.isnan(actual) != nan)[:5].tolist()}: got {actual[np.isnan(actual) != nan][:5]}, " \
               f"reference {expected[np.isnan(actual) != nan][:5]}"
    inf = np.isinf(expected)
    if not np.array_equal(np.isinf(actual), inf) or not np.array_equal(actual[inf], expected[inf]):
        return f"infinities differ: got {actual[inf | np.isinf(actual)][:5]}, reference {expected[inf | np.isinf(actual)][:5]}"
    finite = ~(nan | inf)
    atol = np.broadcast_to(atol, expected.shape)[finite] if np.ndim(atol) else atol
    error = np.abs(actual[finite].astype(np.float64) - expected[finite])
    bad = error > rtol * np.abs(expected[finite]) + atol
    if bad.any():
        return f"{bad.sum()} values differ, worst by {error.max():.3g}: got {actual[finite][bad][:5]}, " \
               f"reference {expected[finite][bad][:5]}"
    return None


def _tolerance(info, sample, expected):
    """atol for the float32 result: the op table's, scaled by the size of the numbers involved."""
    if info.name in LINEAR:
        magnitudes = [np.abs(a) if _is_float(a) else a for a in sample.args]
        bound = np.abs(np.asarray(_quiet(info.reference, *magnitudes, **sample.kwargs), dtype=np.float64))
        return info.atol * np.where(np.isfinite(bound), np.maximum(bound, 1.0), np.inf)
    finite = [np.abs(a[np.isfinite(a)]) for a in [expected] + list(sample.args) if _is_float(a)]
    largest = max([1.0] + [float(f.max()) for f in finite if f.size])
    return info.atol * (largest ** 2 if info.name in QUADRATIC else largest)


def _inputs(sample, requires_grad=False):
    """Float arrays become tensors over the very arrays (their strides kept); the rest passes as it is."""
    inputs = []
    for a in sample.args:
        if _is_float(a):
            a = ember.Tensor._wrap(a)
            a.requires_grad = requires_grad
        inputs.append(a)
    return inputs


def _check_forward(info, sample, backend):
    with ember.use_backend(backend):
        if sample.error:
            with pytest.raises(ValueError, match=sample.error):
                _quiet(info.op, *_inputs(sample), **sample.kwargs)
            return
        out = _quiet(info.op, *_inputs(sample), **sample.kwargs).numpy()
    expected = _reference(info, sample, np.float64)
    rtol = max(info.rtol, 1e-5)
    why = _mismatch(out, expected, rtol, _tolerance(info, sample, expected))
    if why:  # float32 rounding inside the op (an overflow of an intermediate): NumPy's float32 answer is fine too
        expected32 = _reference(info, sample, np.float32)
        if _mismatch(out, expected32, rtol, _tolerance(info, sample, expected32)):
            raise AssertionError(f"{info.name} on {backend}, {sample}: {why}")


def _gradients(info, sample, backend):
    inputs = _inputs(sample, requires_grad=True)
    with ember.use_backend(backend):
        out = _quiet(info.op, *inputs, **sample.kwargs)
        _quiet(out.backward, np.ones(out.shape, out.dtype))
    tensors = [t for t in inputs if isinstance(t, ember.Tensor)]
    for t in tensors:
        assert t.grad is not None and t.grad.shape == t.shape and t.grad.dtype == t.dtype, \
            f"{info.name} on {backend}, {sample}: gradient {None if t.grad is None else t.grad.shape} for {t.shape}"
    return [t.grad.numpy() for t in tensors]


def _moderate(sample):
    """Finite inputs of moderate size: where two backends' gradients can be compared at all (with weights of 1e30,
    an ulp of a saturated activation's derivative becomes 1e23)."""
    return all(np.isfinite(a).all() and np.abs(a).max(initial=0.0) <= 1e3 for a in sample.args if _is_float(a))


def _check_backward(info, sample):
    grads = {backend: _gradients(info, sample, backend) for backend in _backends(info)}
    if len(grads) == 1 or not _moderate(sample):
        return
    for native, spec in zip(grads["cpu"], grads["reference"]):
        if np.isfinite(spec).all():
            scale = max(1.0, float(np.abs(spec).max(initial=0.0)))
            np.testing.assert_allclose(native, spec, rtol=1e-3, atol=1e-4 * scale,
                                       err_msg=f"{info.name} gradient, cpu against reference, {sample}")


COVERAGE = ("size 0", "size 1", "non-contiguous", "negative strides", "inf or NaN", "huge", "subnormal")


def _kinds(sample):
    """Which of COVERAGE the drawn input exercises: every op's run must have met each at least once."""
    arrays = [a for a in sample.args if _is_float(a)]
    return [("size 0", any(a.size == 0 for a in arrays)), ("size 1", any(1 in a.shape for a in arrays)),
            ("non-contiguous", any(not a.flags.c_contiguous for a in arrays)),
            ("negative strides", any(min(a.strides, default=0) < 0 for a in arrays)),
            ("inf or NaN", any(not np.isfinite(a).all() for a in arrays)),
            ("huge", any((np.abs(a[np.isfinite(a)]) >= 1e15).any() for a in arrays)),
            ("subnormal", any(((a != 0) & (np.abs(a) < np.finfo(np.float32).tiny)).any() for a in arrays))]


@pytest.mark.parametrize("info", OPS, ids=[info.name for info in OPS])
def test_op_matches_its_reference_on_drawn_inputs(info):
    runs = dict.fromkeys(_backends(info), 0)

    seen = dict.fromkeys(COVERAGE, 0)

    @given(sample=info.strategy())
    def check(sample):
        for kind, present in _kinds(sample):
            seen[kind] += present
        for backend in runs:
            _check_forward(info, sample, backend)
            runs[backend] += 1
        if info.differentiable and not sample.error:
            _check_backward(info, sample)

    check()
    assert min(runs.values()) >= settings().max_examples, f"{info.name}: examples per backend {runs}"
    # The draws of one derandomized seed differ between environments (hypothesis release, NumPy): a kind the 100
    # draws missed is searched for (hypothesis.find) and that input checked too, so every kind is always tested.
    for kind in [k for k, n in seen.items() if not n]:
        sample = find(info.strategy(), lambda s, kind=kind: dict(_kinds(s))[kind],
                      settings=settings(max_examples=5000, derandomize=True, database=None, deadline=None))
        for backend in runs:
            _check_forward(info, sample, backend)
        if info.differentiable and not sample.error:
            _check_backward(info, sample)
        seen[kind] += 1
    assert all(seen.values()), f"{info.name}: no example had {[k for k, n in seen.items() if not n]} ({seen})"


@pytest.mark.parametrize("backend", BACKENDS)
def test_tanh_saturates_to_exactly_one(backend):
    """tanh is exactly +-1 for |x| >= 10, inf included (the native kernel gave 1 - 2^-24 for every |x| > 9)."""
    x = np.array([10.0, 20.0, 1e30, np.inf], np.float32)
    with ember.use_backend(backend):
        y = ember.ops.tanh(ember.Tensor._wrap(np.concatenate([x, -x]))).numpy()
    np.testing.assert_array_equal(y, np.repeat([1.0, -1.0], x.size).astype(np.float32))


def test_batch_norm_on_an_empty_batch_keeps_the_moving_statistics():
    """As torch: a batch of no values has no statistics (they were NaN, and every later inference NaN too)."""
    mean, variance = ember.tensor([0.5, -1.0]), ember.tensor([2.0, 3.0])
    out = ember.ops.batch_norm(ember.tensor(np.zeros((0, 2), np.float32)), mean, variance, training=True)
    assert out.shape == (0, 2)
    np.testing.assert_array_equal(mean.numpy(), [0.5, -1.0])
    np.testing.assert_array_equal(variance.numpy(), [2.0, 3.0])


def test_every_op_has_a_strategy():
    assert [info.name for info in OPS if info.strategy is None] == []
