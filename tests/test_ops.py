"""Every op in the op table, on every backend: forward against the NumPy reference (float32 and float64,
contiguous and not), float64 finite-difference gradients, NaN propagation and bad inputs."""
import zlib

import numpy as np
import pytest

import ember
from ember.testing import KINDS, OPS, ForeignDeviceArray, gradcheck

# The native backend is part of every install (pip builds ember._C), so it is never skipped here:
# a missing extension fails these tests instead of hiding them.
BACKENDS = ("reference", "cpu")


def _samples(info):
    return info.samples(np.random.default_rng(zlib.crc32(info.name.encode())))


def _cases(select=lambda info: True, first_only=False):
    for info in OPS:
        if not select(info):
            continue
        backends = BACKENDS if info.kernel else ("reference",)  # non-kernel ops run on NumPy whatever the backend
        samples = _samples(info)[:1] if first_only else _samples(info)
        for backend in backends:
            for i, sample in enumerate(samples):
                yield pytest.param(info, backend, sample, id=f"{info.name}-{backend}-{i}")


def _is_float_array(a):
    return isinstance(a, np.ndarray) and a.dtype.kind == "f"


def _contiguous(a):
    return np.array(a, order="C")


def _tensors(args, dtype, layout=_contiguous):
    return [ember.Tensor._wrap(layout(a.astype(dtype))) if _is_float_array(a) else a for a in args]


def _rounded(args, dtype):
    """The arrays as `dtype` would hold them, in float64: the reference then sees the same inputs."""
    return [a.astype(dtype).astype(np.float64) if _is_float_array(a) else a for a in args]


def _non_contiguous(a):
    """The same values in a strided view (every other element of a larger buffer)."""
    if a.ndim == 0 or a.size == 0:
        return a
    buffer = np.zeros(a.shape[:-1] + (2 * a.shape[-1],), a.dtype)
    view = buffer[..., ::2]
    view[...] = a
    return view


def _check_close(out, expected, info, dtype):
    out, expected = out.numpy(), np.asarray(expected)
    assert out.shape == expected.shape, f"{info.name}: shape {out.shape}, reference {expected.shape}"
    if expected.dtype.kind != "f":
        np.testing.assert_array_equal(out, expected)
        return
    assert out.dtype == dtype, f"{info.name}: computed in {out.dtype}, expected {dtype}"
    scale = max(1.0, float(np.max(np.abs(expected[np.isfinite(expected)]), initial=0.0)))
    rtol, atol = (info.rtol, info.atol * scale) if dtype == np.float32 else (1e-10, 1e-10 * scale)
    np.testing.assert_allclose(out, expected, rtol=rtol, atol=atol)


@pytest.mark.parametrize("info, backend, sample", list(_cases()))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_forward_matches_reference(info, backend, sample, dtype):
    expected = info.reference(*_rounded(sample.args, dtype), **sample.kwargs)
    with ember.use_backend(backend):
        out = info.op(*_tensors(sample.args, dtype), **sample.kwargs)
    _check_close(out, expected, info, dtype)


@pytest.mark.parametrize("info, backend, sample", list(_cases(lambda info: info.kernel)))
def test_forward_on_non_contiguous_inputs(info, backend, sample):
    expected = info.reference(*_rounded(sample.args, np.float32), **sample.kwargs)
    with ember.use_backend(backend):
        out = info.op(*_tensors(sample.args, np.float32, _non_contiguous), **sample.kwargs)
    _check_close(out, expected, info, np.float32)


@pytest.mark.parametrize("info, backend, sample", list(_cases(lambda info: info.differentiable)))
def test_gradient_matches_finite_differences(info, backend, sample):
    with ember.use_backend(backend):
        gradcheck(lambda *inputs: info.op(*inputs, **sample.kwargs), list(sample.args),
                  atol=info.grad_atol, rtol=info.grad_rtol)


@pytest.mark.parametrize("info, backend, sample", list(_cases(lambda info: info.propagates_nan, first_only=True)))
def test_nan_passes_through(info, backend, sample):
    args = [a.copy() if _is_float_array(a) else a for a in sample.args]
    first = next(a for a in args if _is_float_array(a))
    first.reshape(-1)[0] = np.nan
    expected = info.reference(*args, **sample.kwargs)
    with ember.use_backend(backend):
        out = info.op(*_tensors(args, np.float32), **sample.kwargs).numpy()
    assert np.isnan(out).any(), f"{info.name} hid a NaN input"
    np.testing.assert_array_equal(np.isnan(out), np.isnan(expected))


def _error_cases():
    for info in OPS:
        for backend in BACKENDS if info.kernel else ("reference",):
            for i, case in enumerate(info.errors):
                yield pytest.param(info, backend, case, id=f"{info.name}-{backend}-{i}")


def _error_input(a):
    """Float arrays as float32 tensors; other arrays (int, bool, complex) and foreign-device arrays as tensors of
    their own; lists, scalars and None as they are (ops take those too)."""
    if _is_float_array(a):
        return ember.Tensor._wrap(a.astype(np.float32))
    if isinstance(a, (np.ndarray, ForeignDeviceArray)):
        return ember.Tensor._wrap(a)
    return a


@pytest.mark.parametrize("info, backend, case", list(_error_cases()))
def test_bad_input_raises_a_clear_error(info, backend, case):
    inputs = [_error_input(a) for a in case.args]
    with ember.use_backend(backend), pytest.raises(case.error, match=case.match):
        info.op(*inputs, **case.kwargs)


RAW_OPERANDS = [  # operands that are no tensor at all, passed as they are: lists, object arrays, device arrays
    ("add", lambda: ember.ops.add(ember.tensor(np.ones((2, 3))), ["a", "b", "c"]), TypeError,
     r"add: unsupported dtype <U1 \(shapes \(2, 3\) and \(3,\)\)"),
    ("exp", lambda: ember.ops.exp(np.array([1.0, None], dtype=object)), TypeError,
     r"exp: unsupported dtype object \(shape \(2,\)\)"),
    ("relu", lambda: ember.ops.relu([["a", "b"]]), TypeError, r"relu: unsupported dtype <U1 \(shape \(1, 2\)\)"),
    ("sum", lambda: ember.ops.sum(ForeignDeviceArray((2, 3))), RuntimeError,
     r"sum: the tensor of shape \(2, 3\) is on cuda:0, but ember cannot compute on cuda:0"),
    ("matmul", lambda: ember.ops.matmul(ember.tensor(np.ones((2, 3))), ForeignDeviceArray((3, 4))), RuntimeError,
     r"matmul: expected all tensors on one device, got cpu \(shape \(2, 3\)\) and cuda:0 \(shape \(3, 4\)\)"),
    ("conv2d", lambda: ember.ops.conv2d(ForeignDeviceArray((1, 4, 4, 1)), np.ones((3, 3, 1, 1), np.float32)),
     RuntimeError, r"conv2d: expected all tensors on one device, got cuda:0 \(shape \(1, 4, 4, 1\)\) and cpu"),
    ("lstm", lambda: ember.ops.lstm([["a"]], None, None, np.ones((1, 4)), np.ones((1, 4))), TypeError,
     r"lstm: unsupported dtype <U1 \(shapes \(1, 1\) and \(1, 4\) and \(1, 4\)\)"),
]


@pytest.mark.parametrize("call, error, match", [case[1:] for case in RAW_OPERANDS], ids=[c[0] for c in RAW_OPERANDS])
def test_raw_operands_of_the_wrong_kind_raise_a_clear_error(call, error, match):
    with pytest.raises(error, match=match):
        call()


@pytest.mark.parametrize("info", OPS, ids=[info.name for info in OPS])
def test_every_op_has_an_error_case_of_each_kind(info):
    kinds = {case.kind for case in info.errors}
    assert kinds <= set(KINDS) | {"argument"}, f"{info.name}: unknown kinds {kinds - set(KINDS) - {'argument'}}"
    assert set(KINDS) <= kinds, f"{info.name} has no error case of kind {sorted(set(KINDS) - kinds)}"


@pytest.mark.parametrize("info", OPS, ids=[info.name for info in OPS])
def test_error_messages_name_the_op_and_the_shapes(info):
    for case in info.errors:
        assert case.match.startswith(f"{info.name}: "), f"{info.name}: {case.match!r} does not name the op first"
        if case.kind != "argument":
            assert r"\(" in case.match, f"{info.name}: {case.match!r} names no shape"


def test_every_op_has_samples_and_a_reference():
    for info in OPS:
        assert _samples(info), info.name
        assert callable(info.reference), info.name


def test_every_kernel_op_has_bad_inputs_and_a_bench_entry():
    for info in OPS:
        if info.kernel:
            assert info.errors, f"{info.name} has no bad-input cases"
            assert info.bench, f"{info.name} has no bench shapes"
